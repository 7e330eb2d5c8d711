package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's housekeeping, on a thread of its own and on connections borrowed from the pool for
 * one statement at a time, never on the heartbeat's connection or thread: rescuing jobs of dead
 * workers, removing their registrations, and pruning discarded jobs past their retention, progress
 * rows of finished jobs, and throughput rollup rows older than 8 days.
 *
 * <p>It works in bounded slices, once per heartbeat interval: each statement touches at most
 * 1,000 rows, and a tick stops after {@link #MAX_STATEMENTS_PER_TICK} statements or half a
 * heartbeat interval (at least a second), whichever comes first; a backlog (a million expired discarded jobs) is worked
 * off over many ticks. However long it takes, the heartbeat keeps its interval. An error here is
 * logged and retried at the next tick; it never touches the control connection.
 *
 * <p>A peer is judged by its own stale threshold (stored on its row), and only once this process
 * has itself heartbeated without a gap for at least that threshold (see {@link
 * WorkerState#healthyForMillis()}): after an outage every live worker gets its own threshold to
 * heartbeat again before anyone judges it. Rows without a threshold count as {@link
 * Worker#DEFAULT_STALE_AFTER}.
 */
final class Maintenance implements Runnable, Service {

  /** At most this many statements (1,000 rows each) per tick, per kind of work. */
  static final int MAX_STATEMENTS_PER_TICK = 20;
  static final int ROWS_PER_STATEMENT = 1_000;
  /**
   * A tick may always work this long: nothing waits for it (the heartbeat has its own thread and
   * connection), and with a short heartbeat interval a smaller budget would prune a backlog slower
   * than it grows.
   */
  static final long TICK_BUDGET_FLOOR_NANOS = TimeUnit.SECONDS.toNanos(1);

  private static final Logger log = LoggerFactory.getLogger(Maintenance.class);

  private final WorkerConfig config;
  private final DataSource dataSource;
  private final JobStore store;
  private final WorkerState state;
  private final Map<String, Fetcher> fetchers;
  private final JobListener listener;
  /** Thread-safe (its methods are synchronized); used by the maintenance thread. */
  private final RetryLog retryLog = new RetryLog(log, "the worker's maintenance (rescue, prune)");

  /** Written once by the first stop() (any thread), read by the maintenance thread. */
  private volatile boolean stopping;
  private final ServiceThread service = new ServiceThread(this);
  /**
   * Owned by the maintenance thread (or a test calling tick() on a part that is not started); set
   * here so that the first prune comes at the first tick after registration.
   */
  private long nextPruneNanos = System.nanoTime();
  /**
   * Owned by the maintenance thread: the last prune slice stopped at its budget, so continue at the
   * next tick, not a prune period later.
   */
  private boolean pruneBacklog;
  /** Progress rows of finished jobs are pruned every this many ticks. */
  static final int PROGRESS_PRUNE_TICKS = 10;
  /** Owned by the maintenance thread: when to prune progress rows next (the first tick does). */
  private long nextProgressPruneNanos = System.nanoTime();

  /** The attempts running here, for the cancel poll; null: no poll (tests that tick by hand). */
  private final Watchdog watchdog;

  Maintenance(WorkerConfig config, DataSource dataSource, JobStore store, WorkerState state,
      Map<String, Fetcher> fetchers, JobListener listener) {
    this(config, dataSource, store, state, fetchers, listener, null);
  }

  Maintenance(WorkerConfig config, DataSource dataSource, JobStore store, WorkerState state,
      Map<String, Fetcher> fetchers, JobListener listener, Watchdog watchdog) {
    this.watchdog = watchdog;
    this.config = config;
    this.dataSource = dataSource;
    this.store = store;
    this.state = state;
    this.fetchers = fetchers;
    this.listener = listener;
  }

  @Override
  public void start(String threadName) {
    service.start(threadName);
  }

  @Override
  public void run() {
    long tickNanos = config.heartbeatNanos;
    while (!stopping) {
      try {
        TimeUnit.NANOSECONDS.sleep(tickNanos);
      } catch (InterruptedException e) {
        return;
      }
      if (stopping) {
        return;
      }
      try {
        tick();
        retryLog.recovered();
      } catch (SQLException | RuntimeException e) {
        retryLog.failed(e);
      }
    }
  }

  /** One slice of work; package-private for tests. */
  void tick() throws SQLException {
    if (state.workerId() == 0) {
      return;
    }
    long budgetEnd = System.nanoTime() + Math.max(TICK_BUDGET_FLOOR_NANOS, config.heartbeatNanos / 2);
    pollCancels();
    if (state.healthyForMillis() >= TimeUnit.NANOSECONDS.toMillis(config.staleNanos)) {
      rescue(budgetEnd);
    }
    long now = System.nanoTime();
    if (now - nextProgressPruneNanos >= 0 && !stopping) {
      nextProgressPruneNanos = now + PROGRESS_PRUNE_TICKS * config.heartbeatNanos;
      pruneProgress(budgetEnd);
      pruneRollups(budgetEnd);
    }
    if (config.retentionMillis > 0 && (pruneBacklog || now - nextPruneNanos >= 0) && !stopping) {
      nextPruneNanos = now + config.pruneEveryNanos();
      prune(budgetEnd);
    }
  }

  /**
   * Deletes the progress rows of jobs that are gone (succeeded, deleted, pruned), 1,000 per
   * statement, within the tick's budget. Only jobs that recorded progress leave such rows.
   */
  private void pruneProgress(long budgetEnd) throws SQLException {
    while (!stopping) {
      int n = Borrowed.transaction(dataSource, true, c -> store.pruneProgress(c));
      if (n < ROWS_PER_STATEMENT || System.nanoTime() - budgetEnd >= 0) {
        return;
      }
    }
  }

  /**
   * Deletes throughput rollup rows older than 8 days ({@link Rollups}), 1,000 per statement, within
   * the tick's budget. Every worker prunes, whether its own rollup is on or not; concurrent
   * pruners skip each other's rows.
   */
  private void pruneRollups(long budgetEnd) throws SQLException {
    while (!stopping) {
      int n = Borrowed.transaction(dataSource, true, c -> store.pruneRollups(c));
      if (n < ROWS_PER_STATEMENT || System.nanoTime() - budgetEnd >= 0) {
        return;
      }
    }
  }

  /**
   * The fallback for a cancel NOTIFY that never arrived (LISTEN not delivered, a reconnect in
   * between): asks which of the jobs running here a cancel discarded, one primary-key lookup per
   * running job, and only when something runs. The NOTIFY path makes this a no-op almost always.
   */
  private void pollCancels() throws SQLException {
    if (watchdog == null) {
      return;
    }
    List<Long> ids = new java.util.ArrayList<>();
    for (JobRun run : watchdog.running()) {
      if (!run.isSettled() && !run.cancelledElsewhere) {
        ids.add(run.job.id());
      }
    }
    if (ids.isEmpty()) {
      return;
    }
    List<Long> cancelled = Borrowed.transaction(dataSource, true,
        c -> store.cancelledJobs(c, ids.toArray(new Long[0])));
    for (long id : cancelled) {
      watchdog.cancel(0, id, 0);
    }
  }

  /**
   * How long this process has heartbeated without a gap, read when a statement is about to run, on
   * the connection it runs on; -1 when too short to judge anyone. Never a figure read before the
   * connection was had: borrowing one can wait through a whole outage, and a judgement from before
   * it would find every live peer stale and rescue its running jobs.
   */
  private long judgeForMillis() {
    long healthyFor = state.healthyForMillis();
    return healthyFor >= TimeUnit.NANOSECONDS.toMillis(config.staleNanos) ? healthyFor : -1;
  }

  private void rescue(long budgetEnd) throws SQLException {
    for (int i = 0; i < MAX_STATEMENTS_PER_TICK && !stopping; i++) {
      List<JobStore.Rescued> rescued = Borrowed.transaction(dataSource, true, c -> {
        long judgeFor = judgeForMillis();
        return judgeFor < 0 ? List.<JobStore.Rescued>of() : store.rescue(c, judgeFor);
      });
      report(rescued);
      if (rescued.size() < ROWS_PER_STATEMENT || System.nanoTime() - budgetEnd >= 0) {
        break;
      }
    }
    int stale = Borrowed.transaction(dataSource, true, c -> {
      long judgeFor = judgeForMillis();
      return judgeFor < 0 ? 0 : store.deleteStaleWorkers(c, judgeFor);
    });
    if (stale > 0) {
      log.warn("pgqueue: removed {} worker registrations with no heartbeat within their own stale threshold", stale);
    }
  }

  private void report(List<JobStore.Rescued> rescued) {
    for (JobStore.Rescued r : rescued) {
      log.warn(
          "pgqueue: rescued job {} ({}, queue {}) from a worker that stopped heartbeating; attempt {} {}",
          r.id(), r.name(), r.queue(), r.attempt(),
          r.state() == JobState.DISCARDED ? "was its last: discarded" : "counted, back in the queue");
      if (listener != null) {
        try {
          listener.onEvent(
              new JobEvent(JobEvent.Kind.RESCUED, new JobId(r.id()), r.name(), r.queue(), r.attempt(),
                  java.time.Duration.ZERO, null, null, null, null));
        } catch (Throwable e) {
          // User code: whatever it throws must not end maintenance.
          JobRun.logUserFailure(log, "pgqueue: job listener threw on RESCUED of job " + r.id(), e);
        }
      }
      Fetcher f = fetchers.get(r.queue());
      if (f != null && r.state() == JobState.AVAILABLE) {
        f.wake();
      }
    }
  }

  private void prune(long budgetEnd) throws SQLException {
    int total = 0;
    pruneBacklog = false;
    for (int i = 0; !stopping; i++) {
      int n = Borrowed.transaction(dataSource, true, c -> store.pruneDiscarded(c, config.retentionMillis));
      total += n;
      if (n < ROWS_PER_STATEMENT) {
        break;
      }
      if (i + 1 >= MAX_STATEMENTS_PER_TICK || System.nanoTime() - budgetEnd >= 0) {
        pruneBacklog = true;
        break;
      }
    }
    if (total > 0) {
      log.info("pgqueue: pruned {} discarded jobs older than {} ms{}", total, config.retentionMillis,
          pruneBacklog ? "; more to prune at the next tick" : "");
    }
  }

  /** Stops after the current statement; waits at most {@code timeoutMillis}. */
  @Override
  public boolean stop(long timeoutMillis) {
    Thread t = service.stop(() -> stopping = true);
    if (t != null) {
      t.interrupt();
    }
    return ServiceThread.join(t, timeoutMillis);
  }
}
