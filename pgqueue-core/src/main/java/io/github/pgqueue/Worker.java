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
 * Worker worker = Worker.builder(dataSource)
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
 * well, so they also work where NOTIFY is not delivered (PgBouncer in transaction mode).
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
 * control connection); handlers use whatever connections they like.
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
  /** Default time discarded jobs are kept before the worker prunes them. */
  public static final Duration DEFAULT_DISCARDED_RETENTION = Duration.ofDays(7);

  private static final Logger log = LoggerFactory.getLogger(Worker.class);
  private static final AtomicInteger WORKER_NUMBERS = new AtomicInteger();

  // Set once by the constructor and immutable: safe to read from any thread.
  private final Config config;
  private final DataSource dataSource;
  private final JobStore store;
  private final PayloadCodec codec;
  /** Shared by the worker's threads; its fields are volatile or atomic. */
  private final WorkerState state;
  private final JobListener listener;
  private final String threadPrefix;
  /**
   * The start/close state and the {@link Running} parts of a start, published under its lock.
   * Every other mutable thing lives in {@link Running} (final fields, built before any of its
   * threads starts) or in the parts it owns.
   */
  private final Lifecycle<Running> lifecycle = new Lifecycle<>("worker");

  private Worker(Builder b) {
    this.config = new Config(b);
    this.dataSource = b.dataSource;
    this.store = new JobStore(new Sql(b.schema));
    this.codec =
        new PayloadCodec(b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper(), Integer.MAX_VALUE);
    this.state = new WorkerState(b.maxAbandonedThreads, b.staleAfter.toNanos());
    this.listener = combine(List.copyOf(b.listeners));
    this.threadPrefix = "pgqueue-worker-" + WORKER_NUMBERS.incrementAndGet();
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

  /**
   * A builder for a worker that claims from {@code dataSource}'s database.
   *
   * @param dataSource a connection pool for claims and outcome writes
   * @return the builder
   */
  public static Builder builder(DataSource dataSource) {
    return new Builder(dataSource);
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
      int installed = Borrowed.transaction(dataSource, true, c -> Migrator.installedVersion(c, config.schema));
      if (installed < Migrator.latestVersion()) {
        throw new SchemaVersionException(config.schema, installed, Migrator.latestVersion());
      }
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
    private final List<Thread> fetcherThreads;
    private final Thread shutdownHook;

    Running() {
      if (config.executor != null) {
        ownExecutor = null;
        executor = config.executor;
      } else {
        ownExecutor = Executors.newCachedThreadPool(daemonThreads(threadPrefix + "-job-"));
        executor = ownExecutor;
      }
      Map<String, Fetcher> fs = new LinkedHashMap<>();
      completer = new Completer(dataSource, store);
      watchdog = new Watchdog(config.graceNanos, state);
      String[] names = config.registrations.keySet().toArray(new String[0]);
      for (Map.Entry<String, Integer> q : config.queues.entrySet()) {
        fs.put(
            q.getKey(),
            new Fetcher(q.getKey(), q.getValue(), config.bufferFactor, config.pollNanos, names,
                dataSource, store, this::launch, completer, state, config.staleNanos));
      }
      fetchers = Collections.unmodifiableMap(fs);
      Map<String, QueueSink> ss = new LinkedHashMap<>();
      List<Thread> ts = new ArrayList<>();
      for (Fetcher f : fs.values()) {
        ss.put(f.queue, new QueueSink(f));
        Thread t = new Thread(f, threadPrefix + "-fetch-" + f.queue);
        t.setDaemon(true);
        ts.add(t);
      }
      sinks = Map.copyOf(ss);
      fetcherThreads = List.copyOf(ts);
      control =
          new ControlLoop(config, dataSource, store, state, Map.copyOf(fs),
              config.queues.keySet().toArray(new String[0]), names);
      maintenance = new Maintenance(config, dataSource, store, state, Map.copyOf(fs), listener);
      shutdownHook = config.shutdownHook ? new Thread(Worker.this::close, threadPrefix + "-shutdown-hook") : null;
      // Every field is set: only now start threads that read them.
      try {
        completer.start(threadPrefix + "-completer");
        watchdog.start(threadPrefix + "-watchdog");
        control.start(threadPrefix + "-control");
        maintenance.start(threadPrefix + "-maintenance");
        for (Thread t : fetcherThreads) {
          t.start();
        }
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
        fetcher.jobDone();
      }
    }

    private void runSlot(ClaimedJob first, Fetcher fetcher) {
      QueueSink sink = sinks.get(fetcher.queue);
      ClaimedJob job = first;
      while (job != null) {
        Registration<?> reg = config.registrations.get(job.name());
        JobRun run = new JobRun(job, reg, codec, sink, listener, reg.timeoutNanos);
        watchdog.started(run);
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
      long deadline = System.nanoTime() + config.shutdownNanos;
      state.closing();
      int released = 0;
      for (Fetcher f : fetchers.values()) {
        for (ClaimedJob job : f.close()) {
          completer.submit(Outcome.release(job));
          released++;
        }
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
        // A claim still in flight must end before the completer stops and the registration goes:
        // its jobs are released (uncharged) through the completer. Past this bounded wait, its
        // release is written directly when the claim returns (see Completer.submit).
        long claimsDeadline = System.nanoTime() + FETCHER_STOP_WAIT_NANOS;
        for (Thread t : fetcherThreads) {
          long left2 = claimsDeadline - System.nanoTime();
          if (left2 > 0) {
            t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left2)));
          }
          if (t.isAlive()) {
            log.warn("pgqueue: {} is still claiming at shutdown; the jobs it claims will be released as it returns",
                t.getName());
          }
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
      try {
        watchdog.stop();
        completer.stop(COMPLETER_STOP_WAIT_MILLIS);
        maintenance.stop(CONTROL_STOP_WAIT_MILLIS);
        control.stop(CONTROL_STOP_WAIT_MILLIS);
      } catch (InterruptedException e) {
        interrupted = true;
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
  /** How long close() lets the control thread end and deregister. */
  static final long CONTROL_STOP_WAIT_MILLIS = 5_000;

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
   * timeout, the timeout grace and about 30 seconds more. A closed worker cannot be started again.
   */
  @Override
  public void close() {
    long bound = config.shutdownNanos + config.graceNanos + FETCHER_STOP_WAIT_NANOS
        + TimeUnit.MILLISECONDS.toNanos(COMPLETER_STOP_WAIT_MILLIS + 2 * CONTROL_STOP_WAIT_MILLIS + 5_000);
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
   * Runs due jobs inline on the calling thread, one at a time, until none is due or {@code maxJobs}
   * have run; returns what happened to each. For tests and scripts: no background threads, no
   * timeouts, and outcomes are written before the next job starts. Call it on a worker that is not
   * started.
   *
   * @param maxJobs the most jobs to run, so a job that snoozes itself cannot loop forever
   * @return one outcome event per job (SUCCEEDED, RETRIED, DISCARDED or SNOOZED), in run order
   * @throws IllegalStateException if the worker is started
   * @throws SchemaVersionException if the schema is missing or too old
   * @throws PgQueueException if the database fails
   */
  public List<JobEvent> drain(int maxJobs) {
    if (lifecycle.isActive()) {
      throw new IllegalStateException("drain() runs jobs inline and needs a worker that is not started");
    }
    List<JobEvent> events = new ArrayList<>();
    String[] names = config.registrations.keySet().toArray(new String[0]);
    Completer writer = new Completer(dataSource, store);
    boolean callerInterrupted = Thread.currentThread().isInterrupted();
    // Each statement on a connection borrowed for it alone and committed (Borrowed): drain holds
    // no connection while a handler runs, so it works on a pool of one connection too.
    try {
      int installed = Borrowed.transaction(dataSource, true, c -> Migrator.installedVersion(c, config.schema));
      if (installed < Migrator.latestVersion()) {
        throw new SchemaVersionException(config.schema, installed, Migrator.latestVersion());
      }
      long id = Borrowed.transaction(dataSource, true,
          c -> store.registerWorker(c, "drain", ProcessHandle.current().pid(),
              config.queues.keySet().toArray(new String[0]), names,
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
            Registration<?> reg = config.registrations.get(job.name());
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
                }, listener, reg.timeoutNanos);
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

  /** Claim statements run and jobs claimed, over all queues since start (for the benchmark). */
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

  private static ThreadFactory daemonThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /** A handler with its type and settings resolved. */
  record Registration<T>(JobType<T> type, JobHandler<T> handler, Backoff backoff, long timeoutNanos) {
    @SuppressWarnings("unchecked")
    void invoke(Object payload, JobContext context) throws Exception {
      handler.handle((T) payload, context);
    }
  }

  /** The sealed settings of one worker. */
  static final class Config {
    final String schema;
    final Map<String, Registration<?>> registrations;
    final Map<String, Integer> queues;
    final Executor executor;
    final long pollNanos;
    final long heartbeatNanos;
    final long staleNanos;
    final long graceNanos;
    final long shutdownNanos;
    final int bufferFactor;
    final long retentionMillis;
    final ConnectionFactory dedicatedConnection;
    final boolean shutdownHook;

    Config(Builder b) {
      this.schema = b.schema;
      Map<String, Registration<?>> regs = new LinkedHashMap<>();
      for (Builder.Handler<?> h : b.handlers.values()) {
        regs.put(h.type().name(), h.resolve(b));
      }
      this.registrations = Map.copyOf(regs);
      this.queues = b.queues.isEmpty() ? Map.of(EnqueueOptions.DEFAULT_QUEUE, DEFAULT_CONCURRENCY) : Map.copyOf(b.queues);
      this.executor = b.executor;
      this.pollNanos = b.pollInterval.toNanos();
      this.heartbeatNanos = b.heartbeatInterval.toNanos();
      this.staleNanos = b.staleAfter.toNanos();
      this.graceNanos = b.timeoutGrace.toNanos();
      this.shutdownNanos = b.shutdownTimeout.toNanos();
      this.bufferFactor = b.bufferFactor;
      this.retentionMillis = b.discardedRetention.toMillis();
      this.dedicatedConnection = b.dedicatedConnection;
      this.shutdownHook = b.shutdownHook;
    }

    /** Prune every half retention, between once a second and once every ten minutes. */
    long pruneEveryNanos() {
      long half = TimeUnit.MILLISECONDS.toNanos(retentionMillis) / 2;
      return Math.max(TimeUnit.SECONDS.toNanos(1), Math.min(TimeUnit.MINUTES.toNanos(10), half));
    }
  }

  /**
   * Configures a {@link Worker}. Each setter validates its argument at once and throws {@link
   * IllegalArgumentException} naming the setting and the value; {@link #build()} checks the
   * settings against each other.
   */
  public static final class Builder {
    private final DataSource dataSource;
    private String schema = Migrator.DEFAULT_SCHEMA;
    private ObjectMapper objectMapper;
    private final Map<String, Handler<?>> handlers = new LinkedHashMap<>();
    private final Map<String, Integer> queues = new LinkedHashMap<>();
    private Executor executor;
    private Duration pollInterval = DEFAULT_POLL_INTERVAL;
    private Duration heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL;
    private Duration staleAfter = DEFAULT_STALE_AFTER;
    private Duration jobTimeout = DEFAULT_JOB_TIMEOUT;
    private Duration timeoutGrace = DEFAULT_TIMEOUT_GRACE;
    private Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;
    private int bufferFactor = DEFAULT_BUFFER_FACTOR;
    private int maxAbandonedThreads = DEFAULT_MAX_ABANDONED_THREADS;
    private Duration discardedRetention = DEFAULT_DISCARDED_RETENTION;
    private Backoff backoff = Backoff.DEFAULT;
    private final List<JobListener> listeners = new ArrayList<>();
    private ConnectionFactory dedicatedConnection;
    private boolean shutdownHook;

    private Builder(DataSource dataSource) {
      this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    }

    record Handler<T>(JobType<T> type, JobHandler<T> handler, HandlerOptions options) {
      Registration<T> resolve(Builder b) {
        Duration timeout = options.timeout() != null ? options.timeout() : b.jobTimeout;
        Backoff bo = options.backoff() != null ? options.backoff() : b.backoff;
        return new Registration<>(type, handler, bo, timeout.toNanos());
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
      if (handlers.containsKey(type.name())) {
        throw new IllegalArgumentException(
            "a handler for job name \"" + type.name() + "\" is already registered");
      }
      handlers.put(type.name(), new Handler<>(type, handler, options));
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
     * The schema holding pgqueue's tables. Defaults to {@value Migrator#DEFAULT_SCHEMA}.
     *
     * @param schema a lowercase SQL identifier
     * @return this builder
     * @throws IllegalArgumentException if invalid
     */
    public Builder schema(String schema) {
      this.schema = Identifiers.schema(schema);
      return this;
    }

    /**
     * The Jackson mapper that decodes payloads. Defaults to pgqueue's (java.time support, unknown
     * properties ignored). A mapper with default typing is refused.
     *
     * @param objectMapper the mapper
     * @return this builder
     * @throws IllegalArgumentException if default typing is active
     */
    public Builder objectMapper(ObjectMapper objectMapper) {
      Objects.requireNonNull(objectMapper, "objectMapper");
      PayloadCodec.refuseDefaultTyping(objectMapper);
      this.objectMapper = objectMapper;
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
      if (handlers.isEmpty()) {
        throw new IllegalArgumentException("a worker needs at least one handler: call handle(type, handler)");
      }
      if (staleAfter.compareTo(heartbeatInterval.multipliedBy(3)) < 0) {
        throw new IllegalArgumentException(
            "staleAfter must be at least three heartbeat intervals (" + heartbeatInterval.multipliedBy(3)
                + "), got: " + staleAfter);
      }
      return new Worker(this);
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
