package io.github.pgqueue.micrometer;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.QueueDepth;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per-queue gauges of the jobs in the database ({@code pgqueue.queue.*}), made by {@link
 * PgQueueMetrics#queueGauges}. One statement, {@link JobQueue#queueDepths()}, runs once per
 * interval on a daemon thread; every gauge reads its last result, so scrapes cost no database work
 * however often they come. A queue's gauges appear the first time the queue has an available or
 * running job and stay (at zero) after it empties.
 *
 * <p>A failed read is logged (at most once a minute) and the gauges keep the last values read;
 * {@code pgqueue.queue.stats.age} says how old they are, so an alert can tell stale numbers from
 * an idle queue.
 *
 * <p>The thread starts with the first {@link #bindTo} (which also reads at once) and stops at
 * {@link #close()}. Thread-safe.
 */
public final class QueueGauges implements MeterBinder, AutoCloseable {

  static final String DUE = "pgqueue.queue.due";
  static final String SCHEDULED = "pgqueue.queue.scheduled";
  static final String RUNNING = "pgqueue.queue.running";
  static final String OLDEST_DUE_AGE = "pgqueue.queue.oldest.due.age";
  static final String STATS_AGE = "pgqueue.queue.stats.age";

  static final Duration MIN_INTERVAL = Duration.ofSeconds(1);
  static final Duration MAX_INTERVAL = Duration.ofHours(1);

  private static final Logger log = LoggerFactory.getLogger(QueueGauges.class);

  private final JobQueue queue;
  private final long intervalNanos;
  private final Tags tags;
  private final FailureLog failures = new FailureLog(log);
  /** The registries bound so far: a queue seen for the first time gets its gauges in each. */
  private final List<MeterRegistry> registries = new CopyOnWriteArrayList<>();
  /** Queues whose gauges are registered (in every bound registry). */
  private final Set<String> known = ConcurrentHashMap.newKeySet();
  /** The last successful read by queue; replaced whole by the reading thread, read by scrapes. */
  private volatile Map<String, QueueDepth> last = Map.of();
  /** System.nanoTime() of the last successful read; 0 before the first. */
  private volatile long lastReadNanos;
  /** Guards the start and stop of {@link #thread}. */
  private final Object lock = new Object();
  private ScheduledExecutorService thread; // guarded by lock
  private boolean closed; // guarded by lock

  QueueGauges(JobQueue queue, Duration interval, Tags tags) {
    this.queue = queue;
    this.intervalNanos = interval.toNanos();
    this.tags = tags;
  }

  static Duration checkInterval(Duration interval) {
    Objects.requireNonNull(interval, "interval");
    if (interval.compareTo(MIN_INTERVAL) < 0 || interval.compareTo(MAX_INTERVAL) > 0) {
      throw new IllegalArgumentException(
          "interval must be between " + MIN_INTERVAL + " and " + MAX_INTERVAL + ", got: " + interval);
    }
    return interval;
  }

  /**
   * Registers the gauges in {@code registry}; the first call starts the reading thread and reads
   * at once (on that thread).
   *
   * @param registry the registry
   * @throws IllegalStateException if these gauges were closed
   */
  @Override
  public void bindTo(MeterRegistry registry) {
    Objects.requireNonNull(registry, "registry");
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("these queue gauges were closed; make new ones with PgQueueMetrics.queueGauges");
      }
      registries.add(registry);
      Gauge.builder(STATS_AGE, this, QueueGauges::statsAgeSeconds)
          .description("Seconds since the queue gauges were last read from the database (NaN before the first read)")
          .baseUnit("seconds")
          .tags(tags)
          .register(registry);
      for (String q : known) {
        register(registry, q);
      }
      if (thread == null) {
        thread = Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "pgqueue-metrics-queue-depths");
          t.setDaemon(true);
          return t;
        });
        thread.scheduleWithFixedDelay(this::read, 0, intervalNanos, TimeUnit.NANOSECONDS);
      }
    }
  }

  /** One read: runs the statement, publishes the result, registers gauges of new queues. Never throws. */
  private void read() {
    try {
      Map<String, QueueDepth> byQueue = new HashMap<>();
      for (QueueDepth d : queue.queueDepths()) {
        byQueue.put(d.queue(), d);
      }
      last = Map.copyOf(byQueue);
      lastReadNanos = nanoTimeNonZero();
      for (String q : byQueue.keySet()) {
        if (known.add(q)) {
          for (MeterRegistry r : registries) {
            register(r, q);
          }
        }
      }
    } catch (Throwable t) {
      failures.failed("reading queue depths for the pgqueue.queue gauges", t);
    }
  }

  private void register(MeterRegistry registry, String q) {
    Tags t = tags.and("queue", q);
    gauge(registry, DUE, "Jobs due and waiting for a worker", null, t, q, d -> d.due());
    gauge(registry, SCHEDULED, "Jobs waiting for a future run time (scheduled, retrying, snoozed)", null, t, q,
        d -> d.scheduled());
    gauge(registry, RUNNING, "Jobs claimed by a worker", null, t, q, d -> d.running());
    gauge(registry, OLDEST_DUE_AGE, "How long the oldest due job has been waiting, by the database clock", "seconds",
        t, q, d -> d.oldestDueAge() == null ? 0 : d.oldestDueAge().toNanos() / 1e9);
  }

  private void gauge(
      MeterRegistry registry, String name, String description, String unit, Tags t, String q,
      ToDoubleFunction<QueueDepth> field) {
    Gauge.builder(name, this, g -> {
          QueueDepth d = g.last.get(q);
          return d == null ? 0 : field.applyAsDouble(d);
        })
        .description(description)
        .baseUnit(unit)
        .tags(t)
        .strongReference(true)
        .register(registry);
  }

  private double statsAgeSeconds() {
    long at = lastReadNanos;
    return at == 0 ? Double.NaN : (System.nanoTime() - at) / 1e9;
  }

  private static long nanoTimeNonZero() {
    long n = System.nanoTime();
    return n == 0 ? 1 : n;
  }

  /**
   * Stops the reading thread (a read in progress finishes on its own). The gauges stay registered
   * with their last values. Idempotent.
   */
  @Override
  public void close() {
    ScheduledExecutorService t;
    synchronized (lock) {
      closed = true;
      t = thread;
      thread = null;
    }
    if (t != null) {
      t.shutdownNow();
    }
  }
}
