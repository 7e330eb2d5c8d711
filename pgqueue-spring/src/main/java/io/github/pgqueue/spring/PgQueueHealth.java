package io.github.pgqueue.spring;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.QueueStats;
import io.github.pgqueue.Worker;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What pgqueue's health indicator reports, without a dependency on Spring Boot (each starter
 * adapts it to its Actuator): whether this process's worker is registered and heartbeating,
 * whether it hears LISTEN/NOTIFY or polls, and each queue's lag (the age of its oldest due job)
 * against an optional threshold.
 *
 * <p>The verdict is DOWN when the worker (if this process runs one) is not healthy in the sense of
 * {@link Worker#isHealthy()}, when the statistics cannot be read, or when a lag exceeds the
 * threshold. Polling instead of LISTEN is reported, not judged: jobs still run. The statistics are
 * read at most once per {@code statsInterval} (a probe every few seconds must not scan the jobs
 * table each time); a failed read is not kept, so the next check reads again. Thread-safe.
 */
public final class PgQueueHealth {

  /**
   * One check's outcome.
   *
   * @param up true for UP, false for DOWN
   * @param details what was seen, for the health endpoint
   */
  public record Report(boolean up, Map<String, Object> details) {
    /**
     * @throws NullPointerException if details is null
     */
    public Report {
      details = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(details));
    }
  }

  private record Cached(long readAtNanos, QueueStats stats) {}

  private final JobQueue queue;
  private final Worker worker;
  private final Duration maxLag;
  private final long statsIntervalNanos;
  private volatile Cached cached;

  /**
   * A health check.
   *
   * @param queue the queue whose statistics give the lag
   * @param worker this process's worker, or null if it runs none
   * @param maxLag the lag over which the verdict is DOWN, or null to report the lag only
   * @param statsInterval how long a statistics read is reused; positive
   */
  public PgQueueHealth(JobQueue queue, Worker worker, Duration maxLag, Duration statsInterval) {
    this.queue = Objects.requireNonNull(queue, "queue");
    this.worker = worker;
    this.maxLag = maxLag;
    this.statsIntervalNanos = PgQueueProperties.positive("pgqueue.health.stats-interval", statsInterval).toNanos();
  }

  /**
   * Checks now. Never throws: a failure is a DOWN report that says what failed.
   *
   * @return the report
   */
  public Report check() {
    Map<String, Object> details = new LinkedHashMap<>();
    boolean up = true;
    if (worker != null) {
      boolean healthy = worker.isHealthy();
      details.put("worker", healthy ? "registered and heartbeating" : "not heartbeating");
      details.put("workerId", worker.workerId());
      details.put("notifications", worker.isListening() ? "listening" : "polling");
      if (!healthy) {
        // The database is likely unreachable; do not wait on a pool for the statistics as well.
        return new Report(false, details);
      }
    }
    QueueStats stats;
    try {
      stats = stats();
    } catch (RuntimeException e) {
      details.put("error", "reading the queue statistics failed: " + e.getMessage());
      return new Report(false, details);
    }
    Map<String, Object> lags = new LinkedHashMap<>();
    for (QueueStats.Queue q : stats.queues()) {
      Duration lag = q.oldestDueAge() == null ? Duration.ZERO : q.oldestDueAge();
      lags.put(q.queue(), lag.toString());
      if (maxLag != null && lag.compareTo(maxLag) > 0) {
        up = false;
        details.put("lagging", append(details.get("lagging"), q.queue()));
      }
    }
    details.put("lag", lags);
    if (maxLag != null) {
      details.put("maxLag", maxLag.toString());
    }
    details.put("liveWorkers", stats.liveWorkers());
    return new Report(up, details);
  }

  private static Object append(Object list, String queue) {
    List<String> out = new java.util.ArrayList<>();
    if (list instanceof List<?> l) {
      l.forEach(x -> out.add((String) x));
    }
    out.add(queue);
    return out;
  }

  private QueueStats stats() {
    Cached c = cached;
    long now = System.nanoTime();
    if (c != null && now - c.readAtNanos() < statsIntervalNanos) {
      return c.stats();
    }
    QueueStats s = queue.stats();
    cached = new Cached(now, s);
    return s;
  }
}
