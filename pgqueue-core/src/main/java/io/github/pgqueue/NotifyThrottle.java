package io.github.pgqueue;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Lets at most one NOTIFY per queue through per interval. A NOTIFY in a transaction takes a
 * cluster-wide lock at commit, which serialises every notifying commit (measured here: 4-5.7k
 * single inserts/s fell to 1.6-2.9k/s with 4-32 clients notifying each insert). One wake-up per
 * queue every few milliseconds is all a worker needs: after a wake-up it polls fast for a while, so
 * a suppressed NOTIFY costs milliseconds of latency, not a missed job.
 */
final class NotifyThrottle {

  /** One NOTIFY per queue per this many nanoseconds, per JobQueue. */
  static final long DEFAULT_INTERVAL_NANOS = 10_000_000L;

  private final long intervalNanos;
  private final ConcurrentHashMap<String, AtomicLong> lastByQueue = new ConcurrentHashMap<>();

  NotifyThrottle(long intervalNanos) {
    this.intervalNanos = intervalNanos;
  }

  /** True if a NOTIFY for {@code queue} may be sent now; records it as sent. */
  boolean tryAcquire(String queue) {
    long now = System.nanoTime();
    AtomicLong last = lastByQueue.computeIfAbsent(queue, q -> new AtomicLong(now - intervalNanos));
    long prev = last.get();
    return now - prev >= intervalNanos && last.compareAndSet(prev, now);
  }
}
