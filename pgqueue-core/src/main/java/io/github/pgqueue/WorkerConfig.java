package io.github.pgqueue;

import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sealed settings of one worker: what {@link Worker.Builder} collected, checked against each
 * other and resolved (handler defaults applied, durations in nanoseconds, listeners combined).
 * Immutable, so every thread of the worker reads it without locking. The settings the worker
 * shares with producers (data source, schema, payload codec) are the {@link JobQueue}'s.
 */
final class WorkerConfig {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);

  /** Gives the data source, the schema, the payload codec and the one schema check. */
  final JobQueue queue;
  final String schema;
  final Map<String, Worker.Registration<?>> registrations;
  final Map<String, Integer> queues;
  final Executor executor;
  final long pollNanos;
  final long heartbeatNanos;
  final long staleNanos;
  final long graceNanos;
  final long shutdownNanos;
  final int bufferFactor;
  final int maxAbandonedThreads;
  final long retentionMillis;
  /** Least time between two progress writes of one attempt. */
  final long progressNanos;
  /** Interval of the throughput rollup's flush; 0: no rollup. */
  final long rollupNanos;
  final ConnectionFactory dedicatedConnection;
  final boolean shutdownHook;
  /** Every listener as one, or null for none. */
  final JobListener listener;
  /** A codec set on the builder (tests), wrapped with pgqueue's checks; null: the queue's. */
  private final PayloadCodec codecOverride;

  /**
   * Seals the builder's settings.
   *
   * @throws IllegalArgumentException if no handler is registered, or the stale threshold is under
   *     three heartbeat intervals
   */
  WorkerConfig(Worker.Builder b) {
    if (b.handlers.isEmpty()) {
      throw new IllegalArgumentException("a worker needs at least one handler: call handle(type, handler)");
    }
    if (b.staleAfter.compareTo(b.heartbeatInterval.multipliedBy(3)) < 0) {
      throw new IllegalArgumentException(
          "staleAfter must be at least three heartbeat intervals (" + b.heartbeatInterval.multipliedBy(3)
              + "), got: " + b.staleAfter);
    }
    this.queue = b.queue;
    this.schema = b.queue.schema();
    Map<String, Worker.Registration<?>> regs = new LinkedHashMap<>();
    for (Worker.Builder.Handler<?> h : b.handlers.values()) {
      regs.put(h.type().name(), h.resolve(b.jobTimeout, b.backoff, b.interceptors));
    }
    this.registrations = Map.copyOf(regs);
    this.queues =
        b.queues.isEmpty() ? Map.of(EnqueueOptions.DEFAULT_QUEUE, Worker.DEFAULT_CONCURRENCY) : Map.copyOf(b.queues);
    this.executor = b.executor;
    this.pollNanos = b.pollInterval.toNanos();
    this.heartbeatNanos = b.heartbeatInterval.toNanos();
    this.staleNanos = b.staleAfter.toNanos();
    this.graceNanos = b.timeoutGrace.toNanos();
    this.shutdownNanos = b.shutdownTimeout.toNanos();
    this.bufferFactor = b.bufferFactor;
    this.maxAbandonedThreads = b.maxAbandonedThreads;
    this.retentionMillis = b.discardedRetention.toMillis();
    this.progressNanos = b.progressInterval.toNanos();
    this.rollupNanos = b.rollupInterval.toNanos();
    this.dedicatedConnection = b.dedicatedConnection;
    this.shutdownHook = b.shutdownHook;
    this.listener = combine(List.copyOf(b.listeners));
    this.codecOverride = b.codec == null ? null : new CheckedCodec(b.codec, Integer.MAX_VALUE);
  }

  DataSource dataSource() {
    return queue.dataSource();
  }

  PayloadCodec codec() {
    return codecOverride != null ? codecOverride : queue.codec();
  }

  /**
   * The one schema check, shared with the queue's operations: throws {@link
   * SchemaVersionException} if the schema is missing or older than this code.
   *
   * @throws SQLException if the database cannot be read; each caller decides what that means
   */
  void requireCurrentSchema() throws SQLException {
    queue.requireCurrentSchema();
  }

  /** The names of the job types this worker runs, for claims and the registration. */
  String[] jobNames() {
    return registrations.keySet().toArray(new String[0]);
  }

  /** The names of the queues this worker runs, for claims and the registration. */
  String[] queueNames() {
    return queues.keySet().toArray(new String[0]);
  }

  /** Each queue's concurrency, in the order of {@link #queueNames()}, for the registration. */
  Integer[] queueConcurrency() {
    return java.util.Arrays.stream(queueNames()).map(queues::get).toArray(Integer[]::new);
  }

  /** Prune every half retention, between once a second and once every ten minutes. */
  long pruneEveryNanos() {
    long half = TimeUnit.MILLISECONDS.toNanos(retentionMillis) / 2;
    return Math.max(TimeUnit.SECONDS.toNanos(1), Math.min(TimeUnit.MINUTES.toNanos(10), half));
  }

  /** One listener for all: each is called in turn, and one that throws keeps no event from the others. */
  private static JobListener combine(List<JobListener> ls) {
    if (ls.isEmpty()) {
      return null;
    }
    return e -> {
      for (JobListener l : ls) {
        try {
          l.onEvent(e);
        } catch (Throwable t) {
          JobRun.logUserFailure(log, "pgqueue: job listener " + l + " threw on " + e.kind() + " of job " + e.id(), t);
        }
      }
    };
  }
}
