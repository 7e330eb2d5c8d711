package io.github.pgqueue.cron;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.PgQueueException;
import io.github.pgqueue.SchemaVersionException;
import io.github.pgqueue.internal.Borrowed;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scheduler's loop, run on its own thread: register the cron jobs, sleep until the next
 * firing of any of them, claim and enqueue each due firing in one transaction, back off on
 * failures. All mutable state is confined to that thread, except the stop flag and the wake-up.
 */
final class CronRunner implements Runnable {

  private static final Logger log = LoggerFactory.getLogger(CronScheduler.class);

  /**
   * The longest single sleep. Waking is not polling (no query is sent on waking; the admin poll has
   * its own interval); the cap only
   * bounds how late a firing can be when the wall clock is stepped forward during a long sleep.
   */
  static final Duration MAX_SLEEP = Duration.ofSeconds(5);

  /** How often a transaction is retried at once after a deadlock or serialization failure. */
  static final int TRANSIENT_RETRIES = 5;

  private enum Outcome {
    /** This process claimed the firing (and enqueued it, unless skipping). */
    FIRED,
    /** Another process had claimed it; the cursor moved to the stored last_fired. */
    TAKEN,
    /** The stored definition is not this process's; it let the firing pass. */
    STOOD_DOWN,
    /** The row is gone; the schedule is registered again on the next step. */
    UNREGISTERED,
    /** The schedule is disabled (CronAdmin); this process fires nothing until the poll sees it enabled. */
    DISABLED,
    /** The payload function or the enqueue failed; the job's backoff is running. */
    FAILED
  }

  private final JobQueue queue;
  private final DataSource dataSource;
  private final ScheduleStore store;
  private final InstantSource clock;
  private final Duration missedAfter;
  private final List<ScheduleState> schedules;
  private final FailureStreak database;
  private final long pollNanos;
  /** When the next admin poll is due (System.nanoTime); the first step polls. */
  private long nextPollNanos = System.nanoTime();

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition wakeUp = lock.newCondition();
  private boolean wakeRequested; // guarded by lock
  private volatile boolean stopping;

