package io.github.pgqueue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.internal.Borrowed;
import io.github.pgqueue.internal.Identifiers;
import io.github.pgqueue.internal.Lifecycle;
import io.github.pgqueue.internal.Settings;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Claims due jobs and runs them: the worker pillar.
 *
 * <pre>{@code
 * JobQueue queue = JobQueue.create(dataSource);   // schema and payload mapper are set here, once
 * Worker worker = Worker.builder(queue)
 *     .handle(SEND_EMAIL, (email, ctx) -> mailer.send(email))
 *     .queue("default", 10).queue("mail", 5)
 *     .build();
 * worker.start();
 * ...
 * worker.close();   // graceful: stops claiming, lets running jobs finish
 * }</pre>
 *
 * <p><b>How it works.</b> Each queue has its own claim loop and its own concurrency, so a busy
 * queue cannot starve another. A claim takes many due jobs in one statement ({@code UPDATE ...
 * FROM (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)}), in priority order (higher first), then run
 * time, then id, and only jobs whose names this worker has handlers for: a job nobody here can run
 * waits for a worker that can. Outcomes are written in batches ({@code DELETE} on success). Idle
 * workers wake within milliseconds through LISTEN/NOTIFY on one dedicated connection, and poll as
 * well, so they also work where NOTIFY is not delivered (PgBouncer in transaction mode). A job that
 * a {@link JobQueue} of the same JVM, on the same {@code DataSource} object and schema, commits
 * itself wakes the worker in-process at once, without the NOTIFY's round trip.
 *
 * <p><b>Failures.</b> Whatever a handler throws ({@link Error}s included) is recorded on the job,
 * which is retried after the {@link Backoff} until its attempts run out and then discarded (kept
 * with its payload and errors). A payload that cannot be decoded is discarded at once. A handler
 * past its timeout is interrupted and, after a grace period, abandoned: the attempt counts as
 * timed out and the job is retried. User code that misbehaves is contained: a {@code Backoff}
 * that throws or returns null is replaced by the default for that retry (the error says so), an
 * exception that cannot even be printed is recorded by its class, a throwing listener is logged,
 * and no worker thread dies of any of it.
 *
 * <p><b>Crashes.</b> The worker registers itself, with its own heartbeat interval and stale
 * threshold, and heartbeats on its dedicated connection by the database clock. Jobs held by a
 * worker whose heartbeat is older than its own stale threshold are returned to the queue by any
 * other worker's rescuer, counting the lost attempt; workers with different settings may share a
 * schema. A worker stops claiming once its last heartbeat is half its threshold old. Delivery is
 * at-least-once: a crash or a timeout can make a job run twice, never zero times.
 *
 * <p><b>Outages.</b> When the database is unreachable the worker logs, backs off (capped at a few
 * seconds) and carries on when it is back; it never exits on a transient error.
 *
 * <p><b>Connections.</b> Claims and outcome writes borrow connections from the {@link DataSource}
 * (size its pool at least the number of queues + 3: claims, outcomes, maintenance, and the held
 * control connection; plus one per running {@linkplain Builder#handleInTransaction transactional
 * handler}, which holds its connection for its whole run); handlers use whatever connections they like.
 * LISTEN and the heartbeat use one dedicated connection, from {@link
 * Builder#dedicatedConnection(ConnectionFactory)} if given, else held from the data source for the
 * worker's life.
 *
 * <p>The worker never migrates: {@link #start()} fails with {@link SchemaVersionException} if the
 * schema is missing or older than this code.
 */
public final class Worker implements AutoCloseable {

  /** Default concurrency of a queue. */
  public static final int DEFAULT_CONCURRENCY = 10;
  /** Default poll interval when no NOTIFY arrives. */
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofSeconds(1);
  /** Default heartbeat interval. */
  public static final Duration DEFAULT_HEARTBEAT_INTERVAL = Duration.ofSeconds(5);
  /** Default age of a heartbeat after which a worker counts as dead. */
  public static final Duration DEFAULT_STALE_AFTER = Duration.ofSeconds(30);
  /** Default time one attempt may run. */
  public static final Duration DEFAULT_JOB_TIMEOUT = Duration.ofMinutes(5);
  /** Default wait after the timeout interrupt before the attempt is abandoned. */
  public static final Duration DEFAULT_TIMEOUT_GRACE = Duration.ofSeconds(5);
  /** Default time {@link #close()} lets running jobs finish. */
  public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(30);
  /** Default cap of the local buffer, in multiples of a queue's concurrency. */
  public static final int DEFAULT_BUFFER_FACTOR = 4;
  /** Default number of abandoned handler threads past which the worker stops claiming. */
  public static final int DEFAULT_MAX_ABANDONED_THREADS = 10;
  /** Default least time between two progress writes of one attempt ({@link JobContext#progress}). */
  public static final Duration DEFAULT_PROGRESS_INTERVAL = Duration.ofSeconds(1);
  /**
   * Default interval of the throughput rollup's flush ({@link Builder#rollupInterval}): the worker
   * adds its outcome counts to {@code job_rollups} at most this often.
   */
  public static final Duration DEFAULT_ROLLUP_INTERVAL = Duration.ofSeconds(10);
  /** Default time discarded jobs are kept before the worker prunes them. */
  public static final Duration DEFAULT_DISCARDED_RETENTION = Duration.ofDays(7);

  private static final Logger log = LoggerFactory.getLogger(Worker.class);
  private static final AtomicInteger WORKER_NUMBERS = new AtomicInteger();

  // Set once by the constructor and immutable: safe to read from any thread.
  private final WorkerConfig config;
  private final DataSource dataSource;
  private final JobStore store;
  private final PayloadCodec codec;
  /** Shared by the worker's threads; its fields are volatile or atomic. */
  private final WorkerState state;
  private final JobListener listener;
  private final String threadPrefix;
  /** What attempts borrow from the worker: its data source and statements. */
  private final RunSupport support;
  /**
   * The start/close state and the {@link Running} parts of a start, published under its lock.
   * Every other mutable thing lives in {@link Running} (final fields, built before any of its
   * threads starts) or in the parts it owns.
   */
  private final Lifecycle<Running> lifecycle = new Lifecycle<>("worker");

  private Worker(WorkerConfig config) {
    this.config = config;
    // The shared settings come from the queue: one place for the schema and the payload codec.
    this.dataSource = config.dataSource();
    this.store = new JobStore(new Sql(config.schema));
    this.codec = config.codec();
    this.state = new WorkerState(config.maxAbandonedThreads, config.staleNanos);
    this.listener = config.listener;
    this.threadPrefix = "pgqueue-worker-" + WORKER_NUMBERS.incrementAndGet();
    this.support = new RunSupport(dataSource, store, config.progressNanos);
  }

  /**
   * A builder for a worker that runs the jobs of {@code queue}: it claims from the queue's data
   * source, in the queue's schema, and decodes payloads with the queue's codec (its Jackson
   * mapper), so the settings that must agree between the producer and the worker are set once, on
   * the {@link JobQueue.Builder}.
   *
   * @param queue the queue whose jobs this worker runs
   * @return the builder
   */
  public static Builder builder(JobQueue queue) {
    return new Builder(queue);
  }

  /**
   * A builder for a worker on {@code dataSource} with the queue defaults (schema {@value
   * Migrator#DEFAULT_SCHEMA}, the default Jackson mapper): the same as {@code
   * builder(JobQueue.create(dataSource))}. For another schema or mapper, build a {@link JobQueue}
   * and use {@link #builder(JobQueue)}.
   *
   * @param dataSource a connection pool for claims and outcome writes
   * @return the builder
   */
  public static Builder builder(DataSource dataSource) {
    return builder(JobQueue.create(dataSource));
  }

  /**
   * Starts claiming and running jobs in background threads, and returns. Checks the schema first.
   * If the database cannot be reached yet, logs and keeps trying in the background.
   *
   * <p>Lifecycle rules (the same for the cron scheduler): calling {@code start()} again while the
   * worker is starting or running does nothing; a {@code start()} that throws leaves nothing
   * running and may be retried; {@code start()} after {@link #close()} throws. Safe to call from
   * any thread, concurrently with {@code close()}.
   *
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws IllegalStateException if the worker was closed (also when closed while starting)
   */
  public void start() {
    lifecycle.start(() -> {
      checkSchemaUnlessUnreachable();
      return new Running();
    }, Running::stop);
  }

  private void checkSchemaUnlessUnreachable() {
    try {
      config.requireCurrentSchema();
    } catch (SQLException e) {
      log.warn("pgqueue: cannot reach the database to check the schema; the worker will keep trying", e);
    }
  }

  /**
   * Everything one start creates: built completely (final fields) before any of its threads starts,
   * so each thread sees it whole; stopped once, by {@link #close()}.
   */
  private final class Running {
    private final Executor executor;
    /** The executor the worker made for itself (shut down at close), or null for the user's. */
    private final ExecutorService ownExecutor;
    private final Completer completer;
    private final Watchdog watchdog;
    private final ControlLoop control;
    /** Rescue, stale registrations and pruning, on pool connections off the heartbeat's path. */
    private final Maintenance maintenance;
    private final Map<String, Fetcher> fetchers;
    private final Map<String, QueueSink> sinks;
    private final Thread shutdownHook;
    /** The throughput rollup, or null when turned off. */
    private final Rollups rollups;
    /** What the attempts and maintenance report their events to: the rollup, then the user's listeners. */
    private final JobListener events;

    Running() {
      if (config.executor != null) {
        ownExecutor = null;
        executor = config.executor;
      } else {
        ownExecutor = Executors.newCachedThreadPool(daemonThreads(threadPrefix + "-job-"));
        executor = ownExecutor;
      }
      if (config.rollupNanos > 0) {
        rollups = new Rollups(dataSource, store.sql, config.rollupNanos, state::workerId);
        events = withRollups(rollups, listener);
      } else {
        rollups = null;
        events = listener;
      }
      // A written batch frees global slots: a fetcher held back by its queue's global limit claims
      // again at once rather than at its next poll (fs is filled before the completer starts).
      Map<String, Fetcher> fs = new LinkedHashMap<>();
      completer = new Completer(dataSource, store, batch -> {
        Map<String, Fetcher> byQueue = fs;
        String last = null;
        Fetcher f = null;
        for (Outcome o : batch) {
          String q = o.job().queue();
          if (!q.equals(last)) {
            f = byQueue.get(q);
            if (f != null) {
              f.slotsFreed();
            }
            last = q;
          }
          if (f != null) {
            f.outcomeWritten(o.job());
          }
        }
      });
      watchdog = new Watchdog(config.graceNanos, state);
      String[] names = config.jobNames();
      for (Map.Entry<String, Integer> q : config.queues.entrySet()) {
        fs.put(
            q.getKey(),
            new Fetcher(q.getKey(), q.getValue(), config.bufferFactor, config.pollNanos, names,
                dataSource, store, this::launch, completer, state, config.staleNanos));
      }
      fetchers = Collections.unmodifiableMap(fs);
      Map<String, QueueSink> ss = new LinkedHashMap<>();
      for (Fetcher f : fs.values()) {
        ss.put(f.queue, new QueueSink(f));
      }
      sinks = Map.copyOf(ss);
      control =
          new ControlLoop(config, dataSource, store, state, Map.copyOf(fs),
              config.queueNames(), names, watchdog::cancel);
      maintenance = new Maintenance(config, dataSource, store, state, Map.copyOf(fs), events, watchdog);
      shutdownHook = config.shutdownHook ? new Thread(Worker.this::close, threadPrefix + "-shutdown-hook") : null;
      // Every field is set: only now start threads that read them. Each part is running before
      // the parts that hand it work: the completer (fetchers and handlers submit outcomes to it),
      // the watchdog (handlers report to it), the control loop (it registers the worker, which
      // claims wait for), maintenance, and the fetchers last.
      try {
        completer.start(threadPrefix + "-completer");
        watchdog.start(threadPrefix + "-watchdog");
        control.start(threadPrefix + "-control");
        maintenance.start(threadPrefix + "-maintenance");
        if (rollups != null) {
          rollups.start(threadPrefix + "-rollup");
        }
        for (Fetcher f : fetchers.values()) {
          f.start(threadPrefix + "-fetch-" + f.queue);
        }
        // Enqueues committed by a JobQueue of this JVM on the same DataSource and schema now
        // wake the fetchers at once (LocalWake); stop() removes them first thing.
        LocalWake.register(dataSource, config.schema, fetchers.values());
        if (shutdownHook != null) {
          Runtime.getRuntime().addShutdownHook(shutdownHook);
        }
      } catch (RuntimeException | Error e) {
        // A start that fails half way (no more threads, the JVM already shutting down) leaves
        // nothing running.
        try {
          stop();
        } catch (RuntimeException | Error again) {
          e.addSuppressed(again);
        }
        throw e;
      }
      log.info("pgqueue: worker started: queues {}, job names {}", config.queues, config.registrations.keySet());
    }

    /**
     * Starts a task for a claimed job on the executor. The task then keeps its thread busy with the
     * queue's buffered jobs, one after another, until the buffer is empty: a thread hand-off per
     * job would cost more than a noop job itself.
     */
    private void launch(ClaimedJob job, Fetcher fetcher) {
      try {
        executor.execute(() -> runSlot(job, fetcher));
      } catch (RejectedExecutionException e) {
        log.warn("pgqueue: executor rejected job {}; releasing it", job.id(), e);
        completer.submit(Outcome.release(job));
        fetcher.entered();
        fetcher.jobDone();
      }
    }

    private void runSlot(ClaimedJob first, Fetcher fetcher) {
      PickupProbe.at(PickupProbe.Point.SLOT_ENTERED, 0);
      QueueSink sink = sinks.get(fetcher.queue);
      ClaimedJob job = first;
      while (job != null) {
        Registration<?> reg = config.registrations.get(job.name());
        JobRun run = new JobRun(job, reg, codec, sink, events, reg.timeoutNanos, support);
        watchdog.started(run);
        fetcher.entered();
        try {
          run.run();
        } catch (Throwable t) {
          // JobRun contains what user code throws; should it still fail, the slot must not leak.
          JobRun.logUserFailure(log, "pgqueue: running " + run + " failed unexpectedly", t);
          if (!run.isSettled()) {
            run.abandonForShutdown();
          }
        }
        if (run.settledElsewhere()) {
          return; // abandoned: the watchdog or shutdown freed this slot; this thread takes no more work
        }
        job = fetcher.next();
      }
    }

    /** Waits until no slot of any queue is in use, or the deadline. */
    private void awaitRunning(long deadlineNanos) throws InterruptedException {
      while (inFlight() > 0 && System.nanoTime() - deadlineNanos < 0) {
        Thread.sleep(10);
      }
    }

    private int inFlight() {
      int n = 0;
      for (Fetcher f : fetchers.values()) {
        n += f.running();
      }
      return n;
    }

    /** See {@link Worker#close()}: the order here is what makes its promises hold. */
    void stop() {
      LocalWake.deregister(dataSource, config.schema, fetchers.values());
      long deadline = System.nanoTime() + config.shutdownNanos;
      state.closing();
      int released = 0;
      for (Fetcher f : fetchers.values()) {
        released += f.stopClaiming();
      }
      if (released > 0) {
        log.info("pgqueue: released {} claimed jobs that had not started", released);
      }
      boolean interrupted = false;
      try {
        awaitRunning(deadline);
        List<JobRun> left = new ArrayList<>(watchdog.running());
        if (!left.isEmpty()) {
          log.warn("pgqueue: {} jobs still running at the shutdown timeout; interrupting them", left.size());
          for (JobRun run : left) {
            run.stopped = true;
            run.interrupt();
          }
          awaitRunning(System.nanoTime() + config.graceNanos);
          for (JobRun run : new ArrayList<>(watchdog.running())) {
            if (run.abandonForShutdown()) {
              log.warn("pgqueue: {} ignored its interrupt; returned it to the queue while its thread still runs", run);
            }
          }
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      // A claim still in flight must end before the completer stops and the registration goes:
      // its jobs are released (uncharged) through the completer. Past this bounded wait, its
      // release is written directly when the claim returns (see Completer.submit).
      long claimsDeadline = System.nanoTime() + FETCHER_STOP_WAIT_NANOS;
      for (Fetcher f : fetchers.values()) {
        f.stop(TimeUnit.NANOSECONDS.toMillis(claimsDeadline - System.nanoTime()));
      }
      // Then the rest, in this order: the watchdog (no attempt is left to time out); the completer,
      // which writes the last outcomes (releases included) while the registration still holds the
      // jobs; maintenance; and the control loop last, which deletes the registration once nothing
      // of this worker is left to write. Each stop is bounded and none throws, so all of them run.
      try {
        watchdog.stop(WATCHDOG_STOP_WAIT_MILLIS);
        completer.stop(COMPLETER_STOP_WAIT_MILLIS);
        maintenance.stop(CONTROL_STOP_WAIT_MILLIS);
        // Every outcome event has been reported (attempts settled, maintenance ended) and the
        // registration still stands: write the last counts under this worker's id.
        if (rollups != null) {
          rollups.stop(CONTROL_STOP_WAIT_MILLIS);
        }
        control.stop(CONTROL_STOP_WAIT_MILLIS);
      } finally {
        if (ownExecutor != null) {
          ownExecutor.shutdownNow();
        }
        if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
          try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
          } catch (IllegalStateException ignored) {
            // The JVM is already shutting down.
          }
        }
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
      log.info("pgqueue: worker stopped");
    }

    /** Where the attempts of one queue report their outcome. */
    private final class QueueSink implements JobRun.Sink {
      private final Fetcher fetcher;

      QueueSink(Fetcher fetcher) {
        this.fetcher = fetcher;
      }

      @Override
      public void settled(JobRun run, Outcome outcome, JobEvent event) {
        watchdog.finished(run);
        if (!run.settledElsewhere()) {
          fetcher.handlerReturned(outcome.job());
        }
        completer.submit(outcome);
        if (run.settledElsewhere()) {
          fetcher.jobDone(); // the handler's thread is stuck or being stopped: free its slot here
        }
      }

      @Override
      public void abandonedThreadReturned(JobRun run) {
        state.abandonedReturned();
        log.info("pgqueue: the abandoned thread of {} returned; {} still stuck", run, state.abandoned());
        fetcher.wake();
      }
    }
  }

  /** How long close() waits for a claim in flight. */
  static final long FETCHER_STOP_WAIT_NANOS = TimeUnit.SECONDS.toNanos(10);
  /** How long close() lets the completer write the last outcomes. */
  static final long COMPLETER_STOP_WAIT_MILLIS = 10_000;
  /** How long close() lets the control thread end and deregister (and maintenance end). */
  static final long CONTROL_STOP_WAIT_MILLIS = 5_000;
  /** How long close() lets the watchdog end (it ends at once unless a check runs user code). */
  static final long WATCHDOG_STOP_WAIT_MILLIS = 1_000;

  /**
   * Stops the worker gracefully: stops claiming, returns claimed jobs that have not started to the
   * queue at once (without charging an attempt), lets running jobs finish for up to the shutdown
   * timeout, then interrupts the rest and returns them to the queue (without charging an attempt;
   * a handler that ignores the interrupt may still be running when another worker picks its job
   * up), waits for a claim still in flight and releases what it claimed (uncharged), writes every
   * outcome, and removes the worker's registration.
   *
   * <p>Idempotent; safe to call from any thread, including a shutdown hook, and at any time: before
   * {@link #start()} it only marks the worker closed; during a start it makes that start undo
   * itself. A concurrent call returns once the first has finished, waiting at most the shutdown
   * timeout, the timeout grace and about 50 seconds more. A closed worker cannot be started again.
   */
  @Override
  public void close() {
    long bound = config.shutdownNanos + config.graceNanos + FETCHER_STOP_WAIT_NANOS
        + TimeUnit.MILLISECONDS.toNanos(
            WATCHDOG_STOP_WAIT_MILLIS + COMPLETER_STOP_WAIT_MILLIS + 3 * CONTROL_STOP_WAIT_MILLIS
                + TimeUnit.SECONDS.toMillis(Rollups.QUERY_TIMEOUT_SECONDS) + 5_000);
    lifecycle.close(Running::stop, bound);
  }

  /**
   * Whether the worker is started, registered, not closing, its last heartbeat went through less
   * than half its stale threshold ago (so it may claim), and fewer abandoned handler threads are
   * stuck than the cap. Suitable for a health endpoint.
   *
   * @return true if healthy
   */
  public boolean isHealthy() {
    return lifecycle.isRunning()
        && state.workerId() != 0
        && state.heartbeatFresh()
        && !state.overAbandonCap();
  }

  /**
   * Whether LISTEN/NOTIFY was last proven to reach this worker. When false the worker relies on
   * polling.
   *
   * @return true if notifications arrive
   */
  public boolean isListening() {
    Running r = lifecycle.parts();
    return r != null && r.control.listening();
  }

  /**
   * The id of this worker's registration ({@code workers.id}, the {@code locked_by} of its jobs);
   * 0 until registered. It changes if the worker was judged dead and re-registered.
   *
   * @return the worker id
   */
  public long workerId() {
    return state.workerId();
  }

  /**
   * How many handler threads were abandoned past their timeout and grace and have not returned
   * yet. Past {@link Builder#maxAbandonedThreads} the worker stops claiming and {@link #isHealthy()}
   * turns false. Cheap (one atomic read); for metrics and health checks.
   *
   * @return the number of stuck handler threads, 0 when none
   */
  public int abandonedThreads() {
    return state.abandoned();
  }

  /**
   * The slots of each queue this worker serves, as they are now: its concurrency, the slots in use,
   * and the claimed jobs waiting in the local buffer for a slot. Before {@link #start()} and after
   * {@link #close()} every queue reports zero busy and zero buffered. Cheap (a short lock per
   * queue, no database access); for metrics and health checks.
   *
   * @return one entry per queue, sorted by queue name
   */
  public List<QueueSlots> slots() {
    Running r = lifecycle.parts();
    List<QueueSlots> out = new ArrayList<>(config.queues.size());
    for (String q : new java.util.TreeSet<>(config.queues.keySet())) {
      Fetcher f = r == null ? null : r.fetchers.get(q);
      out.add(new QueueSlots(q, config.queues.get(q), f == null ? 0 : f.running(), f == null ? 0 : f.buffered()));
    }
    return out;
  }

  /**
   * The slots of one queue of a worker, read by {@link Worker#slots()}.
   *
   * @param queue the queue
   * @param concurrency how many of its jobs the worker runs at once
   * @param busy slots in use: jobs running, including any whose handler is still being stopped
   * @param buffered claimed jobs waiting in the worker for a free slot (they hold their rows, so
   *     no other worker can take them meanwhile)
   */
  public record QueueSlots(String queue, int concurrency, int busy, int buffered) {
    /**
     * @throws NullPointerException if {@code queue} is null
     * @throws IllegalArgumentException if a number is negative
     */
    public QueueSlots {
      Objects.requireNonNull(queue, "queue");
      if (concurrency < 0 || busy < 0 || buffered < 0) {
        throw new IllegalArgumentException(
            "slot counts cannot be negative: concurrency " + concurrency + ", busy " + busy + ", buffered " + buffered);
      }
    }
  }

  /**
   * Runs due jobs inline on the calling thread, one at a time, until none is due or {@code maxJobs}
   * have run; returns what happened to each. For tests and scripts: no background threads, no
   * timeouts, and outcomes are written before the next job starts. Call it on a worker that is not
   * started.
   *
   * @param maxJobs the most jobs to run, so a job that snoozes itself cannot loop forever
   * @return one outcome event per job (SUCCEEDED, RETRIED, DISCARDED, CANCELLED or SNOOZED), in run order
   * @throws IllegalStateException if the worker is started
   * @throws SchemaVersionException if the schema is missing or too old
   * @throws PgQueueException if the database fails
   */
  public List<JobEvent> drain(int maxJobs) {
    if (lifecycle.isActive()) {
      throw new IllegalStateException("drain() runs jobs inline and needs a worker that is not started");
    }
    return new InlineRunner(config, store, threadPrefix).drain(maxJobs);
  }

  /** Claim statements run and jobs claimed, over all queues since start (for the benchmark). */
  /** The fetcher of {@code queue} while started, else null (tests). */
  Fetcher fetcher(String queue) {
    Running r = lifecycle.parts();
    return r == null ? null : r.fetchers.get(queue);
  }

  long[] claimCounters() {
    long claims = 0;
    long jobs = 0;
    Running r = lifecycle.parts();
    for (Fetcher f : r == null ? List.<Fetcher>of() : r.fetchers.values()) {
      claims += f.claims();
      jobs += f.claimedJobs();
    }
    return new long[] {claims, jobs};
  }

  /** The rollup counts first (it never throws), then the user's listeners, if any. */
  private static JobListener withRollups(Rollups rollups, JobListener user) {
    if (user == null) {
      return rollups;
    }
    return e -> {
      rollups.onEvent(e);
      user.onEvent(e);
    };
  }

  private static ThreadFactory daemonThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** A handler with its type and settings resolved. */
  record Registration<T>(
      JobType<T> type, JobHandler<T> handler, TransactionalJobHandler<T> txHandler, Backoff backoff,
      long timeoutNanos, List<JobInterceptor> interceptors) {
    Registration(JobType<T> type, JobHandler<T> handler, Backoff backoff, long timeoutNanos) {
      this(type, handler, null, backoff, timeoutNanos, List.of());
    }

    /** Whether the handler runs in a transaction that also completes the job. */
    boolean transactional() {
      return txHandler != null;
    }

    @SuppressWarnings("unchecked")
    void invoke(Object payload, JobContext context) throws Exception {
      handler.handle((T) payload, context);
    }

    @SuppressWarnings("unchecked")
    void invoke(Object payload, JobContext context, java.sql.Connection connection) throws Exception {
      txHandler.handle((T) payload, context, connection);
    }
  }

  /**
   * Configures a {@link Worker}. Each setter validates its argument at once and throws {@link
   * IllegalArgumentException} naming the setting and the value; {@link #build()} checks the
   * settings against each other.
   */
  public static final class Builder {
    // Package-private: WorkerConfig reads them when build() seals the settings. Owned by the
    // thread that configures the worker (a builder is not thread-safe); the worker itself reads
    // only the sealed copy.
    /** Gives the worker its data source, schema and payload codec. */
    final JobQueue queue;
    final Map<String, Handler<?>> handlers = new LinkedHashMap<>();
    final Map<String, Integer> queues = new LinkedHashMap<>();
    Executor executor;
    Duration pollInterval = DEFAULT_POLL_INTERVAL;
    Duration heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
    Duration staleAfter = DEFAULT_STALE_AFTER;
    Duration jobTimeout = DEFAULT_JOB_TIMEOUT;
    Duration timeoutGrace = DEFAULT_TIMEOUT_GRACE;
    Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;
    int bufferFactor = DEFAULT_BUFFER_FACTOR;
    int maxAbandonedThreads = DEFAULT_MAX_ABANDONED_THREADS;
    Duration discardedRetention = DEFAULT_DISCARDED_RETENTION;
    Duration progressInterval = DEFAULT_PROGRESS_INTERVAL;
    Duration rollupInterval = DEFAULT_ROLLUP_INTERVAL;
    Backoff backoff = Backoff.DEFAULT;
    final List<JobListener> listeners = new ArrayList<>();
    final List<JobInterceptor> interceptors = new ArrayList<>();
    /** Set by tests to decode with another codec than the queue's. */
    PayloadCodec codec;
    ConnectionFactory dedicatedConnection;
    boolean shutdownHook;

    private Builder(JobQueue queue) {
      this.queue = Objects.requireNonNull(queue, "queue");
    }

    /** One of {@code handler} and {@code txHandler} is set. */
    record Handler<T>(
        JobType<T> type, JobHandler<T> handler, TransactionalJobHandler<T> txHandler, HandlerOptions options) {
      /** This handler's registration: its own timeout and backoff, else the worker's. */
      Registration<T> resolve(Duration jobTimeout, Backoff backoff, List<JobInterceptor> interceptors) {
        Duration timeout = options.timeout() != null ? options.timeout() : jobTimeout;
        Backoff bo = options.backoff() != null ? options.backoff() : backoff;
        return new Registration<>(type, handler, txHandler, bo, timeout.toNanos(), List.copyOf(interceptors));
      }
    }

    /**
     * Registers the handler for a job type, with the worker's default timeout and backoff.
     *
     * @param type the job type
     * @param handler runs each job of the type
     * @param <T> the payload type
     * @return this builder
     * @throws IllegalArgumentException if a handler for the same name is already registered
     */
    public <T> Builder handle(JobType<T> type, JobHandler<T> handler) {
      return handle(type, handler, HandlerOptions.DEFAULTS);
    }

    /**
     * Registers the handler for a job type with its own timeout and backoff.
     *
     * @param type the job type
     * @param handler runs each job of the type
     * @param options per-type settings
     * @param <T> the payload type
     * @return this builder
     * @throws IllegalArgumentException if a handler for the same name is already registered
     */
    public <T> Builder handle(JobType<T> type, JobHandler<T> handler, HandlerOptions options) {
      Objects.requireNonNull(type, "type");
      Objects.requireNonNull(handler, "handler");
      Objects.requireNonNull(options, "options");
      return register(type, new Handler<>(type, handler, null, options));
    }

    /**
     * Registers a handler for a job type that runs in a transaction which also completes the job,
     * with the worker's default timeout and backoff. See {@link TransactionalJobHandler} for what
     * it guarantees; each running attempt holds one connection of the data source.
     *
     * @param type the job type
     * @param handler runs each job of the type, in the transaction it is given
     * @param <T> the payload type
     * @return this builder
     * @throws IllegalArgumentException if a handler for the same name is already registered
     */
    public <T> Builder handleInTransaction(JobType<T> type, TransactionalJobHandler<T> handler) {
      return handleInTransaction(type, handler, HandlerOptions.DEFAULTS);
    }

    /**
     * As {@link #handleInTransaction(JobType, TransactionalJobHandler)}, with the handler's own
     * timeout and backoff.
     *
     * @param type the job type
     * @param handler runs each job of the type, in the transaction it is given
     * @param options per-type settings
     * @param <T> the payload type
     * @return this builder
     * @throws IllegalArgumentException if a handler for the same name is already registered
     */
    public <T> Builder handleInTransaction(
        JobType<T> type, TransactionalJobHandler<T> handler, HandlerOptions options) {
      Objects.requireNonNull(type, "type");
      Objects.requireNonNull(handler, "handler");
      Objects.requireNonNull(options, "options");
      return register(type, new Handler<>(type, null, handler, options));
    }

    /** Adds a handler, refusing a second one for the same job name. */
    private Builder register(JobType<?> type, Handler<?> handler) {
      if (handlers.containsKey(type.name())) {
        throw new IllegalArgumentException(
            "a handler for job name \"" + type.name() + "\" is already registered");
      }
      handlers.put(type.name(), handler);
      return this;
    }

    /**
     * Runs a queue with the given concurrency (handlers in flight at once). Defaults to one queue,
     * {@value EnqueueOptions#DEFAULT_QUEUE}, at {@value Worker#DEFAULT_CONCURRENCY}; naming any
     * queue replaces that default, so name {@code "default"} too if you want it.
     *
     * @param name the queue name
     * @param concurrency between 1 and 1000
     * @return this builder
     * @throws IllegalArgumentException if the name or concurrency is invalid, or the queue is
     *     already configured
     */
    public Builder queue(String name, int concurrency) {
      Identifiers.queueName(name);
      if (concurrency < 1 || concurrency > 1000) {
        throw new IllegalArgumentException(
            "concurrency of queue \"" + name + "\" must be between 1 and 1000, got: " + concurrency);
      }
      if (queues.containsKey(name)) {
        throw new IllegalArgumentException("queue \"" + name + "\" is already configured");
      }
      queues.put(name, concurrency);
      return this;
    }

    /**
    /** The codec that decodes payloads; takes precedence over {@link #objectMapper}. */
    Builder codec(PayloadCodec codec) {
      this.codec = Objects.requireNonNull(codec, "codec");
      return this;
    }

    /**
     * Adds an interceptor that wraps each attempt on the thread that runs it, around decoding and
     * the handler (see {@link JobInterceptor} for its guarantees). Several nest in the order added,
     * the first outermost. Applies to every handler of the worker.
     *
     * @param interceptor the interceptor
     * @return this builder
     */
    public Builder interceptor(JobInterceptor interceptor) {
      interceptors.add(Objects.requireNonNull(interceptor, "interceptor"));
      return this;
    }

    /**
     * Where handlers run. Defaults to a cached pool of daemon threads owned by the worker. Pass
     * {@code Executors.newVirtualThreadPerTaskExecutor()} on Java 21+ for virtual threads. The
     * executor must not be bounded below the total concurrency, and should not queue: an abandoned
     * (stuck) handler keeps its thread.
     *
     * @param executor the executor
     * @return this builder
     */
    public Builder executor(Executor executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * How often an idle queue polls when no NOTIFY arrives. Defaults to 1 second.
     *
     * @param pollInterval between 10 ms and 1 hour
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder pollInterval(Duration pollInterval) {
      this.pollInterval = range("pollInterval", pollInterval, Duration.ofMillis(10), Duration.ofHours(1));
      return this;
    }

    /**
     * How often the worker heartbeats. Defaults to 5 seconds.
     *
     * @param heartbeatInterval between 10 ms and 10 minutes
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder heartbeatInterval(Duration heartbeatInterval) {
      this.heartbeatInterval =
          range("heartbeatInterval", heartbeatInterval, Duration.ofMillis(10), Duration.ofMinutes(10));
      return this;
    }

    /**
     * How old a worker's heartbeat may get before its jobs are rescued. Defaults to 30 seconds;
     * must be at least three heartbeat intervals.
     *
     * @param staleAfter between 30 ms and 1 day
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder staleAfter(Duration staleAfter) {
      this.staleAfter = range("staleAfter", staleAfter, Duration.ofMillis(30), Duration.ofDays(1));
      return this;
    }

    /**
     * How long one attempt may run, unless its handler's options say otherwise. Defaults to 5
     * minutes.
     *
     * @param jobTimeout positive
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder jobTimeout(Duration jobTimeout) {
      this.jobTimeout = Settings.checkPositive("jobTimeout", jobTimeout);
      return this;
    }

    /**
     * How long a handler interrupted at its timeout (or at shutdown) has to return before it is
     * abandoned. Defaults to 5 seconds.
     *
     * @param timeoutGrace positive
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder timeoutGrace(Duration timeoutGrace) {
      this.timeoutGrace = Settings.checkPositive("timeoutGrace", timeoutGrace);
      return this;
    }

    /**
     * How long {@link Worker#close()} lets running jobs finish before interrupting them. Defaults
     * to 30 seconds.
     *
     * @param shutdownTimeout zero or positive
     * @return this builder
     * @throws IllegalArgumentException if negative
     */
    public Builder shutdownTimeout(Duration shutdownTimeout) {
      if (shutdownTimeout == null || shutdownTimeout.isNegative()) {
        throw new IllegalArgumentException("shutdownTimeout must be zero or positive, got: " + shutdownTimeout);
      }
      this.shutdownTimeout = shutdownTimeout;
      return this;
    }

    /**
     * How far beyond its free slots a busy queue may claim, in multiples of its concurrency.
     * Defaults to {@value Worker#DEFAULT_BUFFER_FACTOR}; 0 disables the buffer (claim only free
     * slots). The buffer grows only while claims come back full and empties on the first short
     * claim; buffered jobs wait behind running ones.
     *
     * @param bufferFactor between 0 and 100
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder bufferFactor(int bufferFactor) {
      if (bufferFactor < 0 || bufferFactor > 100) {
        throw new IllegalArgumentException("bufferFactor must be between 0 and 100, got: " + bufferFactor);
      }
      this.bufferFactor = bufferFactor;
      return this;
    }

    /**
     * How many abandoned (stuck) handler threads the worker tolerates before it stops claiming
     * and reports unhealthy. Defaults to {@value Worker#DEFAULT_MAX_ABANDONED_THREADS}.
     *
     * @param maxAbandonedThreads at least 1
     * @return this builder
     * @throws IllegalArgumentException if below 1
     */
    public Builder maxAbandonedThreads(int maxAbandonedThreads) {
      if (maxAbandonedThreads < 1) {
        throw new IllegalArgumentException("maxAbandonedThreads must be at least 1, got: " + maxAbandonedThreads);
      }
      this.maxAbandonedThreads = maxAbandonedThreads;
      return this;
    }

    /**
     * How long discarded jobs are kept; the worker deletes older ones in small batches. Defaults
     * to 7 days; {@link Duration#ZERO} disables pruning.
     *
     * @param retention zero or positive
     * @return this builder
     * @throws IllegalArgumentException if negative
     */
    public Builder discardedRetention(Duration retention) {
      if (retention == null || retention.isNegative()) {
        throw new IllegalArgumentException("discardedRetention must be zero or positive, got: " + retention);
      }
      this.discardedRetention = retention;
      return this;
    }

    /**
     * The least time between two progress writes of one attempt: {@link JobContext#progress}
     * called more often keeps only the latest data, written by the next call after the interval
     * (or when the attempt fails). Defaults to 1 second.
     *
     * @param progressInterval between 10 ms and 1 hour
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder progressInterval(Duration progressInterval) {
      this.progressInterval =
          range("progressInterval", progressInterval, Duration.ofMillis(10), Duration.ofHours(1));
      return this;
    }

    /**
     * How often the worker adds the outcomes of its jobs (succeeded, retried, discarded, cancelled,
     * snoozed, rescued) to the {@code job_rollups} table, which {@link JobQueue#throughput} reads
     * for charts. Outcomes are counted in memory (no I/O per job) and written in one upsert per
     * interval, on a connection borrowed from the pool for that statement alone; never inside the
     * completer's or the heartbeat's statements. A failed write keeps the counts for the next one;
     * {@link Worker#close()} writes the last counts; a JVM killed without a graceful shutdown
     * loses at most the counts of the last interval. Defaults to {@link #DEFAULT_ROLLUP_INTERVAL}
     * (10 seconds); {@link Duration#ZERO} turns the rollup off (nothing counted, nothing written).
     *
     * @param rollupInterval zero, or between 1 second and 1 hour
     * @return this builder
     * @throws IllegalArgumentException if null, negative, or out of range
     */
    public Builder rollupInterval(Duration rollupInterval) {
      this.rollupInterval = Duration.ZERO.equals(rollupInterval)
          ? Duration.ZERO
          : range("rollupInterval", rollupInterval, Duration.ofSeconds(1), Duration.ofHours(1));
      return this;
    }

    /**
     * The wait between attempts, unless a handler's options say otherwise. Defaults to {@link
     * Backoff#DEFAULT}.
     *
     * @param backoff the backoff
     * @return this builder
     */
    public Builder backoff(Backoff backoff) {
      this.backoff = Objects.requireNonNull(backoff, "backoff");
      return this;
    }

    /**
     * Adds a listener for job events (metrics, tracing).
     *
     * @param listener the listener
     * @return this builder
     */
    public Builder listener(JobListener listener) {
      listeners.add(Objects.requireNonNull(listener, "listener"));
      return this;
    }

    /**
     * Where the worker opens its dedicated connection for LISTEN and heartbeats: a new physical
     * connection, not from a pool, with TCP keepalive on ({@code tcpKeepAlive=true}) and, behind
     * PgBouncer, pointing at PostgreSQL directly. Defaults to holding one connection from the data
     * source for the worker's life.
     *
     * @param factory opens the connection
     * @return this builder
     */
    public Builder dedicatedConnection(ConnectionFactory factory) {
      this.dedicatedConnection = Objects.requireNonNull(factory, "factory");
      return this;
    }

    /**
     * Whether to register a JVM shutdown hook that calls {@link Worker#close()}, so SIGTERM ends
     * the worker gracefully. Defaults to false.
     *
     * @param shutdownHook true to register it on start
     * @return this builder
     */
    public Builder shutdownHook(boolean shutdownHook) {
      this.shutdownHook = shutdownHook;
      return this;
    }

    /**
     * The worker, not started.
     *
     * @return the worker
     * @throws IllegalArgumentException if no handler is registered, or the stale threshold is
     *     under three heartbeat intervals
     */
    public Worker build() {
      return new Worker(new WorkerConfig(this));
    }

    private static Duration range(String setting, Duration value, Duration min, Duration max) {
      if (value == null || value.compareTo(min) < 0 || value.compareTo(max) > 0) {
        throw new IllegalArgumentException(
            setting + " must be between " + min + " and " + max + ", got: " + value);
      }
      return value;
    }
  }
}
