package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's throughput rollup: counts job outcomes in memory as the worker's {@link JobEvent}s
 * are produced (a map lookup and a {@link LongAdder} increment, no I/O), and adds them to {@code
 * job_rollups} in one upsert per flush interval, on a connection borrowed from the pool for that
 * statement alone: never per job, never in the completer's or the heartbeat's statements.
 *
 * <p>The minute of a row is {@code date_trunc('minute', now())} of the flushing statement: one
 * clock (the database's) for every worker and for the readers, at the cost of placing a count up
 * to one flush interval after the minute it happened in (more after a failed flush). Sums over a
 * window are exact up to that shift.
 *
 * <p>A flush that fails puts its counts back, to be written by the next flush, and is logged (once
 * per outage, by a {@link RetryLog}); it never affects jobs. The counts are bounded by the number
 * of distinct (queue, name, outcome) keys, capped at {@link #MAX_KEYS}: past that, new keys are
 * not counted (logged once). Keys are kept once seen (never removed,
 * so an increment can never land in an adder a flush just dropped). The counts of the last interval are lost if the JVM dies without a
 * graceful shutdown; {@link #stop(long)} flushes once more.
 */
final class Rollups implements Service, JobListener {

  /** Keys held at most between flushes; a worker handles a few names, so this is never reached normally. */
  static final int MAX_KEYS = 10_000;
  /** The flush statement's timeout: a stuck flush must not hold the final flush of a shutdown long. */
  static final int QUERY_TIMEOUT_SECONDS = 10;

  private static final Logger log = LoggerFactory.getLogger(Rollups.class);
  private static final Map<JobEvent.Kind, String> OUTCOMES = outcomes();

  /** What one row counts, apart from the minute and the worker. */
  record Key(String queue, String name, String outcome) {}

  private final DataSource dataSource;
  private final Sql sql;
  private final long intervalNanos;
  /** The worker's current registration id, 0 while unregistered (then nothing is flushed). */
  private final LongSupplier workerId;
  private final ConcurrentHashMap<Key, LongAdder> counts = new ConcurrentHashMap<>();
  private final AtomicBoolean lostLogged = new AtomicBoolean();
  private final RetryLog retryLog = new RetryLog(log, "the worker's throughput rollup flush", 60_000);
  /** One flush at a time: the loop's and the shutdown's never overlap (no double counting). */
  private final Object flushLock = new Object();
  private final ServiceThread service = new ServiceThread(this::loop);
  private volatile boolean stopping;

  Rollups(DataSource dataSource, Sql sql, long intervalNanos, LongSupplier workerId) {
    this.dataSource = dataSource;
    this.sql = sql;
    this.intervalNanos = intervalNanos;
    this.workerId = workerId;
  }

  /** Counts an outcome; STARTED is not one. Never throws, never blocks on I/O. */
  @Override
  public void onEvent(JobEvent event) {
    String outcome = OUTCOMES.get(event.kind());
    if (outcome == null) {
      return;
    }
    Key key = new Key(event.queue(), event.name(), outcome);
    LongAdder adder = counts.get(key);
    if (adder == null) {
      if (counts.size() >= MAX_KEYS) {
        if (lostLogged.compareAndSet(false, true)) {
          log.warn("pgqueue: the throughput rollup holds {} keys (queue, name, outcome) already;"
              + " outcomes of further keys are not counted by this worker", MAX_KEYS);
        }
        return;
      }
      adder = counts.computeIfAbsent(key, k -> new LongAdder());
    }
    adder.increment();
  }

  @Override
  public void start(String threadName) {
    service.start(threadName);
  }

  private void loop() {
    long next = System.nanoTime() + intervalNanos;
    while (!stopping) {
      long wait = next - System.nanoTime();
      if (wait > 0) {
        try {
          TimeUnit.NANOSECONDS.sleep(wait);
        } catch (InterruptedException e) {
          return;
        }
        continue;
      }
      if (stopping) {
        return;
      }
      // Never more often than the interval: the next flush is an interval after this one began,
      // whether it wrote, failed or had nothing to write.
      next = System.nanoTime() + intervalNanos;
      try {
        flush();
        retryLog.recovered();
      } catch (SQLException | RuntimeException e) {
        retryLog.failed(e);
      }
    }
  }

  /**
   * Writes the counts gathered since the last flush in one statement; does nothing if there are
   * none or the worker is not registered. On failure the counts are put back and the exception
   * thrown. Package-private for tests.
   *
   * @return the number of keys written
   */
  int flush() throws SQLException {
    synchronized (flushLock) {
      long worker = workerId.getAsLong();
      if (worker == 0 || counts.isEmpty()) {
        return 0;
      }
      List<Key> keys = new ArrayList<>();
      List<Long> taken = new ArrayList<>();
      for (Map.Entry<Key, LongAdder> e : counts.entrySet()) {
        long n = e.getValue().sumThenReset();
        if (n != 0) {
          keys.add(e.getKey());
          taken.add(n);
        }
      }
      if (keys.isEmpty()) {
        return 0;
      }
      try {
        Borrowed.transaction(dataSource, true, c -> upsert(c, worker, keys, taken));
      } catch (SQLException | RuntimeException | Error e) {
        // The statement failed as a whole (one statement, one transaction): nothing was added, so
        // put every count back for the next flush. If the commit's reply was lost the rows may
        // have been written; a rollup double-counting one interval in that rare case is preferred
        // to one that loses every outage's counts.
        for (int i = 0; i < keys.size(); i++) {
          counts.computeIfAbsent(keys.get(i), k -> new LongAdder()).add(taken.get(i));
        }
        throw e;
      }
      return keys.size();
    }
  }

  private Integer upsert(Connection c, long worker, List<Key> keys, List<Long> taken) throws SQLException {
    int n = keys.size();
    String[] queues = new String[n];
    String[] names = new String[n];
    String[] outcomes = new String[n];
    Long[] values = new Long[n];
    for (int i = 0; i < n; i++) {
      Key k = keys.get(i);
      queues[i] = k.queue();
      names[i] = k.name();
      outcomes[i] = k.outcome();
      values[i] = taken.get(i);
    }
    try (PreparedStatement ps = c.prepareStatement(sql.upsertRollups)) {
      ps.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
      ps.setString(1, Long.toString(worker));
      ps.setArray(2, c.createArrayOf("text", queues));
      ps.setArray(3, c.createArrayOf("text", names));
      ps.setArray(4, c.createArrayOf("text", outcomes));
      ps.setArray(5, c.createArrayOf("bigint", values));
      return ps.executeUpdate();
    }
  }

  /** The counts not yet written, for tests. */
  long pending() {
    long n = 0;
    for (LongAdder a : counts.values()) {
      n += a.sum();
    }
    return n;
  }

  /**
   * Stops the flush loop and flushes once more, so a graceful shutdown loses nothing. Call it
   * after the last outcome event (the completer and maintenance stopped) and while the worker is
   * still registered. Adds at most the flush statement's timeout to {@code timeoutMillis}.
   */
  @Override
  public boolean stop(long timeoutMillis) {
    Thread t = service.stop(() -> stopping = true);
    if (t != null) {
      t.interrupt();
    }
    boolean ended = ServiceThread.join(t, timeoutMillis);
    try {
      flush();
      return ended;
    } catch (SQLException | RuntimeException e) {
      log.warn("pgqueue: the throughput rollup's last flush failed; {} outcome counts are lost: {}",
          pending(), e.toString());
      return false;
    }
  }

  private static Map<JobEvent.Kind, String> outcomes() {
    Map<JobEvent.Kind, String> m = new EnumMap<>(JobEvent.Kind.class);
    for (JobEvent.Kind k : JobEvent.Kind.values()) {
      if (k != JobEvent.Kind.STARTED) {
        m.put(k, k.name().toLowerCase(Locale.ROOT));
      }
    }
    return m;
  }
}