  CronRunner(
      JobQueue queue,
      DataSource dataSource,
      InstantSource clock,
      Duration missedAfter,
      Duration retryMin,
      Duration retryMax,
      Duration pollInterval,
      List<CronJob<?>> jobs) {
    this.queue = queue;
    this.dataSource = dataSource;
    this.store = new ScheduleStore(new CronSql(queue.schema()));
    this.clock = clock;
    this.missedAfter = missedAfter;
    this.pollNanos = pollInterval.toNanos();
    this.database = new FailureStreak(log, "database", retryMin, retryMax);
    List<ScheduleState> states = new ArrayList<>(jobs.size());
    for (CronJob<?> job : jobs) {
      states.add(
          new ScheduleState(
              job, new FailureStreak(log, "cron job \"" + job.name() + "\"", retryMin, retryMax)));
    }
    this.schedules = List.copyOf(states);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  @Override
  public void run() {
    try {
      while (!stopping) {
        try {
          step();
        } catch (RuntimeException e) {
          // A bug of ours, not a transient failure; back off like one rather than spin or die.
          database.failed("a scheduler step (unexpected error)", e, System.nanoTime());
        }
        if (!stopping) {
          sleep(untilNextNanos());
        }
      }
    } catch (InterruptedException e) {
      // close() gave up waiting for a graceful stop and interrupted us: stop now.
      Thread.currentThread().interrupt();
    } catch (Error e) {
      // Out of memory, a stack overflow in a payload function: nothing sensible to retry, but
      // a cron process that silently stops firing is worse than a loud one.
      log.error("pgqueue cron: the scheduler thread stops on an error; no firing will be"
          + " enqueued by this process until it is restarted", e);
      throw e;
    }
  }

  /** Asks the loop to stop after the transaction in progress, if any. */
  void stop() {
    stopping = true;
    wake();
  }

  /** Makes the loop look at the clock again now; tests call it after moving their clock. */
  void wake() {
    lock.lock();
    try {
      wakeRequested = true;
      wakeUp.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private void sleep(long nanos) throws InterruptedException {
    lock.lock();
    try {
      long remaining = nanos;
      while (!wakeRequested && !stopping && remaining > 0) {
        remaining = wakeUp.awaitNanos(remaining);
      }
      wakeRequested = false;
    } finally {
      lock.unlock();
    }
  }

  /** Until the earliest of: the next firing (by the injected clock), a backoff's end, MAX_SLEEP. */
  private long untilNextNanos() {
    long nowNanos = System.nanoTime();
    long wait = MAX_SLEEP.toNanos();
    if (database.waiting(nowNanos)) {
      return Math.max(0, Math.min(wait, database.retryAtNanos() - nowNanos));
    }
    wait = Math.min(wait, nextPollNanos - nowNanos);
    Instant now = clock.instant();
    for (ScheduleState s : schedules) {
      if (!s.registered) {
        return 0;
      }
      if (s.disabled) {
        continue; // nothing to fire; the poll notices when it is enabled again
      }
      if (s.failures.waiting(nowNanos)) {
        wait = Math.min(wait, s.failures.retryAtNanos() - nowNanos);
        continue;
      }
      Duration untilNext = Duration.between(now, s.next());
      if (untilNext.compareTo(MAX_SLEEP) < 0) {
        wait = Math.min(wait, untilNext.toNanos());
      }
    }
    return Math.max(0, wait);
  }

  // ---- one pass over the cron jobs ------------------------------------------------------------

  private void step() {
    if (database.waiting(System.nanoTime())) {
      return;
    }
    try {
      for (ScheduleState s : schedules) {
        if (stopping) {
          return;
        }
        if (!s.registered) {
          register(s);
        }
      }
      if (System.nanoTime() - nextPollNanos >= 0 && !stopping) {
        poll();
        nextPollNanos = System.nanoTime() + pollNanos;
      }
      for (ScheduleState s : schedules) {
        if (stopping) {
          return;
        }
        if (s.registered && !s.disabled && !s.failures.waiting(System.nanoTime())) {
          fireDue(s);
        }
      }
    } catch (DatabaseFailure f) {
      database.failed(f.what, f.getCause(), System.nanoTime());
    }
  }

  /** Fires every firing of {@code s} that is due by the clock, applying its catch-up policy first. */
  private void fireDue(ScheduleState s) {
    Instant now = clock.instant();
    Instant next = s.next();
    if (next.isAfter(now)) {
      return;
    }
    Instant missedUntil = now.minus(missedAfter);
    if (!next.isAfter(missedUntil)) {
      // Firings were missed: decide on what the database says, not on what this process last saw.
      refresh(s);
      if (!s.registered || s.disabled) {
        return;
      }
      if (!s.next().isAfter(missedUntil) && !catchUp(s, missedUntil)) {
        return;
      }
    }
    while (!stopping) {
      next = s.next();
      if (next.isAfter(clock.instant())) {
        return;
      }
      Outcome outcome = fire(s, next, true);
      if (outcome == Outcome.FAILED || outcome == Outcome.UNREGISTERED || outcome == Outcome.DISABLED) {
        return;
      }
    }
  }

  /**
   * Applies the job's catch-up policy to its missed firings, those in (cursor, missedUntil].
   * Returns false if it stopped on a failure.
   */
  private boolean catchUp(ScheduleState s, Instant missedUntil) {
    CatchUp policy = s.job.catchUp();
    Instant firstMissed = s.next();
    int wanted = policy.mode() == CatchUp.Mode.ALL ? policy.max() : 1;
    List<Instant> latest = Firings.latest(s.schedule(), s.origin, s.cursor, missedUntil, wanted);
    if (latest.isEmpty()) {
      return true;
    }
    Instant lastMissed = latest.get(latest.size() - 1);
    if (s.standingDown) {
      s.cursor = max(s.cursor, lastMissed);
      return true;
    }
    int enqueued = 0;
    boolean claimed = false;
    switch (policy.mode()) {
      case ONE, SKIP -> {
        Outcome outcome = fire(s, lastMissed, policy.mode() == CatchUp.Mode.ONE);
        if (outcome == Outcome.FAILED || outcome == Outcome.UNREGISTERED || outcome == Outcome.DISABLED) {
          return false;
        }
        claimed = outcome == Outcome.FIRED;
        enqueued = claimed && policy.mode() == CatchUp.Mode.ONE ? 1 : 0;
      }
      case ALL -> {
        for (Instant t : latest) {
          if (stopping) {
            return false;
          }
          if (!t.isAfter(s.cursor)) {
            continue;
          }
          Outcome outcome = fire(s, t, true);
          if (outcome == Outcome.FAILED || outcome == Outcome.UNREGISTERED || outcome == Outcome.DISABLED) {
            return false;
          }
          if (outcome == Outcome.FIRED) {
            claimed = true;
            enqueued++;
          }
        }
      }
    }
    if (claimed) {
      log.info(
          "pgqueue cron: {}: firings from {} to {} were missed (no cron process ran, the database"
              + " was unreachable, or enqueueing failed, for longer than {}); catch-up policy {}"
              + " enqueued {} job(s)",
          s, firstMissed, lastMissed, missedAfter, policy, enqueued);
    }
    return true;
  }

  // ---- database work --------------------------------------------------------------------------

  /**
   * Makes sure the name has a row. A new name starts from now by the database clock. An existing
   * row with another definition is overwritten and re-anchored at now, with a warning: the
   * process started last defines the schedule.
   */
  private void register(ScheduleState s) {
    for (int attempt = 1; ; attempt++) {
      Connection c = connect("registering " + s);
      try {
        Registration done;
        try {
          // One READ COMMITTED transaction, committed whatever the pool's defaults (Borrowed).
          done = Borrowed.transaction(c, false, tx -> {
            ScheduleStore.Row inserted = store.insertIfAbsent(tx, s.name, s.definition, description(s));
            if (inserted != null) {
              return new Registration(inserted, true, null);
            }
            ScheduleStore.Row locked = store.lock(tx, s.name);
            if (locked == null) {
              return new Registration(null, false, null); // deleted in between
            }
            String previous = null;
            if (!locked.definition().equals(s.definition)) {
              previous = locked.definition();
              locked = store.redefine(tx, s.name, s.definition);
            }
            store.describe(tx, s.name, s.definition, description(s));
            return new Registration(locked, false, previous);
          });
        } catch (SQLException e) {
          if (Borrowed.isTransient(e) && attempt < TRANSIENT_RETRIES) {
            log.debug("pgqueue cron: {}: registering: {} (attempt {}); retrying", s, e, attempt);
            continue;
          }
          throw new DatabaseFailure("registering " + s, e);
        }
        if (done.row() == null) {
          // Deleted between the two statements; start over.
          continue;
        }
        ScheduleStore.Row row = done.row();
        boolean created = done.created();
        String previous = done.previous();
        database.succeeded(System.nanoTime());
        s.registered = true;
        s.standingDown = false;
        s.foreignDefinition = null;
        s.origin = row.origin();
        s.cursor = row.lastFired();
        s.disabled = !row.enabled();
        if (s.disabled) {
          log.info("pgqueue cron: {}: disabled (CronAdmin); it fires nothing until enabled", s);
        }
        if (created) {
          log.info("pgqueue cron: {}: new schedule, registered; it starts from {}", s, row.lastFired());
        } else if (previous != null) {
          log.warn(
              "pgqueue cron: {}: the database held the definition \"{}\" for this name; this"
                  + " process has \"{}\". Overwrote it and re-anchored the schedule at {}: the"
                  + " process started last defines a schedule. Processes still running \"{}\""
                  + " will stand down for this name.",
              s, previous, s.definition, row.origin(), previous);
        } else {
          log.info("pgqueue cron: {}: registered; last fired {}", s, row.lastFired());
        }
        return;
      } finally {
        Borrowed.close(c);
      }
    }
  }

  /** What a registration found or wrote: the row (null if deleted meanwhile), and how it got it. */
  private record Registration(ScheduleStore.Row row, boolean created, String previous) {}

  /** Reads the row again and adopts it. */
  private void refresh(ScheduleState s) {
    Connection c = connect("reading " + s);
    try {
      ScheduleStore.Row row;
      try {
        row = Borrowed.transaction(c, true, tx -> store.read(tx, s.name));
      } catch (SQLException e) {
        throw new DatabaseFailure("reading " + s, e);
      }
      database.succeeded(System.nanoTime());
      adopt(s, row, null);
    } finally {
      Borrowed.close(c);
    }
  }

  /**
   * One firing in one transaction: claim it (the guarded UPDATE), compute the payload, enqueue the
   * job with run_at = {@code at} on the same connection, commit. If the claim matches no row, reads
   * the row to learn why. Deadlocks and serialization failures are retried at once.
   */
  private Outcome fire(ScheduleState s, Instant at, boolean enqueue) {
    for (int attempt = 1; ; attempt++) {
      Connection c = connect("claiming firing " + at + " of " + s);
      try {
        // The claim and the job's enqueue commit together, or neither does.
        boolean claimed = Borrowed.transaction(c, false, tx -> {
          if (!store.claim(tx, s.name, at, s.definition, s.origin)) {
            return false;
          }
          if (enqueue) {
            Object payload = payload(s, at);
            enqueue(tx, s.job, payload, at);
          }
          return true;
        });
        if (claimed) {
          database.succeeded(System.nanoTime());
          s.failures.succeeded(System.nanoTime());
          s.cursor = at;
          if (log.isDebugEnabled()) {
            log.debug("pgqueue cron: {}: {} firing {} (clock {})",
                s, enqueue ? "enqueued" : "skipped", at, clock.instant());
          }
          return Outcome.FIRED;
        }
        ScheduleStore.Row row = Borrowed.transaction(c, true, tx -> store.read(tx, s.name));
        database.succeeded(System.nanoTime());
        Outcome outcome = adopt(s, row, at);
        if (outcome == Outcome.TAKEN && log.isDebugEnabled()) {
          log.debug("pgqueue cron: {}: firing {} was already claimed; last fired {} (clock {})",
              s, at, row.lastFired(), clock.instant());
        }
        if (outcome != null) {
          return outcome;
        }
        // Same definition and origin, yet last_fired is before 'at': the row changed between the
        // two statements. Try again.
        if (attempt >= TRANSIENT_RETRIES) {
          s.failures.failed("claiming firing " + at,
              new IllegalStateException("the claim kept matching no row"), System.nanoTime());
          return Outcome.FAILED;
        }
      } catch (SQLException e) {
        if (Borrowed.isTransient(e) && attempt < TRANSIENT_RETRIES) {
          log.debug("pgqueue cron: {}: firing {}: {} (attempt {}); retrying", s, at, e, attempt);
          continue;
        }
        throw new DatabaseFailure("claiming firing " + at + " of " + s, e);
      } catch (JobFailure f) {
        if (f.transientFailure && attempt < TRANSIENT_RETRIES) {
          log.debug("pgqueue cron: {}: firing {}: {} (attempt {}); retrying",
              s, at, f.getCause(), attempt);
          continue;
        }
        if (f.databaseDown) {
          throw new DatabaseFailure(f.what, f.getCause());
        }
        s.failures.failed(f.what, f.getCause(), System.nanoTime());
        return Outcome.FAILED;
      } finally {
        Borrowed.close(c);
      }
    }
  }

  /**
   * The admin poll: one query for the rows of every registered schedule. Adopts a change of the
   * enabled flag, and serves each pending trigger request of a schedule whose stored definition is
   * this process's.
   */
  private void poll() {
    List<String> names = new ArrayList<>();
    for (ScheduleState s : schedules) {
      if (s.registered) {
        names.add(s.name);
      }
    }
    if (names.isEmpty()) {
      return;
    }
    Connection c = connect("polling the cron schedules");
    List<ScheduleStore.Polled> rows;
    try {
      rows = Borrowed.transaction(c, true, tx -> store.poll(tx, names.toArray(new String[0])));
    } catch (SQLException e) {
      throw new DatabaseFailure("polling the cron schedules", e);
    } finally {
      Borrowed.close(c);
    }
    database.succeeded(System.nanoTime());
    for (ScheduleStore.Polled p : rows) {
      ScheduleState s = byName(p.name());
      if (s == null || !s.registered || stopping) {
        continue;
      }
      if (s.disabled != !p.row().enabled()) {
        adopt(s, p.row(), null);
      }
      if (p.triggerRequestedAt() != null && p.row().definition().equals(s.definition)
          && !s.failures.waiting(System.nanoTime())) {
        trigger(s, p.triggerRequestedAt());
      }
    }
  }

  private ScheduleState byName(String name) {
    for (ScheduleState s : schedules) {
      if (s.name.equals(name)) {
        return s;
      }
    }
    return null;
  }

  /**
   * Serves a "trigger now" request in one transaction: takes the request (the guarded UPDATE, so
   * one process serves it however many poll), and enqueues the job as a firing at the request's
   * instant would. A failure leaves the request pending for the next poll.
   */
  private void trigger(ScheduleState s, Instant requestedAt) {
    for (int attempt = 1; ; attempt++) {
      Connection c = connect("triggering " + s);
      try {
        boolean taken = Borrowed.transaction(c, false, tx -> {
          if (!store.takeTrigger(tx, s.name, requestedAt, s.definition)) {
            return false;
          }
          enqueue(tx, s.job, payload(s, requestedAt), requestedAt);
          return true;
        });
        database.succeeded(System.nanoTime());
        if (taken) {
          s.failures.succeeded(System.nanoTime());
          log.info("pgqueue cron: {}: triggered now (CronAdmin request of {}); enqueued", s, requestedAt);
        }
        return;
      } catch (SQLException e) {
        if (Borrowed.isTransient(e) && attempt < TRANSIENT_RETRIES) {
          continue;
        }
        throw new DatabaseFailure("triggering " + s, e);
      } catch (JobFailure f) {
        if (f.transientFailure && attempt < TRANSIENT_RETRIES) {
          continue;
        }
        if (f.databaseDown) {
          throw new DatabaseFailure(f.what, f.getCause());
        }
        s.failures.failed("triggering now (request of " + requestedAt + ")", f.getCause(), System.nanoTime());
        return;
      } finally {
        Borrowed.close(c);
      }
    }
  }

  /** What this process would enqueue for {@code s}, stored for CronAdmin. */
  private static ScheduleStore.Description description(ScheduleState s) {
    CronJob<?> job = s.job;
    String queue = job.options().queue() != null ? job.options().queue()
        : job.type().defaults().queue() != null ? job.type().defaults().queue()
        : EnqueueOptions.DEFAULT_QUEUE;
    return new ScheduleStore.Description(catchUpText(job.catchUp()), job.type().name(), queue);
  }

  /** The stored form of a catch-up policy: one, skip or all(N). CronAdmin parses it back. */
  static String catchUpText(CatchUp c) {
    return switch (c.mode()) {
      case ONE -> "one";
      case SKIP -> "skip";
      case ALL -> "all(" + c.max() + ")";
    };
  }

  private Object payload(ScheduleState s, Instant at) {
    try {
      return s.job.payload().apply(at);
    } catch (RuntimeException | LinkageError | AssertionError e) {
      throw new JobFailure("the payload function for firing " + at, e, false, false);
    }
  }

  private <T> void enqueue(Connection c, CronJob<T> job, Object payload, Instant at) {
    @SuppressWarnings("unchecked")
    T typed = (T) payload;
    EnqueueOptions.Builder options = job.options().toBuilder().runAt(at);
    if (job.options().context() == null && job.type().defaults().context() == null) {
      options.context("cron:" + job.name());
    }
    try {
      queue.enqueue(c, job.type(), typed, options.build());
    } catch (SchemaVersionException e) {
      throw new JobFailure("enqueueing firing " + at, e, false, true);
    } catch (PgQueueException e) {
      SQLException sql = sqlCause(e);
      throw new JobFailure("enqueueing firing " + at, e, sql != null && Borrowed.isTransient(sql),
          sql != null && isConnectionFailure(sql));
    } catch (RuntimeException e) {
      // IllegalArgumentException: a null payload, one that cannot be encoded or is too large.
      throw new JobFailure("enqueueing firing " + at, e, false, false);
    }
  }

  /**
   * Updates {@code s} from its stored row. Returns the outcome for a claim of {@code at} that
   * matched nothing, or null if nothing explains why it matched nothing (or {@code at} is null).
   */
  private Outcome adopt(ScheduleState s, ScheduleStore.Row row, Instant at) {
    if (row == null) {
      log.info("pgqueue cron: {}: its row is gone from the database; registering it again", s);
      s.registered = false;
      return Outcome.UNREGISTERED;
    }
    if (!row.definition().equals(s.definition)) {
      if (!row.definition().equals(s.foreignDefinition)) {
        log.warn(
            "pgqueue cron: {}: the database holds the definition \"{}\" for this name, set by a"
                + " process started after this one; this process has \"{}\" and stands down for"
                + " this name: it enqueues nothing for it until the definitions agree again"
                + " (deploy the same definition everywhere, or restart this process to make its"
                + " definition the stored one).",
            s, row.definition(), s.definition);
        s.foreignDefinition = row.definition();
      }
      s.standingDown = true;
      s.origin = row.origin();
      if (at != null) {
        s.cursor = max(s.cursor, at);
      }
      return Outcome.STOOD_DOWN;
    }
    if (s.standingDown) {
      log.info("pgqueue cron: {}: the stored definition is this process's again; resuming", s);
      s.standingDown = false;
      s.foreignDefinition = null;
    }
    if (!row.enabled()) {
      if (!s.disabled) {
        log.info("pgqueue cron: {}: disabled (CronAdmin); it fires nothing until enabled", s);
        s.disabled = true;
      }
      s.origin = row.origin();
      s.cursor = max(row.lastFired(), at == null ? row.lastFired() : at);
      return Outcome.DISABLED;
    }
    if (s.disabled) {
      log.info("pgqueue cron: {}: enabled again (CronAdmin); it fires from {} on", s, row.lastFired());
      s.disabled = false;
    }
    boolean progress = at == null || !row.lastFired().isBefore(at) || !row.origin().equals(s.origin);
    s.origin = row.origin();
    s.cursor = row.lastFired();
    return progress ? Outcome.TAKEN : null;
  }

  private Connection connect(String what) {
    try {
      Connection c = dataSource.getConnection();
      if (c == null) {
        throw new SQLException("the DataSource returned no connection", "08001");
      }
      return c;
    } catch (SQLException | RuntimeException e) {
      throw new DatabaseFailure("connecting to the database for " + what, e);
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  private static boolean isConnectionFailure(SQLException e) {
    String state = e.getSQLState();
    return e instanceof SQLTransientConnectionException
        || e instanceof SQLNonTransientConnectionException
        || (state != null && (state.startsWith("08") || state.startsWith("57P")));
  }

  private static SQLException sqlCause(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException sql) {
        return sql;
      }
    }
    return null;
  }

  private static Instant max(Instant a, Instant b) {
    return a.isAfter(b) ? a : b;
  }

  /** The database failed us; every cron job waits for the database backoff. */
  private static final class DatabaseFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final String what;

    DatabaseFailure(String what, Throwable cause) {
      super(what, cause, false, false);
      this.what = what;
    }
  }

  /** One cron job's payload function or enqueue failed; that job backs off alone. */
  private static final class JobFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final String what;
    final boolean transientFailure;
    final boolean databaseDown;

    JobFailure(String what, Throwable cause, boolean transientFailure, boolean databaseDown) {
      super(what, cause, false, false);
      this.what = what;
      this.transientFailure = transientFailure;
      this.databaseDown = databaseDown;
    }
  }
}
