package io.github.pgqueue;

import java.time.Duration;
import java.util.Objects;

/**
 * A queue's rate limit: at most {@code starts} job starts per {@code period}, across every worker,
 * with a bucket of {@code burst} tokens refilled continuously at {@code starts / period}. Each
 * start (the claim that hands a job to a handler, retries included) takes one token for good: a
 * token is never given back, not even when the attempt fails or its worker dies. In any window of
 * one {@code period} at most {@code starts + burst} jobs start, and in any window of length {@code
 * T} at most {@code burst + ceil(starts * T / period)}. The bucket keeps the part of a token that
 * accrues while it is full (less than one token), so a claim that comes late does not lower the
 * rate achieved over time. Set with {@link JobQueue#setRateLimit}; see docs/flow-control.md.
 *
 * @param starts how many starts per period, at least 1
 * @param period the period, at least 1 ms and at most a day, in whole milliseconds
 * @param burst how many starts may happen at once after an idle spell (the bucket's size), at
 *     least 1; 1 spaces the starts evenly
 */
public record RateLimit(int starts, Duration period, int burst) {

  /** The longest period. */
  public static final Duration MAX_PERIOD = Duration.ofDays(1);

  /**
   * @throws NullPointerException if period is null
   * @throws IllegalArgumentException naming the component and the value, if one is out of range
   */
  public RateLimit {
    Objects.requireNonNull(period, "period");
    if (starts < 1) {
      throw new IllegalArgumentException("starts must be at least 1, got: " + starts);
    }
    if (period.compareTo(Duration.ofMillis(1)) < 0 || period.compareTo(MAX_PERIOD) > 0
        || period.toNanos() % 1_000_000 != 0) {
      throw new IllegalArgumentException(
          "period must be whole milliseconds between 1 ms and " + MAX_PERIOD + ", got: " + period);
    }
    if (burst < 1) {
      throw new IllegalArgumentException("burst must be at least 1, got: " + burst);
    }
  }

  /**
   * At most {@code starts} per {@code period}, with a burst of 1 (starts evenly spaced).
   *
   * @param starts how many starts per period, at least 1
   * @param period the period
   * @return the limit
   * @throws IllegalArgumentException if a value is out of range (see the record's components)
   */
  public static RateLimit of(int starts, Duration period) {
    return new RateLimit(starts, period, 1);
  }
}
