package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The claim loop of one queue. It owns the queue's slots (its concurrency) and a small local
 * buffer of claimed jobs waiting for a slot, and claims when a slot would otherwise sit idle and
 * a claim is due: after a wake-up (NOTIFY, start, reconnect, or in-process from a {@link JobQueue}
 * of this JVM, see {@link LocalWake}), right after a full batch (more are
 * likely waiting), or at the poll interval. After a NOTIFY (start, reconnect) or a non-empty claim it
 * polls fast for a short while, so a NOTIFY suppressed by the enqueuer's rate limit costs
 * milliseconds; an in-process wake-up does not start that (no NOTIFY was suppressed for it).
 *
 * <p>The buffer is adaptive: nothing extra after a short claim; while claims come back full it
 * grows (to the concurrency, then doubling) up to {@code bufferFactor} times the concurrency, so
 * a busy queue claims in large batches (the batch size is the throughput) while a quiet one never
 * holds jobs it cannot start. Buffered jobs wait behind the running ones: with slow handlers a
 * buffered job could have run sooner on another worker, which is why the buffer collapses on the
 * first short claim and is released at once on shutdown.
 *
 * <p>Flow control (docs/flow-control.md): the control thread hands the fetcher its queue's
 * {@link QueueControl}. A paused queue is not claimed and its buffer is released uncharged; a
 * limited queue takes {@link JobStore#claimControlled} instead of the ordinary claim, with no
 * buffer under a rate limit, and waits as the claim says (another claim holds the row: a few ms;
 * the global limit reached: a fast poll; no token: until the next one is due).
 */
final class Fetcher implements Runnable, Service {

  /** Poll interval right after a wake-up or a non-empty claim. */
  static final long FAST_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
  /** How long fast polling lasts after the last wake-up or non-empty claim. */
  static final long FAST_POLL_WINDOW_NANOS = TimeUnit.SECONDS.toNanos(1);

  private static final Logger log = LoggerFactory.getLogger(Fetcher.class);

  /** Starts a claimed job; called outside the lock. */
  interface Launcher {
    void launch(ClaimedJob job, Fetcher from);
  }

  final String queue;
  private final int concurrency;
  private final int maxBuffer;
  private final long pollNanos;
  private final String[] names;
  private final DataSource dataSource;
  private final JobStore store;
  private final Launcher launcher;
  private final Completer completer;
  private final WorkerState state;
  /** Thread-safe (its methods are synchronized); used by the fetcher's thread. */
  private final RetryLog retryLog;
  private final ServiceThread service = new ServiceThread(this);

  /**
   * Guards the slots and the buffer below. The fetcher's thread, handler threads (next, jobDone),
   * the control and maintenance threads (wake) and the closing thread (stopClaiming) all take it.
   */
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final ArrayDeque<ClaimedJob> buffer = new ArrayDeque<>(); // guarded by lock
  private int running; // guarded by lock: slots in use
  private int bufferTarget; // guarded by lock
  private boolean wake = true; // guarded by lock
  private boolean lastClaimFull; // guarded by lock
  private boolean closing; // guarded by lock: set once, by stopClaiming()
  private long nextPollNanos = System.nanoTime(); // guarded by lock
  private long fastPollUntilNanos; // guarded by lock
  private long localWakes; // guarded by lock
  private long wakes; // guarded by lock: wake() calls (NOTIFY, start, reconnect)
  /**
   * The queue's flow control as the control thread last read it (docs/flow-control.md); NONE
   * until then and for an uncontrolled queue. Guarded by lock.
   */
  private QueueControl control = QueueControl.NONE;
  /** A claim is in flight (from awaitClaimDue's go to dispatch or failure). Guarded by lock. */
  private boolean claiming;
  /** Jobs handed to a handler thread that has not entered them yet (see {@link #entered()}). Guarded by lock. */
  private int launching;
  /**
   * Claims that failed in a way that may have committed them anyway (their reply was lost). Their
   * rows, if any, carry the claim's token: nobody here knows of those jobs, so they are released
   * by token, whether or not this fetcher claims again. Touched only by the fetcher's thread.
   */
  private final List<LostClaim> lostClaims = new ArrayList<>();
  private long nextReleaseNanos; // owned by the fetcher's thread
  /**
   * The last claim found the queue's global limit reached (see slotsFreed). Written under lock;
   * volatile so that slotsFreed, called after every written batch, skips the lock when it is not
   * set (an uncontrolled queue's fetcher is never locked by the completer).
   */
  private volatile boolean heldFull;

  /** The claim now due takes the controlled claim. Owned by the fetcher's thread. */
  private boolean controlledClaim;

  /**
   * This worker's jobs of this queue whose handlers have returned and whose outcomes the completer
   * has not written yet (id to claim token), kept while the queue has a global limit: the limit's
   * count leaves them out ({@link JobStore.Finished}). Added by a handler's thread before it submits
   * the outcome ({@link #handlerReturned}), removed once the completer wrote it ({@link
   * #outcomeWritten}); a job claimed again under a new token is not matched by its old entry.
   */
  private final java.util.concurrent.ConcurrentHashMap<Long, Long> finished = new java.util.concurrent.ConcurrentHashMap<>();
  /** The queue has a global limit: {@link #finished} is kept. Written under lock, read by any thread. */
  private volatile boolean trackFinished;

  /**
   * Due jobs of names this worker does not handle, on its queue, from which it claims by name
   * ({@link Sql#claimByName}): about where reading them one by one (THE CLAIM, about 0.13 us each
   * on the benchmark's machine) costs as much as a claim's extra index descents per handled name.
   */
  static final int FOREIGN_JOBS_FOR_BY_NAME = 1_000;
  /** How often the fetcher counts those jobs again (before a claim; an idle queue is not read). */
  static final long FOREIGN_CHECK_NANOS = TimeUnit.SECONDS.toNanos(10);
  /**
   * Where THE CLAIM starts: at the head, or after the last job claimed while the head is full of
   * entries no scan may skip ({@link ClaimCursor}). Owned by the fetcher's thread.
   */
  private final ClaimCursor cursor = new ClaimCursor(System.nanoTime());
  /** The head is to be counted after the claim now running. Owned by the fetcher's thread. */
  private boolean probeDeadHead;
  /** Claims that started at the cursor; written by the fetcher's thread only, read by any. */
  private volatile long claimsAfterCursor;
  /** Claims take THE CLAIM BY NAME. Owned by the fetcher's thread. */
  private boolean byName;
  /** When to count the jobs of other names again (System.nanoTime()). Owned by the fetcher's thread. */
  private long nextForeignCheckNanos = System.nanoTime();
  /** Claims by name run; written by the fetcher's thread only, read by any. */
  private volatile long claimsByName;
  /** The claim now due applies a per-key rate limit. Owned by the fetcher's thread. */
  private boolean keyRatedClaim;
  /**
   * The claim now due is of a queue that sets a global limit and no rate or per-key control: one
   * statement ({@link JobStore#claimControlledAtOnce}). Owned by the fetcher's thread.
   */
  private boolean globalLimitOnlyClaim;
  /** Thread-safe (its methods are synchronized); used by the fetcher's thread. */
  private final RetryLog releaseLog;
  private final long lostClaimRecheckNanos;
  /**
   * Claim statements run and jobs they returned, for the benchmark's batch-size report: written by
   * the fetcher's thread only, read by any.
   */
  private volatile long claims;
  private volatile long claimedJobs;

  Fetcher(
      String queue,
      int concurrency,
      int bufferFactor,
      long pollNanos,
      String[] names,
      DataSource dataSource,
      JobStore store,
      Launcher launcher,
      Completer completer,
      WorkerState state,
      long lostClaimRecheckNanos) {
    this.queue = queue;
    this.concurrency = concurrency;
    this.maxBuffer = concurrency * bufferFactor;
    this.pollNanos = pollNanos;
    this.names = names;
    this.dataSource = dataSource;
    this.store = store;
    this.launcher = launcher;
    this.completer = completer;
    this.state = state;
    this.retryLog = new RetryLog(log, "claiming jobs from queue \"" + queue + "\"");
    this.releaseLog = new RetryLog(log, "releasing the jobs of a lost claim of queue \"" + queue + "\"");
    this.lostClaimRecheckNanos = lostClaimRecheckNanos;
  }

  /** A claim whose outcome is unknown, and when it failed (System.nanoTime()). */
  record LostClaim(long owner, long token, long failedAtNanos) {}

  @Override
  public void run() {
    try {
      while (true) {
        int want = awaitClaimDue();
        if (want < 0) {
          if (!lostClaims.isEmpty()) {
            releaseLostClaims(); // last chance before the worker deregisters
          }
          return;
        }
        if (!lostClaims.isEmpty() && System.nanoTime() - nextReleaseNanos >= 0) {
          releaseLostClaims();
        }
        if (want == 0) {
          continue; // only the release was due (the worker may not claim now)
        }
        long owner = state.workerId();
        long token = state.nextClaimToken();
        List<ClaimedJob> jobs;
        JobStore.ControlledClaim controlled = null;
        long claimStartedNanos = System.nanoTime();
        probeDeadHead = false;
        PickupProbe.at(PickupProbe.Point.CLAIM_SENT, 0);
        // On a borrowed connection, committed whatever the pool's autocommit default (a claim
        // rolled back on return would run the same jobs again and again). A close() that throws
        // after the claim committed is logged by Borrowed: the jobs below are dispatched anyway.
        try {
          try {
            if (System.nanoTime() - nextForeignCheckNanos >= 0) {
              checkForeignJobs();
            }
            boolean named = byName;
            if (named) {
              claimsByName++;
            }
            if (controlledClaim) {
              // The lock of the control row is held until the claim commits, so the next claim of
              // this queue counts this one's jobs. A queue with only a global limit: one statement
              // in autocommit (null: the row sets more than this worker knew); otherwise several
              // statements in one transaction.
              boolean keyRated = this.keyRatedClaim;
              JobStore.Finished own = finishedNow();
              controlled = globalLimitOnlyClaim && !named
                  ? Borrowed.transaction(dataSource, true,
                      c -> store.claimControlledAtOnce(c, queue, names, want, owner, token, own))
                  : null;
              if (controlled == null) {
                controlled = Borrowed.transaction(dataSource, false,
                    c -> store.claimControlled(c, queue, names, want, owner, token, keyRated, named, own));
              }
              jobs = controlled.jobs();
            } else if (named) {
              jobs = Borrowed.transaction(dataSource, true, c -> store.claim(c, queue, names, want, owner, token, true));
            } else {
              probeDeadHead = cursor.probeDue(System.nanoTime());
              ClaimCursor.Position after = cursor.start(System.nanoTime());
              if (after == null) {
                jobs = Borrowed.transaction(dataSource, true, c -> store.claim(c, queue, names, want, owner, token, false));
              } else {
                claimsAfterCursor++;
                jobs = Borrowed.transaction(dataSource, true,
                    c -> store.claimAfter(c, queue, names, want, owner, token, after));
              }
              cursor.claimed(jobs, System.nanoTime());
            }
          } catch (SQLException e) {
            if (isOutcomeUnknown(e)) {
              long now = System.nanoTime();
              lostClaims.add(new LostClaim(owner, token, now));
              nextReleaseNanos = now;
            }
            throw e;
          }
          PickupProbe.at(PickupProbe.Point.CLAIM_RETURNED, jobs.size());
          claims++;
          claimedJobs += jobs.size();
          retryLog.recovered();
        } catch (SQLException | RuntimeException e) {
          long wait = retryLog.failed(e);
          lock.lock();
          try {
            claiming = false;
            changed.signalAll();
            lastClaimFull = false;
            nextPollNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(wait);
          } finally {
            lock.unlock();
          }
          continue;
        }
        dispatch(jobs, want, controlled, claimStartedNanos);
        if (probeDeadHead) {
          // After the claim's jobs went to their slots, so the count never delays them.
          probeDeadHead = false;
          checkDeadHead(want);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A snapshot of {@link #finished} for the next claim. */
  private JobStore.Finished finishedNow() {
    if (finished.isEmpty()) {
      return JobStore.Finished.NONE;
    }
    List<Long> ids = new ArrayList<>(finished.size());
    List<Long> tokens = new ArrayList<>(finished.size());
    for (java.util.Map.Entry<Long, Long> e : finished.entrySet()) {
      ids.add(e.getKey());
      tokens.add(e.getValue());
    }
    return new JobStore.Finished(ids.toArray(new Long[0]), tokens.toArray(new Long[0]));
  }

  /**
   * A handler of this queue returned (its thread, before the outcome goes to the completer): under
   * a global limit the job no longer counts for this worker's claims. Not for a run settled by the
   * watchdog or shutdown, whose handler may still be running.
   */
  void handlerReturned(ClaimedJob job) {
    if (trackFinished) {
      finished.put(job.id(), job.token());
    }
  }

  /** The completer wrote this job's outcome (its thread). */
  void outcomeWritten(ClaimedJob job) {
    if (!finished.isEmpty()) {
      finished.remove(job.id(), job.token());
    }
  }

  /**
   * Counts the queue's due jobs of names this worker does not handle (up to {@link
   * #FOREIGN_JOBS_FOR_BY_NAME}) and claims by name while there are that many: THE CLAIM would read
   * each of them ahead of this worker's own. Logs each switch. A failed count keeps the current
   * claim and is tried again at the next check (the claim reports its own failures).
   */
  private void checkForeignJobs() {
    nextForeignCheckNanos = System.nanoTime() + FOREIGN_CHECK_NANOS;
    int foreign;
    try {
      foreign = Borrowed.transaction(dataSource, true, c -> store.foreignJobs(c, queue, names, FOREIGN_JOBS_FOR_BY_NAME));
    } catch (SQLException | RuntimeException e) {
      log.debug("pgqueue: counting queue \"{}\"'s jobs of other names failed; keeping the current claim", queue, e);
      return;
    }
    boolean next = foreign >= FOREIGN_JOBS_FOR_BY_NAME;
    if (next != byName) {
      byName = next;
      if (next) {
        log.info("pgqueue: queue \"{}\" holds {} or more due jobs of names this worker does not handle;"
            + " claiming by name, so they cost its claims nothing (docs/performance.md)", queue, FOREIGN_JOBS_FOR_BY_NAME);
      } else {
        log.info("pgqueue: queue \"{}\" holds fewer than {} due jobs of names this worker does not handle;"
            + " back to the ordinary claim", queue, FOREIGN_JOBS_FOR_BY_NAME);
      }
    }
  }

  /** Whether claims went to the cursor for entries an old snapshot keeps (logged at INFO, so their end is too). */
  private boolean cursorSwitchLoud;

  /**
   * Counts what a claim of {@code want} jobs from the head of the queue walks besides its rows
   * ({@link JobStore#deadHead}) and lets the cursor decide where claims start; logs each switch. A
   * failed count keeps the current start and is tried again at the next probe.
   */
  private void checkDeadHead(int want) {
    JobStore.DeadHead dead;
    long started = System.nanoTime();
    try {
      dead = Borrowed.transaction(dataSource, false, c -> store.deadHead(c, queue, names, want));
    } catch (SQLException | RuntimeException e) {
      cursor.probeFailed(System.nanoTime());
      log.debug("pgqueue: counting queue \"{}\"'s dead head failed; keeping where claims start", queue, e);
      return;
    }
    boolean switched = cursor.probed(dead, started, System.nanoTime());
    // Entries only an old snapshot keeps are worth an operator's look (INFO), also when claims
    // already start at the cursor for pages; pages of marked entries are the ordinary wake of a
    // drained backlog, gone at the next autovacuum (DEBUG).
    boolean oldSnapshot = dead.entries() >= ClaimCursor.DEAD_ENTRIES_FOR_CURSOR;
    if (cursor.active() && (switched || (oldSnapshot && !cursorSwitchLoud))) {
      cursorSwitchLoud = oldSnapshot;
      String text = "pgqueue: a claim of queue \"{}\" from its head walks past {} index entries and {} index pages"
          + " of jobs already claimed that vacuum has not removed (a transaction open for long keeps the entries:"
          + " see pg_stat_activity's xact_start; the pages of a drained backlog wait for the next autovacuum);"
          + " claims start after the last job claimed, and from the head once a second (docs/performance.md)";
      if (cursorSwitchLoud) {
        log.info(text, queue, dead.entries(), dead.pages());
      } else {
        log.debug(text, queue, dead.entries(), dead.pages());
      }
    } else if (switched) {
      String text = "pgqueue: queue \"{}\"'s head is clean again ({} dead index entries, {} pages); claims start at"
          + " the head";
      if (cursorSwitchLoud) {
        log.info(text, queue, dead.entries(), dead.pages());
      } else {
        log.debug(text, queue, dead.entries(), dead.pages());
      }
      cursorSwitchLoud = false;
    }
  }

  /**
   * A connection failure (SQLState class 08) or a timeout (57014) during the claim leaves its fate
   * unknown: PostgreSQL may have committed it and the reply been lost. A clean error from the
   * server means it rolled back.
   */
  static boolean isOutcomeUnknown(SQLException e) {
    String state = e.getSQLState();
    return state == null || state.startsWith("08") || state.equals("57014") || state.equals("57P01");
  }

  /**
   * Releases the rows of the lost claims, by their tokens, giving the attempt back (they never
   * started). A lost claim may still commit after its client gave up (its statement can still be
   * running on the server), so each is released again until one release started at least {@code
   * lostClaimRecheckNanos} after it failed; a failed release is retried with backoff. Never throws.
   */
  private void releaseLostClaims() {
    long started = System.nanoTime();
    try {
      java.util.Map<Long, List<Long>> tokensByOwner = new java.util.HashMap<>();
      for (LostClaim l : lostClaims) {
        tokensByOwner.computeIfAbsent(l.owner(), k -> new ArrayList<>()).add(l.token());
      }
      for (java.util.Map.Entry<Long, List<Long>> e : tokensByOwner.entrySet()) {
        Long[] tokens = e.getValue().toArray(new Long[0]);
        List<Long> released =
            Borrowed.transaction(dataSource, true, c -> store.releaseLostClaims(c, e.getKey(), tokens));
        if (!released.isEmpty()) {
          log.warn(
              "pgqueue: a claim's reply was lost (the connection broke after PostgreSQL committed it);"
                  + " released {} jobs of queue \"{}\" this worker held without knowing: {}",
              released.size(), queue, released);
        }
      }
      releaseLog.recovered();
      lostClaims.removeIf(l -> started - l.failedAtNanos() >= lostClaimRecheckNanos);
      nextReleaseNanos = System.nanoTime() + pollNanos;
    } catch (SQLException | RuntimeException e) {
      nextReleaseNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(releaseLog.failed(e));
    }
  }

  /**
   * Waits until a claim is due and returns how many jobs to ask for, 0 when only the release of
   * lost claims is due (it is due whether or not the worker may claim), or -1 when closing.
   */
  private int awaitClaimDue() throws InterruptedException {
    lock.lock();
    try {
      while (true) {
        if (closing) {
          return -1;
        }
        long now = System.nanoTime();
        int inHand = running + buffer.size();
        boolean idleSlot = inHand < concurrency;
        boolean paused = !state.mayClaim() || control.paused();
        if (idleSlot && !paused && (wake || lastClaimFull || now - nextPollNanos >= 0)) {
          wake = false;
          claiming = true;
          controlledClaim = control.limited();
          keyRatedClaim = control.keyRateLimit() > 0;
          globalLimitOnlyClaim = !control.rated() && !control.keyed();
          // A rate-limited queue claims only its free local slots: a buffered job would have taken
          // its token (its start) before it starts. Under a global limit the buffer stays, within
          // the free global slots: the claim never takes more than those.
          return control.rated() ? concurrency - inHand : concurrency + bufferTarget - inHand;
        }
        boolean releasePending = !lostClaims.isEmpty();
        if (releasePending && now - nextReleaseNanos >= 0) {
          return 0;
        }
        if (idleSlot || releasePending) {
          long wait = !idleSlot ? Long.MAX_VALUE : paused ? pollNanos : nextPollNanos - now;
          if (releasePending) {
            wait = Math.min(wait, nextReleaseNanos - now);
          }
          changed.awaitNanos(Math.max(wait, 1_000_000L));
        } else {
          changed.await();
        }
      }
    } finally {
      lock.unlock();
    }
  }

  private void dispatch(List<ClaimedJob> jobs, int asked, JobStore.ControlledClaim controlled, long claimStartedNanos) {
    List<ClaimedJob> toStart = new ArrayList<>(Math.min(jobs.size(), concurrency));
    List<ClaimedJob> toRelease = null;
    boolean fallBack = false;
    lock.lock();
    try {
      claiming = false;
      changed.signalAll();
      long now = System.nanoTime();
      JobStore.Held held = controlled == null ? JobStore.Held.NO : controlled.held();
      heldFull = held == JobStore.Held.FULL;
      // A claim that filled the queue's free global slots waits for slots to free: this worker's
      // own finished jobs count as running until the completer has written them, so it claims
      // again when the completer has (slotsFreed), or at the next poll for other workers' jobs.
      // Claiming again on each local slot that frees would only find the limit still reached, or
      // take one job per claim.
      lastClaimFull = jobs.size() == asked && held == JobStore.Held.NO
          || held == JobStore.Held.FULL && !jobs.isEmpty();
      if (held == JobStore.Held.FULL && !jobs.isEmpty()) {
        // Keep the buffer as it is: more would only ask for slots the limit does not have.
      } else {
        bufferTarget =
            lastClaimFull && !control.rated()
                ? Math.min(bufferCap(), bufferTarget == 0 ? concurrency : bufferTarget * 2) : 0;
      }
      if (!jobs.isEmpty()) {
        fastPollUntilNanos = now + FAST_POLL_WINDOW_NANOS;
      }
      nextPollNanos = now + (now - fastPollUntilNanos < 0 ? FAST_POLL_NANOS : pollNanos);
      switch (held) {
        // Another worker is claiming this queue right now: its lock goes at its commit.
        case BUSY -> nextPollNanos = now + TimeUnit.MILLISECONDS.toNanos(
            2 + java.util.concurrent.ThreadLocalRandom.current().nextInt(4));
        // Every slot of the queue is taken: one frees when any worker's job ends, which nobody
        // announces, so poll fast while the limit is reached (a lock and a count per poll).
        case FULL -> nextPollNanos = now + FAST_POLL_NANOS;
        // Sleep until the next token, not a poll earlier (a NOTIFY still wakes the fetcher).
        // The wait counts from the bucket's clock, read after the lock, so from the claim's
        // start: a wake-up a little early costs one more claim, a late one loses capacity
        // (with a small burst, a token not taken when due is gone).
        case RATE -> nextPollNanos = claimStartedNanos + controlled.waitNanos();
        // Due jobs were left because their keys had no token: claim again when the first of those
        // keys gets one (the wait counts from the end of the claim, so the wake-up is never early),
        // or at the ordinary poll interval if sooner (jobs of other keys enqueued without a
        // NOTIFY); never the fast poll, which would only find the same keys still without tokens.
        case KEY_RATE -> nextPollNanos = now + Math.min(pollNanos, controlled.waitNanos());
        // The row is gone (every control removed): the ordinary claim, at once.
        case NO_CONTROL -> fallBack = true;
        default -> { }
      }
      if (fallBack && control.limited()) {
        control = new QueueControl(control.paused(), 0, 0, 0, false);
        completer.writePromptly(queue, false);
        wake = true;
      }
      if (closing || control.paused()) {
        toRelease = jobs;
      } else {
        if (jobs.size() > 1) {
          jobs.sort(ClaimedJob::claimOrder);
        }
        for (ClaimedJob job : jobs) {
          if (running < concurrency) {
            running++;
            launching++;
            toStart.add(job);
          } else {
            buffer.add(job);
          }
        }
      }
    } finally {
      lock.unlock();
    }
    if (toRelease != null) {
      for (ClaimedJob job : toRelease) {
        completer.submit(Outcome.release(job));
      }
      return;
    }
    for (ClaimedJob job : toStart) {
      launcher.launch(job, this);
    }
  }

  /**
   * The handler's thread finished a job and asks for the next: frees its slot and, if a buffered
   * job is waiting, takes the slot again for it, so the same thread runs it without a hand-off.
   *
   * @return the next job for this thread, or null (the thread's task ends)
   */
  ClaimedJob next() {
    lock.lock();
    try {
      running--;
      ClaimedJob next = closing || control.paused() ? null : buffer.poll();
      if (next != null) {
        running++;
        launching++;
      }
      changed.signalAll();
      return next;
    } finally {
      lock.unlock();
    }
  }

  /**
   * A slot was freed by someone other than its thread (an abandoned or rejected job): frees it and
   * starts a buffered job, if any, on a new task.
   */
  void jobDone() {
    ClaimedJob next;
    lock.lock();
    try {
      running--;
      next = closing || control.paused() ? null : buffer.poll();
      if (next != null) {
        running++;
        launching++;
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (next != null) {
      launcher.launch(next, this);
    }
  }

  /**
   * A handler thread is about to run a job this fetcher handed out (from a claim or the buffer),
   * or gave up on starting it: it no longer counts as launching.
   */
  void entered() {
    lock.lock();
    try {
      launching--;
      if (launching == 0) {
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * The control thread read the queue's flow control. On a pause, or when a limit is set, the
   * buffered jobs are released (uncharged: they never started); on a resume, or when a limit goes,
   * the fetcher claims at once. Any thread.
   */
  void control(QueueControl next) {
    List<ClaimedJob> released = List.of();
    lock.lock();
    try {
      QueueControl old = control;
      control = next;
      // Under a global limit this worker's finished jobs hold slots until they are written.
      completer.writePromptly(queue, next.maxRunning() > 0);
      trackFinished = next.maxRunning() > 0;
      if (!trackFinished) {
        finished.clear();
      }
      if ((next.paused() && !old.paused()) || (next.rated() && !old.rated())) {
        released = new ArrayList<>(buffer);
        buffer.clear();
        bufferTarget = 0;
      }
      if ((old.paused() && !next.paused()) || !old.equals(next)) {
        wake = true;
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (ClaimedJob job : released) {
      completer.submit(Outcome.release(job));
    }
    if (!released.isEmpty()) {
      log.info("pgqueue: queue \"{}\" is {}: released {} claimed jobs that had not started (no attempt charged)",
          queue, next.paused() ? "paused" : "limited", released.size());
    }
  }

  /**
   * Waits up to {@code timeoutNanos} until the fetcher is quiet: no claim in flight, nothing
   * buffered, and every job it handed out entered by its handler thread. After a pause (see
   * {@link #control}) a quiet fetcher starts nothing more until the resume.
   *
   * @return whether it is quiet
   */
  boolean awaitQuiet(long timeoutNanos) throws InterruptedException {
    long deadline = System.nanoTime() + timeoutNanos;
    lock.lock();
    try {
      while (claiming || launching > 0 || !buffer.isEmpty()) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        changed.awaitNanos(left);
      }
      return true;
    } finally {
      lock.unlock();
    }
  }

  /**
   * The largest buffer: {@code concurrency * bufferFactor}, and under a global limit at most the
   * slots the limit leaves beyond this worker's concurrency. A buffered job counts as running for
   * the limit; a finished one whose outcome is on its way does not count for this worker's claims
   * ({@link #finished}), so the buffer can take the limit's remaining slots. (When finished jobs
   * still counted, until the completer wrote them, a buffer that filled the limit left each claim
   * only the slots the last write freed, and the cap was half of these slots.) Guarded by lock.
   */
  private int bufferCap() {
    int max = control.maxRunning();
    return max > 0 ? Math.min(maxBuffer, Math.max(0, max - concurrency)) : maxBuffer;
  }

  /**
   * The completer wrote outcomes of this queue: running rows were deleted or released, so global
   * slots freed. Wakes the fetcher if its last claim found the queue's global limit reached (it
   * would otherwise wait for its next poll, 20 ms, while its own finished jobs were what held the
   * slots); otherwise does nothing, so an uncontrolled queue's claims are unchanged.
   */
  void slotsFreed() {
    if (!heldFull) {
      return;
    }
    lock.lock();
    try {
      if (heldFull) {
        heldFull = false;
        wake = true;
        changed.signalAll();
      }
    } finally {
      lock.unlock();
    }
  }

  /** A NOTIFY for this queue arrived, or the worker (re)connected: claim at once. */
  void wake() {
    lock.lock();
    try {
      wake = true;
      wakes++;
      fastPollUntilNanos = System.nanoTime() + FAST_POLL_WINDOW_NANOS;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * A {@link JobQueue} of this JVM committed a job of this queue, due now ({@link LocalWake}):
   * claim at once. Unlike {@link #wake()} it does not start fast polling: the job is committed, so
   * the claim finds it unless another worker took it first, and no NOTIFY was skipped that a poll
   * would have to make up for. A wake-up for nothing (a job already taken) costs one claim.
   */
  void wakeLocal() {
    PickupProbe.at(PickupProbe.Point.WAKE_LOCAL, 0);
    lock.lock();
    try {
      wake = true;
      localWakes++;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** How many wake() calls (NOTIFY, start, reconnect) this fetcher received (tests). */
  long wakes() {
    lock.lock();
    try {
      return wakes;
    } finally {
      lock.unlock();
    }
  }

  /** How many in-process wake-ups this fetcher received (tests). */
  long localWakes() {
    lock.lock();
    try {
      return localWakes;
    } finally {
      lock.unlock();
    }
  }

  /** Nanoseconds until the next poll is due, negative when due (tests: the fetcher is idle). */
  long nanosToNextPoll() {
    lock.lock();
    try {
      return nextPollNanos - System.nanoTime();
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void start(String threadName) {
    service.start(threadName);
  }

  /**
   * Stops claiming (a claim in flight still returns, and its jobs are released) and releases the
   * buffered jobs through the completer, without charging an attempt. Idempotent; any thread.
   *
   * @return how many buffered jobs this call released
   */
  int stopClaiming() {
    List<ClaimedJob> released;
    lock.lock();
    try {
      closing = true;
      released = new ArrayList<>(buffer);
      buffer.clear();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    for (ClaimedJob job : released) {
      completer.submit(Outcome.release(job));
    }
    return released.size();
  }

  /**
   * Stops claiming ({@link #stopClaiming()}) and waits up to {@code timeoutMillis} for a claim in
   * flight to return; if it has not, its jobs are released as it returns (see {@link
   * Completer#submit}).
   */
  @Override
  public boolean stop(long timeoutMillis) {
    stopClaiming();
    Thread t = service.stop(() -> {});
    boolean ended = ServiceThread.join(t, timeoutMillis);
    if (!ended) {
      log.warn("pgqueue: {} is still claiming at shutdown; the jobs it claims will be released as it returns",
          t.getName());
    }
    return ended;
  }

  long claims() {
    return claims;
  }

  long claimedJobs() {
    return claimedJobs;
  }

  /** Claims that started after the last job claimed ({@link ClaimCursor}). */
  long claimsAfterCursor() {
    return claimsAfterCursor;
  }

  /** Claims that took THE CLAIM BY NAME. */
  long claimsByName() {
    return claimsByName;
  }

  int running() {
    lock.lock();
    try {
      return running;
    } finally {
      lock.unlock();
    }
  }

  /** Claimed jobs waiting in the local buffer for a slot. */
  int buffered() {
    lock.lock();
    try {
      return buffer.size();
    } finally {
      lock.unlock();
    }
  }
}
