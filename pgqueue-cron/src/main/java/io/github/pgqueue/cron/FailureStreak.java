package io.github.pgqueue.cron;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;

/**
 * A run of consecutive failures of one thing (the database, or one cron job's enqueue): the
 * exponential backoff before the next try, and a log that reports every failure without writing a
 * line per retry. The first failure of a run is logged at WARN with its stack trace; while the
 * run lasts, one WARN line per {@link #LOG_EVERY} counts the failures since and shows the latest;
 * the end of the run is logged at INFO with the count and the duration.
 *
 * <p>Times are {@link System#nanoTime()} readings: backoff is about real waiting, so it does not
 * follow the scheduler's injected clock. Used by one thread only.
 */
final class FailureStreak {

  /** At most one WARN line per this interval while a run of failures lasts. */
  static final Duration LOG_EVERY = Duration.ofSeconds(30);

  private final Logger log;
  private final String subject;
  private final long minNanos;
  private final long maxNanos;

  private int failures;
  private int unlogged;
  private long firstNanos;
  private long lastLoggedNanos;
  private long retryAtNanos;

  FailureStreak(Logger log, String subject, Duration min, Duration max) {
    this.log = log;
    this.subject = subject;
    this.minNanos = min.toNanos();
    this.maxNanos = max.toNanos();
  }

  /** Records a failure and schedules the next try; returns the backoff chosen. */
  Duration failed(String what, Throwable cause, long nowNanos) {
    failures++;
    long backoff = backoffNanos();
    retryAtNanos = nowNanos + backoff;
    if (failures == 1) {
      firstNanos = nowNanos;
      lastLoggedNanos = nowNanos;
      log.warn("pgqueue cron: {}: {} failed; retrying in {} ms: {}",
          subject, what, backoff / 1_000_000, cause.toString(), cause);
    } else if (nowNanos - lastLoggedNanos >= LOG_EVERY.toNanos()) {
      log.warn("pgqueue cron: {}: still failing: {} failures in {} s ({} since the last report);"
              + " latest: {} failed: {}; retrying in {} ms",
          subject, failures, (nowNanos - firstNanos) / 1_000_000_000L, unlogged + 1, what,
          cause.toString(), backoff / 1_000_000);
      lastLoggedNanos = nowNanos;
      unlogged = 0;
    } else {
      unlogged++;
    }
    return Duration.ofNanos(backoff);
  }

  /** Ends a run of failures, if one was going on. */
  void succeeded(long nowNanos) {
    if (failures > 0) {
      log.info("pgqueue cron: {}: working again after {} failure(s) over {} ms",
          subject, failures, (nowNanos - firstNanos) / 1_000_000);
      failures = 0;
      unlogged = 0;
    }
  }

  /** True while a failure's backoff has not yet run out. */
  boolean waiting(long nowNanos) {
    return failures > 0 && nowNanos - retryAtNanos < 0;
  }

  /** When the next try is due, as a nanoTime reading; meaningful only while {@link #waiting}. */
  long retryAtNanos() {
    return retryAtNanos;
  }

  int failures() {
    return failures;
  }

  /**
   * min * 2^(failures-1) plus up to a quarter of that at random (so processes that failed together
   * do not retry together), never more than max.
   */
  private long backoffNanos() {
    long base = minNanos;
    for (int i = 1; i < failures && base < maxNanos; i++) {
      base *= 2;
    }
    long jitter = ThreadLocalRandom.current().nextLong(base / 4 + 1);
    return Math.min(maxNanos, base + jitter);
  }
}
