package io.github.pgqueue.micrometer;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * Logs failures of the metrics themselves (a registry, a meter filter or a statistics read that
 * throws) at most once a minute, so a broken registry cannot flood the log with a line per job.
 */
final class FailureLog {

  static final long EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final Logger log;
  /** System.nanoTime() of the last line logged; 0 before the first. */
  private final AtomicLong lastNanos = new AtomicLong();
  private final AtomicLong suppressed = new AtomicLong();

  FailureLog(Logger log) {
    this.log = log;
  }

  void failed(String what, Throwable t) {
    long now = System.nanoTime();
    long last = lastNanos.get();
    if ((last == 0 || now - last >= EVERY_NANOS) && lastNanos.compareAndSet(last, now == 0 ? 1 : now)) {
      long skipped = suppressed.getAndSet(0);
      try {
        log.warn("pgqueue-micrometer: {} failed ({} more failures since the last warning); metrics may be incomplete",
            what, skipped, t);
      } catch (Throwable unprintable) {
        log.warn("pgqueue-micrometer: {} failed: {}", what, t.getClass().getName());
      }
    } else {
      suppressed.incrementAndGet();
    }
  }
}
