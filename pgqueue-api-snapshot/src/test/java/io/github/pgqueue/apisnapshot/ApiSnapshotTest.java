package io.github.pgqueue.apisnapshot;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every published module's public API, as compiled, against the snapshot checked in under {@code
 * api/}: so any change to a public signature is a visible diff in review. The snapshot lists the
 * packages the module exports (from its {@code module-info.class}), then, for every public type in
 * them, its declaration and supertypes with generics, and every public or protected constructor,
 * method and field with generic signatures and throws clauses.
 *
 * <p>After an intended API change, regenerate with {@code mvn -B verify -pl pgqueue-api-snapshot
 * -am -Dpgqueue.api.update=true} and commit the changed files.
 */
class ApiSnapshotTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "pgqueue-core, io.github.pgqueue.JobQueue",
    "pgqueue-cron, io.github.pgqueue.cron.CronScheduler",
    "pgqueue-cli, io.github.pgqueue.cli.PgQueueCli",
    "pgqueue-dashboard, io.github.pgqueue.dashboard.Dashboard",
    "pgqueue-micrometer, io.github.pgqueue.micrometer.PgQueueMetrics",
    "pgqueue-spring, io.github.pgqueue.spring.SpringPgQueue",
    "pgqueue-spring-boot-starter, io.github.pgqueue.spring.boot.PgQueueAutoConfiguration",
    "pgqueue-testing, io.github.pgqueue.testing.PgQueueTest",
    "pgqueue-testing-postgres, io.github.pgqueue.testing.postgres.TestPostgres",
    "pgqueue-opentelemetry, io.github.pgqueue.opentelemetry.PgQueueTracing",
  })
  void publicApiMatchesTheSnapshot(String module, String anchorClass) throws Exception {
    String actual = render(Class.forName(anchorClass));
    Path file = Path.of("api", module + ".txt");
    if (Boolean.getBoolean("pgqueue.api.update")) {
      Files.writeString(file, actual, StandardCharsets.UTF_8);
      return;
    }
    String expected = Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    if (!expected.equals(actual)) {
      fail("the public API of " + module + " differs from " + file.toAbsolutePath()
          + " (if intended, regenerate with -Dpgqueue.api.update=true and commit it):\n"
          + diff(expected, actual));
    }
  }

  /** The API of the module (jar or classes directory) that holds {@code anchor}. */
  static String render(Class<?> anchor) throws IOException, URISyntaxException, ClassNotFoundException {
    Path location = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
    try (FileSystem jar = Files.isDirectory(location) ? null : FileSystems.newFileSystem(location)) {
      Path root = jar == null ? location : jar.getPath("/");
      Set<String> exported = exportedPackages(root);
      List<String> lines = new ArrayList<>();
      lines.add("exports " + String.join(", ", exported));
      List<String> classNames;
      try (Stream<Path> files = Files.walk(root)) {
        classNames =
            files
                .map(p -> root.relativize(p).toString().replace('\\', '/'))
                .filter(n -> n.endsWith(".class") && !n.endsWith("module-info.class") && !n.endsWith("package-info.class"))
                .map(n -> n.substring(0, n.length() - ".class".length()).replace('/', '.'))
                .sorted()
                .collect(Collectors.toList());
      }
      for (String name : classNames) {
        String pkg = name.substring(0, name.lastIndexOf('.'));
        if (!exported.contains(pkg)) {
          continue;
        }
        Class<?> type = Class.forName(name, false, anchor.getClassLoader());
        if (visible(type)) {
          lines.addAll(describe(type));
        }
      }
      return String.join("\n", lines) + "\n";
    }
  }

  /** Packages named in module-info's exports (unqualified ones only); without module-info, every package but internal ones. */
  private static Set<String> exportedPackages(Path root) throws IOException {
    Path info = root.resolve("module-info.class");
    Set<String> packages = new TreeSet<>();
    if (Files.exists(info)) {
      try (InputStream in = Files.newInputStream(info)) {
        for (ModuleDescriptor.Exports e : ModuleDescriptor.read(in).exports()) {
          if (!e.isQualified()) {
            packages.add(e.source());
          }
        }
      }
      return packages;
    }
    try (Stream<Path> files = Files.walk(root)) {
      files
          .filter(p -> p.toString().endsWith(".class"))
          .map(p -> root.relativize(p.getParent()).toString().replace('\\', '/').replace('/', '.'))
          .filter(p -> !p.contains("internal"))
          .forEach(packages::add);
    }
    return packages;
  }

  /** Public top-level types, and public or protected members types of visible types. */
  private static boolean visible(Class<?> type) {
    if (type.isAnonymousClass() || type.isLocalClass() || type.isSynthetic()) {
      return false;
    }
    int m = type.getModifiers();
    Class<?> outer = type.getDeclaringClass();
    return outer == null ? Modifier.isPublic(m) : visible(outer) && exposed(m);
  }

  private static List<String> describe(Class<?> type) {
    List<String> out = new ArrayList<>();
    StringBuilder head = new StringBuilder(type.toGenericString());
    Type sup = type.getGenericSuperclass();
    if (sup != null && sup != Object.class && !type.isEnum() && !type.isRecord()) {
      head.append(" extends ").append(sup.getTypeName());
    }
    Type[] ifaces = type.getGenericInterfaces();
    if (ifaces.length > 0) {
      head.append(type.isInterface() ? " extends " : " implements ")
          .append(Stream.of(ifaces).map(Type::getTypeName).collect(Collectors.joining(", ")));
    }
    out.add(head.toString());
    Set<String> members = new TreeSet<>();
    for (Constructor<?> c : type.getDeclaredConstructors()) {
      if (exposed(c.getModifiers()) && !c.isSynthetic()) {
        members.add("  " + c.toGenericString());
      }
    }
    for (Method m : type.getDeclaredMethods()) {
      if (exposed(m.getModifiers()) && !m.isSynthetic() && !m.isBridge()) {
        members.add("  " + m.toGenericString());
      }
    }
    for (Field f : type.getDeclaredFields()) {
      if (exposed(f.getModifiers()) && !f.isSynthetic()) {
        members.add("  " + f.toGenericString());
      }
    }
    out.addAll(members);
    return out;
  }

  private static boolean exposed(int modifiers) {
    return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
  }

  /** Lines only in the snapshot ("-") and only in the compiled code ("+"). */
  private static String diff(String expected, String actual) {
    List<String> was = expected.lines().collect(Collectors.toList());
    List<String> now = actual.lines().collect(Collectors.toList());
    StringBuilder sb = new StringBuilder();
    was.stream().filter(l -> !now.contains(l)).forEach(l -> sb.append("- ").append(l).append('\n'));
    now.stream().filter(l -> !was.contains(l)).forEach(l -> sb.append("+ ").append(l).append('\n'));
    return sb.toString();
  }
}
