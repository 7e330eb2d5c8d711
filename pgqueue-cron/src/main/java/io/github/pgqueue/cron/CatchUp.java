package io.github.pgqueue.cron;

/**
 * What a {@link CronScheduler} does with firings that were missed: firings that were not enqueued
 * within {@link CronScheduler.Builder#missedAfter(java.time.Duration) missedAfter} (10 seconds by default)
 * of their scheduled instant, because no cron process was running, the database was unreachable,
 * or the job's payload function kept failing.
 *
 * <p>A firing that is late by less than that is not missed: it is enqueued as usual, with its
 * scheduled instant as the run time. So a short restart or outage loses nothing whatever the
 * policy.
 *
 * <ul>
 *   <li>{@link #one()}, the default: enqueue one job, for the most recent missed instant;
 *   <li>{@link #skip()}: enqueue nothing for the missed firings and go on with the next one;
 *   <li>{@link #all(int)}: enqueue each missed firing, in order, but at most the latest {@code
 *       max} of them.
 * </ul>
 *
 * <p>Whichever process finds the missed firings first applies its policy; the claims stay
 * exactly-once, so two processes catching up at the same time never enqueue a firing twice.
 *
 * @param mode the policy
 * @param max how many missed firings are enqueued at most: 1 for {@link Mode#ONE}, 0 for {@link
 *     Mode#SKIP}, 1 to {@value #MAX_ALL} for {@link Mode#ALL}
 */
public record CatchUp(CatchUp.Mode mode, int max) {

  /** The largest {@code max} accepted by {@link #all(int)}. */
  public static final int MAX_ALL = 10_000;

  /** The three policies. */
  public enum Mode {
    /** Enqueue one job, for the most recent missed instant. */
    ONE,
    /** Enqueue nothing for missed firings. */
    SKIP,
    /** Enqueue every missed firing, up to a bound, oldest first. */
    ALL
  }

  private static final CatchUp ONE = new CatchUp(Mode.ONE, 1);
  private static final CatchUp SKIP = new CatchUp(Mode.SKIP, 0);

  /**
   * Validates the combination.
   *
   * @throws IllegalArgumentException if {@code mode} is null or {@code max} does not fit it
   */
  public CatchUp {
    if (mode == null) {
      throw new IllegalArgumentException("mode must not be null");
    }
    switch (mode) {
      case ONE -> {
        if (max != 1) {
          throw new IllegalArgumentException("max must be 1 for CatchUp mode ONE, got: " + max);
        }
      }
      case SKIP -> {
        if (max != 0) {
          throw new IllegalArgumentException("max must be 0 for CatchUp mode SKIP, got: " + max);
        }
      }
      case ALL -> {
        if (max < 1 || max > MAX_ALL) {
          throw new IllegalArgumentException(
              "max must be between 1 and " + MAX_ALL + " for CatchUp.all, got: " + max);
        }
      }
    }
  }

  /**
   * Enqueue one job, for the most recent missed instant. The default.
   *
   * @return the policy
   */
  public static CatchUp one() {
    return ONE;
  }

  /**
   * Enqueue nothing for missed firings; go on with the next firing.
   *
   * @return the policy
   */
  public static CatchUp skip() {
    return SKIP;
  }

  /**
   * Enqueue every missed firing, oldest first, but at most the latest {@code max} of them.
   *
   * @param max between 1 and {@value #MAX_ALL}
   * @return the policy
   * @throws IllegalArgumentException if {@code max} is out of range
   */
  public static CatchUp all(int max) {
    return new CatchUp(Mode.ALL, max);
  }

  @Override
  public String toString() {
    return switch (mode) {
      case ONE -> "CatchUp.one()";
      case SKIP -> "CatchUp.skip()";
      case ALL -> "CatchUp.all(" + max + ")";
    };
  }
}
