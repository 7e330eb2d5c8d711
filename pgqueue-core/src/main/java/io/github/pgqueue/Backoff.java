package io.github.pgqueue;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How long a failed job waits before its next attempt.
 *
 * <p>The default, {@link #exponential(Duration, Duration)} with 1 second and 1 hour, waits {@code
 * min(cap, base * 2^(attempt - 1))} multiplied by a random factor in [0.8, 1.2) (jitter, so jobs
 * that failed together do not retry together): about 1 s, 2 s, 4 s, ... 34 min after attempt 12,
 * then an hour per attempt. With the default 25 attempts a job keeps trying for about 14 hours.
 */
@FunctionalInterface
public interface Backoff {

  /** Exponential from 1 second, capped at 1 hour, with ±20% jitter. */
  Backoff DEFAULT = exponential(Duration.ofSeconds(1), Duration.ofHours(1));

  /**
   * The wait before the next attempt.
   *
   * @param attempt the attempt that just failed (1 for the first)
   * @return zero or positive
   */
  Duration delay(int attempt);

  /**
   * Exponential backoff with ±20% jitter: {@code min(cap, base * 2^(attempt - 1)) * U[0.8, 1.2)}.
   *
   * @param base the wait after the first failure; positive
   * @param cap the longest wait; at least {@code base}
   * @return the backoff
   * @throws IllegalArgumentException if {@code base} is not positive or {@code cap < base}
   */
  static Backoff exponential(Duration base, Duration cap) {
    if (base == null || base.isNegative() || base.isZero()) {
      throw new IllegalArgumentException("backoff base must be positive, got: " + base);
    }
    if (cap == null || cap.compareTo(base) < 0) {
      throw new IllegalArgumentException(
          "backoff cap must be at least the base (" + base + "), got: " + cap);
    }
    long baseNanos = base.toNanos();
    long capNanos = cap.toNanos();
    return attempt -> {
      int shift = Math.max(0, Math.min(attempt - 1, 62));
      long raw = baseNanos > (capNanos >> shift) ? capNanos : Math.min(capNanos, baseNanos << shift);
      double jitter = 0.8 + 0.4 * ThreadLocalRandom.current().nextDouble();
      return Duration.ofNanos((long) (raw * jitter));
    };
  }

  /**
   * The same wait after every failure, without jitter.
   *
   * @param delay zero or positive
   * @return the backoff
   * @throws IllegalArgumentException if negative
   */
  static Backoff fixed(Duration delay) {
    if (delay == null || delay.isNegative()) {
      throw new IllegalArgumentException("backoff delay must be zero or positive, got: " + delay);
    }
    return attempt -> delay;
  }
}
