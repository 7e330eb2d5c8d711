package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs due jobs on the calling thread, one at a time: what {@link Worker#drain(int)} does, for tests
 * and scripts. The same claim, run and outcome steps as a started worker ({@link JobStore#claim},
 * {@link JobRun}, {@link Completer#write}), without its threads: no fetchers, no timeouts, and each
 * outcome is written before the next job is claimed.
 *
 * <p>Each statement runs on a connection borrowed for it alone and committed ({@link Borrowed}):
 * a drain holds no connection while a handler runs, so it works on a pool of one connection too.
 */
final class InlineRunner {

  private static final Logger log = LoggerFactory.getLogger(Worker.class);

  // Set once by the constructor and immutable; a runner is used by one drain() call on one thread.
  private final WorkerConfig config;
  private final DataSource dataSource;
  private final JobStore store;
  private final String threadPrefix;

  InlineRunner(WorkerConfig config, JobStore store, String threadPrefix) {
    this.config = config;
    this.dataSource = config.dataSource();
    this.store = store;
    this.threadPrefix = threadPrefix;
  }

  /** See {@link Worker#drain(int)}. */
  List<JobEvent> drain(int maxJobs) {
    List<JobEvent> events = new ArrayList<>();
    String[] names = config.jobNames();
    Completer writer = new Completer(dataSource, store);
    PayloadCodec codec = config.codec();
    boolean callerInterrupted = Thread.currentThread().isInterrupted();
    try {
      config.requireCurrentSchema();
      long id = Borrowed.transaction(dataSource, true,
          // One job at a time, whatever the configured concurrency: that is what the row says.
          c -> store.registerWorker(c, "drain", ProcessHandle.current().pid(), config.queueNames(),
              java.util.Collections.nCopies(config.queueNames().length, 1).toArray(new Integer[0]), names,
              TimeUnit.NANOSECONDS.toMillis(config.heartbeatNanos), TimeUnit.NANOSECONDS.toMillis(config.staleNanos)));
      long[] token = {0};
      // The inline jobs may run long: keep the registration fresh, or a peer would judge this
      // drain dead and rescue (and run again) the job it is running.
      try (DrainHeartbeat heartbeat = new DrainHeartbeat(id)) {
        for (String queue : config.queues.keySet()) {
          while (events.size() < maxJobs) {
            List<ClaimedJob> jobs = Borrowed.transaction(dataSource, true, c -> store.claim(c, queue, names, 1, id, ++token[0]));
            if (jobs.isEmpty()) {
              break;
            }
            ClaimedJob job = jobs.get(0);
            Worker.Registration<?> reg = config.registrations.get(job.name());
            List<Outcome> outcome = new ArrayList<>(1);
            JobRun run =
                new JobRun(job, reg, codec, new JobRun.Sink() {
                  @Override
                  public void settled(JobRun r, Outcome o, JobEvent e) {
                    outcome.add(o);
                    events.add(e);
                  }

                  @Override
                  public void abandonedThreadReturned(JobRun r) {}
                }, config.listener, reg.timeoutNanos(), new RunSupport(dataSource, store, config.progressNanos));
            run.run();
            writer.write(outcome);
          }
        }
      } finally {
        Borrowed.transaction(dataSource, true, c -> {
          store.deregisterWorker(c, id);
          return null;
        });
      }
    } catch (SQLException e) {
      throw new PgQueueException("drain failed", e);
    } finally {
      if (callerInterrupted) {
        Thread.currentThread().interrupt(); // the runs clear stray interrupts; this one was the caller's
      }
    }
    return events;
  }

  /** Heartbeats a drain's registration from a daemon thread, each heartbeat interval, until closed. */
  private final class DrainHeartbeat implements AutoCloseable {
    private final long workerId;
    private final Thread thread;
    /** Written by the draining thread at close, read by the heartbeat thread. */
    private volatile boolean stopping;

    DrainHeartbeat(long workerId) {
      this.workerId = workerId;
      this.thread = new Thread(this::loop, threadPrefix + "-drain-heartbeat");
      thread.setDaemon(true);
      thread.start();
    }

    private void loop() {
      while (!stopping) {
        try {
          TimeUnit.NANOSECONDS.sleep(config.heartbeatNanos);
        } catch (InterruptedException e) {
          return;
        }
        try {
          if (!Borrowed.transaction(dataSource, true, c -> store.heartbeat(c, workerId))) {
            log.warn("pgqueue: drain's registration {} is gone (judged dead by a peer); the job it runs"
                + " may run again elsewhere", workerId);
            return;
          }
        } catch (SQLException | RuntimeException e) {
          log.warn("pgqueue: drain could not heartbeat worker {}; it tries again in {} ms", workerId,
              TimeUnit.NANOSECONDS.toMillis(config.heartbeatNanos), e);
        }
      }
    }

    @Override
    public void close() {
      stopping = true;
      thread.interrupt();
      try {
        thread.join(TimeUnit.NANOSECONDS.toMillis(config.heartbeatNanos) + 5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
