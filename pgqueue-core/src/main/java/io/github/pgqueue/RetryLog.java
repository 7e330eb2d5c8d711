package io.github.pgqueue;

import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;

/**
 * Capped exponential backoff for a loop that talks to the database, with logging that says once
 * that the database is failing and once that it recovered, instead of a line per retry.
 */
final class RetryLog {

  static final long MIN_BACKOFF_MILLIS = 50;
  /** Retry at least once a second: after an outage the worker is back within about a second. */
  static final long MAX_BACKOFF_MILLIS = 1_000;

  private final Logger log;
  private final String activity;
  private final long maxBackoffMillis;
  private long backoffMillis = MIN_BACKOFF_MILLIS;
  private int failures;
  private long lastLogNanos;

  RetryLog(Logger log, String activity) {
    this(log, activity, MAX_BACKOFF_MILLIS);
  }

  RetryLog(Logger log, String activity, long maxBackoffMillis) {
    this.log = log;
    this.activity = activity;
    this.maxBackoffMillis = Math.max(MIN_BACKOFF_MILLIS, maxBackoffMillis);
  }

  /** Records a failure; returns how long to wait before retrying (jittered). */
  synchronized long failed(Exception e) {
    failures++;
    long now = System.nanoTime();
    if (failures == 1) {
      log.warn("pgqueue: {} failed; retrying with backoff until the database answers: {}", activity, describe(e));
      lastLogNanos = now;
    } else if (now - lastLogNanos > 60_000_000_000L) {
      log.warn("pgqueue: {} still failing after {} attempts: {}", activity, failures, describe(e));
      lastLogNanos = now;
    }
    long wait = backoffMillis;
    backoffMillis = Math.min(maxBackoffMillis, backoffMillis * 2);
    return wait / 2 + ThreadLocalRandom.current().nextLong(wait / 2 + 1);
  }

  synchronized void recovered() {
    if (failures > 0) {
      log.info("pgqueue: {} works again after {} failed attempts", activity, failures);
    }
    failures = 0;
    backoffMillis = MIN_BACKOFF_MILLIS;
  }

  private static String describe(Exception e) {
    String state = e instanceof java.sql.SQLException s && s.getSQLState() != null ? " [SQLState " + s.getSQLState() + "]" : "";
    return e.getClass().getSimpleName() + state + ": " + e.getMessage();
  }
}
