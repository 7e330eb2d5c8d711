package io.github.pgqueue.internal;

/**
 * Where pgqueue-core's package-private implementations of the bridges in this package register
 * themselves, and where pgqueue's other modules find them (the JDK's {@code SharedSecrets}
 * pattern). A bridge registers itself from its own static initialiser; a getter initialises it
 * first if nobody has yet, so callers never see null.
 *
 * <p>Unsupported for users, like everything in this package.
 */
public final class SharedSecrets {

  /** Core's implementation of {@link BenchAccess}; package-private in {@code io.github.pgqueue}. */
  private static final String BENCH_ACCESS_IMPL = "io.github.pgqueue.BenchBridge";

  private static volatile BenchAccess benchAccess;

  private SharedSecrets() {}

  /**
   * Registers core's {@link BenchAccess}; called once, by that implementation's initialiser.
   *
   * @param access the implementation
   * @throws IllegalStateException if one is registered already
   */
  public static synchronized void setBenchAccess(BenchAccess access) {
    if (benchAccess != null) {
      throw new IllegalStateException("BenchAccess is registered already");
    }
    benchAccess = access;
  }

  /**
   * Core's {@link BenchAccess}.
   *
   * @return the implementation
   */
  public static BenchAccess benchAccess() {
    BenchAccess access = benchAccess;
    if (access == null) {
      initialise(BENCH_ACCESS_IMPL);
      access = benchAccess;
    }
    return access;
  }

  /** Initialises a class of this module by name; its static initialiser registers it. */
  private static void initialise(String className) {
    try {
      Class.forName(className, true, SharedSecrets.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException("pgqueue-core is incomplete: " + className + " is missing", e);
    }
  }
}
