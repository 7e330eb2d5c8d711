package io.github.pgqueue.cron;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.PgQueueException;
import io.github.pgqueue.SchemaVersionException;
import io.github.pgqueue.internal.Lifecycle;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Enqueues a job for each firing of its {@link CronJob}s, exactly once per firing however many
 * cron processes run the same cron jobs, with no leader election.
 *
 * <pre>{@code
 * CronScheduler cron = CronScheduler.builder(queue, dataSource)
 *     .add(CronJob.of("nightly-report", Schedule.cron("0 3 * * *", ZoneId.of("Europe/Berlin")),
 *         NIGHTLY_REPORT, NightlyReport::new))
 *     .add(CronJob.of("sync-prices", Schedule.every(Duration.ofMinutes(5)), SYNC_PRICES, t -> new SyncPrices()))
 *     .build();
 * cron.start();
 * ...
 * cron.close();
 * }</pre>
 *
 * <p><b>Guarantees.</b> Each firing is claimed in the database in the same transaction as its
 * enqueue: the schedule's row in {@code cron_schedules} holds the last instant fired, and a
 * process claims the firing at instant {@code t} by moving it forward to {@code t} only if it is
 * still before {@code t}. So of all the processes that try a firing, exactly one enqueues it; and
 * because the row outlives the job, a worker that runs and deletes the job at once cannot let a
 * late process fire that instant again. The job's run time is the scheduled instant, never the
 * moment it was enqueued. A restart neither repeats a firing nor, within {@link
 * Builder#missedAfter missedAfter}, drops one; firings missed for longer are handled by the cron
 * job's {@link CatchUp} policy.
 *
 * <p><b>Registration.</b> At start each cron job's name is registered in the database. A name seen
 * for the first time starts from now (the database clock), so nothing fires for the past. If the
 * stored definition of a name differs from this process's, this process logs a warning naming
 * both, overwrites it, and re-anchors the schedule at now: the process started last defines a
 * schedule. A process whose definition is not the stored one stands down for that name (logging
 * one warning) and enqueues nothing for it, rather than fight. Removing a cron job from the code
 * stops it (its row stays); renaming one starts a new schedule.
 *
 * <p><b>Time.</b> The scheduler sleeps until the next firing of any of its cron jobs, by the
 * injected {@link Builder#clock clock}; while nothing is due, the only query is the admin poll,
 * one statement per {@link Builder#pollInterval pollInterval} (see {@link CronAdmin}). Interval schedules
 * fire on a grid anchored in the database, so every process computes the same instants. A process
 * whose clock runs ahead fires early (the job still runs at the scheduled instant); one whose
 * clock lags finds the firing already claimed.
 *
 * <p><b>Failures.</b> It never stops on a failure. When the database is unreachable it logs (the
 * first failure with its stack trace, then one line per 30 seconds while it lasts, and the
 * recovery), backs off between the {@link Builder#retryBackoff retryBackoff} bounds, and goes on;
 * a firing that came due meanwhile is enqueued when the database is back. When a cron job's
 * payload function throws or its enqueue fails, the transaction is rolled back, so the firing is
 * not lost: it is retried after a backoff of that cron job alone. Deadlocks and serialization
 * failures are retried at once.
 *
 * <p>The scheduler runs on one daemon thread of its own and borrows a connection from the {@link
 * DataSource} for each transaction. Being a daemon, the thread does not keep the JVM alive: a
 * process that only runs cron must keep its main thread waiting. Instances are thread-safe.
 */
public final class CronScheduler implements AutoCloseable {

  /** The shortest wait after a failure, unless told otherwise: one second. */
  public static final Duration DEFAULT_RETRY_MIN = Duration.ofSeconds(1);

  /** The longest wait after repeated failures, unless told otherwise: 30 seconds. */
  public static final Duration DEFAULT_RETRY_MAX = Duration.ofSeconds(30);

  /** How late a firing may be before it counts as missed, unless told otherwise: 10 seconds. */
  public static final Duration DEFAULT_MISSED_AFTER = Duration.ofSeconds(10);

  /** How long {@link #close()} waits for the transaction in progress to end: 10 seconds. */
  public static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

  /**
   * Default interval of the admin poll ({@link Builder#pollInterval}): how soon a scheduler serves
   * a {@link CronAdmin#triggerNow} request and notices a schedule enabled again.
   */
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofSeconds(5);

  private static final Logger log = LoggerFactory.getLogger(CronScheduler.class);
  private static final AtomicInteger THREADS = new AtomicInteger();

  private final JobQueue queue;
  private final List<CronJob<?>> jobs;
  private final CronRunner runner;
  /**
   * The start/close state and the scheduler's thread (the part a start creates), published under
   * its lock; the same rules as the worker's. Everything else here is final; the runner's own
   * state is confined to that thread.
   */
  private final Lifecycle<Thread> lifecycle = new Lifecycle<>("CronScheduler");

  private CronScheduler(Builder b, List<CronJob<?>> jobs) {
    this.queue = b.queue;
    this.jobs = jobs;
    this.runner =
        new CronRunner(b.queue, b.dataSource, b.clock, b.missedAfter, b.retryMin, b.retryMax,
            b.pollInterval, jobs);
  }

  /**
   * A builder.
   *
   * @param queue the queue the jobs are enqueued with (its schema, codec and size limits); each
   *     enqueue runs on the scheduler's own connection, in the transaction that claims the firing
   * @param dataSource where the scheduler gets its connections, typically a pool; it must reach
   *     the same database as {@code queue}
   * @return the builder
   * @throws IllegalArgumentException if either is null
   */
  public static Builder builder(JobQueue queue, DataSource dataSource) {
    return new Builder(queue, dataSource);
  }

  /**
   * Starts the scheduler's thread, which registers the cron jobs and then fires them. Returns at
   * once.
   *
   * <p>Checks the schema version first: if the pgqueue schema is missing or older than this code
   * (which needs {@code cron_schedules}), it throws and starts nothing. If the database cannot be
   * reached, it logs a warning and starts anyway; the thread keeps trying.
   *
   * <p>Lifecycle rules (the same as the worker's): calling {@code start()} again while the
   * scheduler is starting or running does nothing; a {@code start()} that throws leaves nothing
   * running and may be retried; {@code start()} after {@link #close()} throws. Safe to call from
   * any thread, concurrently with {@code close()}.
   *
   * @throws SchemaVersionException if the schema is missing or too old; the message names {@link
   *     Migrator}
   * @throws IllegalStateException if the scheduler was closed (also when closed while starting)
   */
  public void start() {
    lifecycle.start(() -> {
      try {
        queue.verifySchema();
      } catch (SchemaVersionException e) {
        throw e;
      } catch (PgQueueException e) {
        log.warn("pgqueue cron: could not check the schema version at start ({}); starting anyway,"
            + " the scheduler retries until the database answers", e.toString());
      }
      Thread t = new Thread(runner, "pgqueue-cron-" + THREADS.incrementAndGet());
      t.setDaemon(true);
      t.start();
      log.info("pgqueue cron: scheduler started on thread {} with {} cron job(s): {}",
          t.getName(), jobs.size(), jobs);
      return t;
    }, this::stop);
  }

  /**
   * Whether the scheduler has been started and not closed.
   *
   * @return true while running
   */
  public boolean isRunning() {
    Thread t = lifecycle.parts();
    return lifecycle.isRunning() && t != null && t.isAlive();
  }

  /**
   * The cron jobs of this scheduler, in the order they were added.
   *
   * @return an immutable list
   */
  public List<CronJob<?>> cronJobs() {
    return jobs;
  }

  /**
   * Stops the scheduler: lets the transaction in progress, if any, end, and stops the thread.
   * Waits at most {@link #CLOSE_TIMEOUT} (then interrupts the thread and returns). Firings not yet
   * enqueued are left to other processes or to the next start.
   *
   * <p>Idempotent; safe to call from any thread and at any time: before {@link #start()} it only
   * marks the scheduler closed; during a start it makes that start undo itself. A concurrent call
   * returns once the first has finished, waiting at most {@link #CLOSE_TIMEOUT} and a few seconds
   * more. A closed scheduler cannot be started again.
   */
  @Override
  public void close() {
    lifecycle.close(this::stop, CLOSE_TIMEOUT.toNanos() + java.util.concurrent.TimeUnit.SECONDS.toNanos(5));
  }

  private void stop(Thread t) {
    runner.stop();
    boolean interrupted = false;
    try {
      t.join(CLOSE_TIMEOUT.toMillis());
      if (t.isAlive()) {
        log.warn("pgqueue cron: the scheduler thread did not stop within {}; interrupting it",
            CLOSE_TIMEOUT);
        t.interrupt();
        t.join(1000);
      }
    } catch (InterruptedException e) {
      interrupted = true;
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    log.info("pgqueue cron: scheduler stopped");
  }

  /** Makes the scheduler read its clock again now. For tests that move an injected clock. */
  void wake() {
    runner.wake();
  }

  @Override
  public String toString() {
    return "CronScheduler" + jobs;
  }

  /**
   * Configures a {@link CronScheduler}. Each setter validates its argument and throws {@link
   * IllegalArgumentException} naming the setting and the value.
   */
  public static final class Builder {
    private final JobQueue queue;
    private final DataSource dataSource;
    private final List<CronJob<?>> jobs = new ArrayList<>();
    private InstantSource clock = InstantSource.system();
    private Duration retryMin = DEFAULT_RETRY_MIN;
    private Duration retryMax = DEFAULT_RETRY_MAX;
    private Duration missedAfter = DEFAULT_MISSED_AFTER;
    private Duration pollInterval = DEFAULT_POLL_INTERVAL;

    private Builder(JobQueue queue, DataSource dataSource) {
      if (queue == null) {
        throw new IllegalArgumentException("queue must not be null");
      }
      if (dataSource == null) {
        throw new IllegalArgumentException("dataSource must not be null");
      }
      this.queue = queue;
      this.dataSource = dataSource;
    }

    /**
     * Adds a cron job. Names must be unique within a scheduler; {@link #build()} checks.
     *
     * @param cronJob the cron job
     * @return this builder
     * @throws IllegalArgumentException if null
     */
    public Builder add(CronJob<?> cronJob) {
      if (cronJob == null) {
        throw new IllegalArgumentException("cronJob must not be null");
      }
      jobs.add(cronJob);
      return this;
    }

    /**
     * The clock that says when a firing is due. Defaults to {@link InstantSource#system()}.
     * Tests inject one they control; claims and run times never depend on it (they use scheduled
     * instants), only the moment this process tries a firing does.
     *
     * @param clock the clock
     * @return this builder
     * @throws IllegalArgumentException if null
     */
    public Builder clock(InstantSource clock) {
      if (clock == null) {
        throw new IllegalArgumentException("clock must not be null");
      }
      this.clock = clock;
      return this;
    }

    /**
     * The bounds of the exponential backoff after a failure (the database unreachable, a payload
     * function throwing): the first retry waits {@code min}, each further one twice as long, up
     * to {@code max}, with a little jitter. Defaults to {@link #DEFAULT_RETRY_MIN} and {@link
     * #DEFAULT_RETRY_MAX}.
     *
     * @param min at least 1 ms
     * @param max at least {@code min}, at most 1 hour
     * @return this builder
     * @throws IllegalArgumentException if either is null or out of range
     */
    public Builder retryBackoff(Duration min, Duration max) {
      if (min == null || max == null) {
        throw new IllegalArgumentException(
            "retryBackoff min and max must not be null, got: min=" + min + ", max=" + max);
      }
      if (min.compareTo(Duration.ofMillis(1)) < 0) {
        throw new IllegalArgumentException("retryBackoff min must be at least 1 ms, got: " + min);
      }
      if (max.compareTo(min) < 0) {
        throw new IllegalArgumentException(
            "retryBackoff max must not be less than min, got: min=" + min + ", max=" + max);
      }
      if (max.compareTo(Duration.ofHours(1)) > 0) {
        throw new IllegalArgumentException("retryBackoff max must be at most 1 hour, got: " + max);
      }
      this.retryMin = min;
      this.retryMax = max;
      return this;
    }

    /**
     * How late a firing may be enqueued before it counts as missed and its cron job's {@link
     * CatchUp} policy decides what to do with it. Defaults to {@link #DEFAULT_MISSED_AFTER} (10
     * seconds). Make it longer than the largest clock skew between cron processes plus the
     * longest pause of a live one, so that a process starting next to slow or skewed ones does
     * not mistake their pending firings for missed ones.
     *
     * @param missedAfter at least 1 second, at most 1 day
     * @return this builder
     * @throws IllegalArgumentException if null or out of range
     */
    public Builder missedAfter(Duration missedAfter) {
      if (missedAfter == null
          || missedAfter.compareTo(Duration.ofSeconds(1)) < 0
          || missedAfter.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException(
            "missedAfter must be between 1 second and 1 day, got: " + missedAfter);
      }
      this.missedAfter = missedAfter;
      return this;
    }

    /**
     * How often the scheduler reads the admin state of its schedules ({@link CronAdmin}): one
     * query for all of them, that serves pending {@link CronAdmin#triggerNow} requests and notices
     * schedules {@link CronAdmin#enable enabled} again. A {@link CronAdmin#disable disabled}
     * schedule needs no poll to stop: every firing's claim checks the flag. Defaults to {@link
     * #DEFAULT_POLL_INTERVAL} (5 seconds).
     *
     * @param pollInterval at least 100 ms, at most 10 minutes
     * @return this builder
     * @throws IllegalArgumentException if null or out of range
     */
    public Builder pollInterval(Duration pollInterval) {
      if (pollInterval == null
          || pollInterval.compareTo(Duration.ofMillis(100)) < 0
          || pollInterval.compareTo(Duration.ofMinutes(10)) > 0) {
        throw new IllegalArgumentException(
            "pollInterval must be between 100 ms and 10 minutes, got: " + pollInterval);
      }
      this.pollInterval = pollInterval;
      return this;
    }

    /**
     * The scheduler, not yet started.
     *
     * @return the scheduler
     * @throws IllegalArgumentException if two cron jobs have the same name
     */
    public CronScheduler build() {
      Set<String> names = new HashSet<>();
      for (CronJob<?> job : jobs) {
        if (!names.add(job.name())) {
          throw new IllegalArgumentException(
              "cron job name \"" + job.name() + "\" is used twice: names must be unique within a"
                  + " scheduler");
        }
      }
      return new CronScheduler(this, List.copyOf(jobs));
    }
  }
}
