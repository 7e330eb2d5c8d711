package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One attempt of one job: decodes the payload, runs the handler, and turns what happened into an
 * {@link Outcome}. Also the {@link JobContext} the handler sees.
 *
 * <p>Exactly one outcome is reported per attempt, by whichever comes first: the handler returning,
 * or the watchdog abandoning it past its timeout and grace. The loser is ignored here, and the
 * database guard (id, lock owner, claim token) ignores any late write.
 */
final class JobRun implements Runnable, JobContext {

  private static final Logger log = LoggerFactory.getLogger(JobRun.class);

  /** Receives the attempt's single outcome. */
  interface Sink {
    void settled(JobRun run, Outcome outcome, JobEvent event);

    /** The thread of an attempt abandoned earlier has finally returned. */
    void abandonedThreadReturned(JobRun run);
  }

  final ClaimedJob job;
  final Worker.Registration<?> registration;
  private final PayloadCodec codec;
  private final Sink sink;
  private final JobListener listener;
  final long timeoutNanos;
  /** The worker's data source and statements; null only where no handler is transactional (tests). */
  private final RunSupport support;

  /** Who reported the attempt's outcome: nobody yet, the handler's thread, the watchdog, or shutdown. */
  private static final int OPEN = 0;
  private static final int BY_HANDLER_THREAD = 1;
  private static final int BY_TIMEOUT = 2;
  private static final int BY_SHUTDOWN = 3;

  private final AtomicInteger settledBy = new AtomicInteger(OPEN);
  /** Taken to aim an interrupt at the handler's thread and to end the attempt on it. */
  private final Object interruptLock = new Object();
  /** The thread running the attempt; set and cleared by it, under {@link #interruptLock}. */
  private Thread thread;
  private volatile long startedNanos;
  /** Set by the watchdog when it interrupted the handler for its timeout. */
  volatile boolean timedOut;
  /** Set by shutdown when it interrupted the handler to stop. */
  volatile boolean stopped;
  /**
   * Set when the job was cancelled from outside while this attempt ran: the canceller already wrote
   * the job's terminal state, so the attempt's outcome writes nothing.
   */
  volatile boolean cancelledElsewhere;
  private volatile Duration snoozeFor;
  private volatile String cancelReason;
  // The interceptor chain's record of the attempt; written and read only on the attempt's thread.
  /** What decoding threw, if it did. */
  private Throwable decodeFailure;
  /** What the handler threw, if it did. */
  private Throwable handlerFailure;
  /** Whether the chain reached decoding and the handler. */
  private boolean handlerReached;
  /** Index of the innermost interceptor entered. */
  private int deepestInterceptor;

  // A transactional handler's connection. Opened and ended by the attempt's thread; aborted by
  // whoever abandons the attempt (watchdog, shutdown) so the transaction's locks go with it.
  private final Object txLock = new Object();
  /** Under {@link #txLock}: the open transaction, or null. */
  private Connection txConnection;
  /** Under {@link #txLock}: the attempt was abandoned; a connection opened later is aborted at once. */
  private boolean txAborted;
  /** The connection's autocommit when borrowed; the attempt's thread only. */
  private boolean txAutoCommit;

  JobRun(
      ClaimedJob job,
      Worker.Registration<?> registration,
      PayloadCodec codec,
      Sink sink,
      JobListener listener,
      long timeoutNanos) {
    this(job, registration, codec, sink, listener, timeoutNanos, null);
  }

  JobRun(
      ClaimedJob job,
      Worker.Registration<?> registration,
      PayloadCodec codec,
      Sink sink,
      JobListener listener,
      long timeoutNanos,
      RunSupport support) {
    this.support = support;
    this.job = job;
    this.registration = registration;
    this.codec = codec;
    this.sink = sink;
    this.listener = listener;
    this.timeoutNanos = timeoutNanos;
  }

  @Override
  public void run() {
    // An interrupt pending here was meant for an earlier attempt on this pooled thread (its
    // watchdog or shutdown): never let it hit this one.
    Thread.interrupted();
    synchronized (interruptLock) {
      thread = Thread.currentThread();
    }
    startedNanos = System.nanoTime();
    MDC.put("pgqueue.job_id", Long.toString(job.id()));
    MDC.put("pgqueue.job_name", job.name());
    MDC.put("pgqueue.queue", job.queue());
    try {
      if (listener != null) {
        emit(event(JobEvent.Kind.STARTED, Duration.ZERO, null, null));
      }
      Throwable thrown = null;
      try {
        proceed(0, Thread.currentThread());
      } catch (Throwable t) {
        thrown = t;
      }
      Throwable decodeError = decodeFailure;
      if (decodeError instanceof Exception) {
        finish(Outcome.discard(job, errorJson(JobError.Kind.UNDECODABLE, decodeError)),
            JobEvent.Kind.DISCARDED, decodeError, null);
        return;
      }
      if (decodeError != null) {
        // An Error while decoding (a class that fails to initialise, a stack overflow in a custom
        // deserializer) may be the deployment's, not the payload's: retry rather than discard.
        fail(JobError.Kind.FAILED, decodeError, null);
        return;
      }
      Throwable failure;
      if (!handlerReached) {
        // An interceptor threw before proceeding, or returned without proceeding.
        failure = thrown != null ? thrown : new IllegalStateException("job interceptor "
            + describe(registration.interceptors().get(deepestInterceptor))
            + " returned without calling proceed(): the handler did not run");
      } else {
        // The handler's failure stands whatever an interceptor made of it; an interceptor that
        // threw after a successful handler fails the attempt.
        failure = handlerFailure != null ? handlerFailure : thrown;
      }
      finishAfterHandler(failure);
    } catch (Throwable t) {
      // Building the outcome failed in a way the steps above did not contain. The attempt must
      // still end with an outcome, or the job would stay running under a live worker forever.
      settleAfterInternalFailure(t);
    } finally {
      // Whatever path ended the attempt, a transaction still open is rolled back and its
      // connection given back (the outcome paths end it earlier, before reporting).
      endTransaction();
      synchronized (interruptLock) {
        // From here on no interrupt is aimed at this thread on this attempt's behalf.
        thread = null;
      }
      try {
        if (settledBy.get() == BY_TIMEOUT) {
          sink.abandonedThreadReturned(this);
        }
      } finally {
        MDC.remove("pgqueue.job_id");
        MDC.remove("pgqueue.job_name");
        MDC.remove("pgqueue.queue");
        // Do not leak an interrupt meant for this job into the next task on this pooled thread.
        Thread.interrupted();
      }
    }
  }

  /**
   * Runs interceptor {@code i} (or, past the last, decoding and the handler), recording what
   * decoding and the handler did so the outcome does not depend on what an interceptor makes of it.
   */
  private void proceed(int i, Thread attemptThread) throws Exception {
    List<JobInterceptor> interceptors = registration.interceptors();
    if (i == interceptors.size()) {
      handlerReached = true;
      Object payload;
      try {
        payload = codec.decode(registration.type(), job.payloadJson());
      } catch (Throwable e) {
        decodeFailure = e;
        throw rethrow(e);
      }
      try {
        if (registration.transactional()) {
          registration.invoke(payload, this, openTransaction());
        } else {
          registration.invoke(payload, this);
        }
      } catch (Throwable t) {
        handlerFailure = t;
        throw rethrow(t);
      }
      return;
    }
    deepestInterceptor = i;
    JobInterceptor interceptor = interceptors.get(i);
    boolean[] proceeded = new boolean[1];
    interceptor.intercept(this, () -> {
      if (Thread.currentThread() != attemptThread) {
        throw new IllegalStateException("job interceptor " + describe(interceptor) + " called proceed() on thread "
            + Thread.currentThread().getName() + ", not on the attempt's thread " + attemptThread.getName());
      }
      if (proceeded[0]) {
        throw new IllegalStateException("job interceptor " + describe(interceptor) + " called proceed() twice");
      }
      proceeded[0] = true;
      proceed(i + 1, attemptThread);
    });
  }

  /** Throws {@code t} as is if it is an Exception or Error (what proceed() may throw), else wrapped. */
  private static Exception rethrow(Throwable t) {
    if (t instanceof Exception e) {
      return e;
    }
    if (t instanceof Error e) {
      throw e;
    }
    return new java.lang.reflect.UndeclaredThrowableException(t);
  }

  /** An interceptor's description for an error record; user toString() may throw. */
  private static String describe(Object o) {
    try {
      return String.valueOf(o);
    } catch (Throwable broken) {
      return o.getClass().getName();
    }
  }

  /**
   * The last resort when recording the attempt's outcome itself threw: report a retry (or a
   * discard on the last attempt) with the default backoff and a minimal error that names what
   * broke, built without calling into user code.
   */
  private void settleAfterInternalFailure(Throwable t) {
    if (settledBy.get() != OPEN) {
      logUserFailure(log, "pgqueue: " + this + " failed after its outcome was reported", t);
      return;
    }
    logUserFailure(log, "pgqueue: recording the outcome of " + this + " failed; retrying it with the default backoff", t);
    String json = errorJson(JobError.Kind.FAILED, t.getClass().getName(),
        "pgqueue could not record this attempt's outcome: " + safeDescription(t), "");
    if (job.attempt() >= job.maxAttempts()) {
      finish(Outcome.discard(job, json), JobEvent.Kind.DISCARDED, t, null);
    } else {
      Duration delay = Backoff.DEFAULT.delay(job.attempt());
      finish(Outcome.retry(job, micros(delay), json), JobEvent.Kind.RETRIED, t, delay);
    }
  }

  private void finishAfterHandler(Throwable failure) {
    if (cancelledElsewhere) {
      endTransaction();
      finish(Outcome.alreadyWritten(job), JobEvent.Kind.CANCELLED, null, null);
      return;
    }
    if (registration.transactional()) {
      if (failure == null && snoozeFor == null && cancelReason == null && hasTransaction()) {
        completeInTransaction();
        return;
      }
      // Anything but success: the handler's writes roll back before the outcome is reported, so
      // the completer never meets a lock this transaction holds.
      endTransaction();
    }
    if (failure != null && !stopped) {
      flushProgress();
    }
    if (stopped) {
      // Shutdown interrupted it: whatever it threw, the job goes back without charge.
      if (failure == null && snoozeFor == null && cancelReason == null) {
        finish(Outcome.success(job), JobEvent.Kind.SUCCEEDED, null, null);
      } else {
        finish(Outcome.release(job), JobEvent.Kind.SNOOZED, null, Duration.ZERO);
      }
      return;
    }
    String reason = cancelReason;
    Duration snooze = snoozeFor;
    if (reason != null) {
      finish(Outcome.discard(job, errorJson(JobError.Kind.CANCELLED, "io.github.pgqueue.Cancelled", reason, "")),
          JobEvent.Kind.CANCELLED, null, null);
    } else if (snooze != null) {
      finish(Outcome.snooze(job, micros(snooze)), JobEvent.Kind.SNOOZED, null, snooze);
    } else if (failure == null) {
      finish(Outcome.success(job), JobEvent.Kind.SUCCEEDED, null, null);
    } else if (timedOut) {
      fail(JobError.Kind.TIMED_OUT, new JobTimeoutException(Duration.ofNanos(timeoutNanos), false), failure);
    } else {
      fail(JobError.Kind.FAILED, failure, null);
    }
  }

  // ---- transactional completion ---------------------------------------------------------------

  /** Borrows the attempt's connection and begins its transaction (autocommit off). */
  private Connection openTransaction() throws SQLException {
    if (support == null) {
      throw new IllegalStateException("a transactional handler needs the worker's data source");
    }
    Connection c = support.dataSource().getConnection();
    try {
      txAutoCommit = c.getAutoCommit();
      if (txAutoCommit) {
        c.setAutoCommit(false);
      }
    } catch (SQLException | RuntimeException e) {
      Borrowed.close(c);
      throw e;
    }
    boolean aborted;
    synchronized (txLock) {
      aborted = txAborted;
      if (!aborted) {
        txConnection = c;
      }
    }
    if (aborted) {
      abort(c);
      throw new IllegalStateException("the attempt was abandoned before its transaction began");
    }
    return c;
  }

  private boolean hasTransaction() {
    synchronized (txLock) {
      return txConnection != null;
    }
  }

  /**
   * The handler returned normally: run the guarded completion last in its transaction, then
   * commit. The guard matching nothing (the job was rescued or cancelled while the handler ran)
   * rolls everything back; a commit whose reply was lost is settled by looking the claim up.
   */
  private void completeInTransaction() {
    Connection c;
    synchronized (txLock) {
      c = txConnection;
    }
    if (settledBy.get() != OPEN) {
      endTransaction(); // abandoned meanwhile: its outcome is reported; nothing may commit
      return;
    }
    boolean held;
    try {
      held = support.store().completeHeld(c, job);
    } catch (SQLException | RuntimeException e) {
      endTransaction();
      fail(JobError.Kind.FAILED, e, null);
      return;
    }
    if (!held) {
      endTransaction();
      fail(JobError.Kind.FAILED, new PgQueueException("job " + job.id() + " was taken from this attempt while it ran"
          + " (rescued from a worker judged dead, or cancelled): its transaction was rolled back"), null);
      return;
    }
    try {
      c.commit();
    } catch (SQLException e) {
      endTransaction();
      if (Borrowed.connectionFailure(e)) {
        settleUnknownCommit(e);
      } else {
        fail(JobError.Kind.FAILED, e, null); // refused at commit (a deferred constraint, a serialization failure)
      }
      return;
    } catch (RuntimeException e) {
      endTransaction();
      settleUnknownCommit(new SQLException("the commit failed: " + e, null, e));
      return;
    }
    endTransaction();
    finish(Outcome.alreadyWritten(job), JobEvent.Kind.SUCCEEDED, null, null);
  }

  /** Most tries of the lookup that settles a commit whose reply was lost, before the watchdog's turn. */
  private static final long UNKNOWN_COMMIT_MAX_WAIT_MILLIS = 5_000;

  /**
   * The commit's reply was lost: it may or may not have committed. The claim still holding the job
   * (looked up with {@code FOR UPDATE}, so after the lost session's transaction has ended) means it
   * did not, and the attempt is retried; the job gone or held by another claim means it is not this
   * attempt's to write any more. Retried with backoff while the database is unreachable, until the
   * answer comes or someone else (the watchdog, shutdown) reports the attempt.
   */
  private void settleUnknownCommit(SQLException lost) {
    long waitMillis = 50;
    boolean interrupted = false;
    try {
      while (settledBy.get() == OPEN) {
        try {
          boolean stillHeld = Borrowed.transaction(support.dataSource(), false,
              lc -> support.store().claimStillHeld(lc, job));
          if (stillHeld) {
            fail(JobError.Kind.FAILED, new PgQueueException("the commit of job " + job.id()
                + "'s transaction lost its reply; the job is still held by this attempt, so it did not commit", lost), null);
          } else {
            log.info("pgqueue: the commit of {} lost its reply; the job is no longer held by its claim, so it committed"
                + " (or the job was taken from this attempt and its writes rolled back)", this);
            finish(Outcome.alreadyWritten(job), JobEvent.Kind.SUCCEEDED, null, null);
          }
          return;
        } catch (SQLException | RuntimeException e) {
          log.warn("pgqueue: could not yet settle the lost commit of {}; trying again in {} ms", this, waitMillis, e);
        }
        try {
          Thread.sleep(waitMillis);
        } catch (InterruptedException e) {
          interrupted = true;
        }
        waitMillis = Math.min(waitMillis * 2, UNKNOWN_COMMIT_MAX_WAIT_MILLIS);
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Rolls back what is still open and gives the connection back as it came. The attempt's thread. */
  private void endTransaction() {
    Connection c;
    synchronized (txLock) {
      c = txConnection;
      txConnection = null;
    }
    if (c == null) {
      return;
    }
    try {
      c.rollback(); // nothing to roll back after a commit
    } catch (SQLException | RuntimeException e) {
      log.debug("pgqueue: rolling back the transaction of {} failed", this, e);
    }
    try {
      if (txAutoCommit) {
        c.setAutoCommit(true);
      }
    } catch (SQLException | RuntimeException e) {
      log.debug("pgqueue: could not restore autocommit after {}", this, e);
    }
    Borrowed.close(c);
  }

  /**
   * Aborts the attempt's transaction from another thread (it is abandoned): the socket is closed,
   * so PostgreSQL rolls the transaction back and releases its locks even while the handler's
   * thread is still stuck; the connection is closed, so a pool takes it back (and discards it).
   */
  void abortTransaction() {
    Connection c;
    synchronized (txLock) {
      txAborted = true;
      c = txConnection;
    }
    if (c != null) {
      abort(c);
    }
  }

  private void abort(Connection c) {
    try {
      // Closing the socket alone does not stop a statement the server is running (pg_sleep, a
      // long query): it notices the closed client only when it next talks to it. Cancel the
      // statement first (a request on a separate socket), so the session ends and its locks go now.
      if (c.isWrapperFor(org.postgresql.PGConnection.class)) {
        c.unwrap(org.postgresql.PGConnection.class).cancelQuery();
      }
    } catch (SQLException | RuntimeException e) {
      log.debug("pgqueue: cancelling the statement of {} failed", this, e);
    }
    try {
      c.abort(Runnable::run);
    } catch (SQLException | RuntimeException e) {
      log.debug("pgqueue: aborting the connection of {} failed", this, e);
    }
    try {
      c.close();
    } catch (SQLException | RuntimeException e) {
      log.debug("pgqueue: closing the aborted connection of {} failed", this, e);
    }
  }

  /**
   * The job was cancelled from outside while this attempt runs: mark it, abort its transaction
   * (its writes can no longer commit: the claim is gone) and interrupt the handler. Called by the
   * watchdog, which abandons the attempt after the grace if the handler ignores the interrupt.
   */
  void cancelFromOutside() {
    cancelledElsewhere = true;
    abortTransaction();
    interrupt();
  }

  /** Called by the watchdog once the grace after the timeout (or cancel) interrupt has passed. */
  boolean abandon() {
    if (settledBy.get() != OPEN) {
      return false;
    }
    abortTransaction();
    if (cancelledElsewhere) {
      return finish(Outcome.alreadyWritten(job), JobEvent.Kind.CANCELLED, null, null, BY_TIMEOUT);
    }
    JobTimeoutException e = new JobTimeoutException(Duration.ofNanos(timeoutNanos), true);
    return fail(JobError.Kind.TIMED_OUT, e, null, BY_TIMEOUT);
  }

  /** Called by shutdown for a handler that ignored its interrupt: release the job without charge. */
  boolean abandonForShutdown() {
    if (settledBy.get() == OPEN) {
      abortTransaction();
    }
    return finish(Outcome.release(job), JobEvent.Kind.SNOOZED, null, Duration.ZERO, BY_SHUTDOWN);
  }

  /**
   * True when someone other than the handler's own thread reported the outcome (the watchdog or
   * shutdown): that someone freed the slot, and the handler's thread, if it ever returns, must not
   * take more work.
   */
  boolean settledElsewhere() {
    int by = settledBy.get();
    return by == BY_TIMEOUT || by == BY_SHUTDOWN;
  }

  private boolean fail(JobError.Kind kind, Throwable error, Throwable cause) {
    return fail(kind, error, cause, BY_HANDLER_THREAD);
  }

  private boolean fail(JobError.Kind kind, Throwable error, Throwable cause, int by) {
    if (cause != null && cause != error) {
      try {
        error.initCause(cause);
      } catch (RuntimeException alreadySet) {
        error.addSuppressed(cause);
      }
    }
    if (job.attempt() >= job.maxAttempts()) {
      return finish(Outcome.discard(job, errorJson(kind, error)), JobEvent.Kind.DISCARDED, error, null, by);
    }
    Duration delay;
    long delayMicros;
    String note = null;
    try {
      delay = registration.backoff().delay(job.attempt());
      if (delay == null || delay.isNegative()) {
        throw new IllegalArgumentException("it returned " + delay + ", not a zero or positive duration");
      }
      delayMicros = micros(delay);
    } catch (Throwable t) {
      // A broken Backoff must not leave the job running forever: use the default, and say why.
      delay = Backoff.DEFAULT.delay(job.attempt());
      delayMicros = micros(delay);
      note = " [pgqueue: the job's Backoff failed (" + safeDescription(t) + "); retried after the default backoff]";
      logUserFailure(log, "pgqueue: the Backoff of " + this + " failed; using the default backoff (" + delay + ")", t);
    }
    String json = note == null ? errorJson(kind, error) : errorJson(kind, error, note);
    return finish(Outcome.retry(job, delayMicros, json), JobEvent.Kind.RETRIED, error, delay, by);
  }

  private boolean finish(Outcome outcome, JobEvent.Kind kind, Throwable error, Duration retryIn) {
    return finish(outcome, kind, error, retryIn, BY_HANDLER_THREAD);
  }

  private boolean finish(Outcome outcome, JobEvent.Kind kind, Throwable error, Duration retryIn, int by) {
    if (!settledBy.compareAndSet(OPEN, by)) {
      return false;
    }
    Duration took = startedNanos == 0 ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - startedNanos);
    JobEvent event = event(kind, took, error, retryIn);
    // The outcome goes to the sink first: a listener that throws or blocks must not keep it from
    // being written (a blocking listener holds its slot, never the job).
    sink.settled(this, outcome, event);
    if (error != null && log.isWarnEnabled()) {
      log.warn(
          "pgqueue: job {} ({}, queue {}) attempt {}/{} {}: {}",
          job.id(), job.name(), job.queue(), job.attempt(), job.maxAttempts(),
          kind == JobEvent.Kind.RETRIED ? "failed, retrying in " + retryIn : "failed, discarded",
          safeDescription(error));
    }
    emit(event);
    return true;
  }

  boolean isSettled() {
    return settledBy.get() != OPEN;
  }

  /**
   * Interrupts the handler's thread if this attempt is still running on it. Under the lock that
   * {@link #run()} takes to end the attempt, so an interrupt can never reach the thread after it
   * has moved on to another job.
   */
  void interrupt() {
    synchronized (interruptLock) {
      Thread t = thread;
      if (t != null) {
        t.interrupt();
      }
    }
  }

  long startedNanos() {
    return startedNanos;
  }

  private JobEvent event(JobEvent.Kind kind, Duration took, Throwable error, Duration retryIn) {
    long started = startedNanos;
    return new JobEvent(kind, new JobId(job.id()), job.name(), job.queue(), job.attempt(), took, error, retryIn,
        job.runAt(), started == 0 ? null : job.startedAt(started));
  }

  private void emit(JobEvent event) {
    if (listener == null) {
      return;
    }
    try {
      listener.onEvent(event);
    } catch (Throwable e) {
      // Listeners are for metrics and tracing: whatever one throws changes no job.
      logUserFailure(log, "pgqueue: job listener threw on " + event.kind() + " of job " + job.id(), e);
    }
  }

  // ---- progress --------------------------------------------------------------------------------

  private static final com.fasterxml.jackson.databind.ObjectMapper PROGRESS_JSON = JacksonCodec.defaultMapper();

  /** Serialises progress writes of this attempt (the handler may report from several threads). */
  private final Object progressLock = new Object();
  /** Under {@link #progressLock}: the latest data not yet written (rate limit), or null. */
  private String pendingProgress;
  /** Under {@link #progressLock}: when the last write was made, if {@link #progressWrittenOnce}. */
  private long lastProgressNanos;
  private boolean progressWrittenOnce;
  /** A progress write found the claim gone: the job was cancelled or rescued. */
  private volatile boolean claimLost;

  @Override
  public boolean progress(Object data) {
    if (data == null) {
      throw new IllegalArgumentException("progress data must not be null");
    }
    String json;
    try {
      json = PROGRESS_JSON.writeValueAsString(data);
    } catch (Exception e) {
      throw new IllegalArgumentException("progress data cannot be encoded as JSON: " + safeDescription(e), e);
    }
    int bytes = json.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (bytes > MAX_PROGRESS_BYTES) {
      throw new IllegalArgumentException(
          "progress data must encode to at most " + MAX_PROGRESS_BYTES + " bytes, got: " + bytes);
    }
    if (support == null) {
      throw new IllegalStateException("this attempt has no database to record progress in");
    }
    if (claimLost || cancelledElsewhere || settledElsewhere()) {
      return false;
    }
    synchronized (progressLock) {
      long now = System.nanoTime();
      if (progressWrittenOnce && now - lastProgressNanos < support.progressNanos()) {
        pendingProgress = json;
        return true;
      }
      pendingProgress = null;
      progressWrittenOnce = true;
      lastProgressNanos = now;
      return writeProgress(json);
    }
  }

  /** Writes kept progress now (the attempt failed: the job stays, and so does its progress). */
  private void flushProgress() {
    synchronized (progressLock) {
      String json = pendingProgress;
      pendingProgress = null;
      if (json != null && !claimLost) {
        writeProgress(json);
      }
    }
  }

  /** Under {@link #progressLock}. False when the claim no longer holds the job. */
  private boolean writeProgress(String json) {
    try {
      boolean held = Borrowed.transaction(support.dataSource(), true, c -> support.store().writeProgress(c, job, json));
      if (!held) {
        claimLost = true;
      }
      return held;
    } catch (SQLException | RuntimeException e) {
      log.warn("pgqueue: could not record the progress of {}; the job goes on", this, e);
      return true;
    }
  }

  // ---- JobContext ----------------------------------------------------------------------------

  @Override
  public JobId id() {
    return new JobId(job.id());
  }

  @Override
  public String name() {
    return job.name();
  }

  @Override
  public String queue() {
    return job.queue();
  }

  @Override
  public int attempt() {
    return job.attempt();
  }

  @Override
  public int maxAttempts() {
    return job.maxAttempts();
  }

  @Override
  public int priority() {
    return job.priority();
  }

  @Override
  public Instant createdAt() {
    return job.createdAt();
  }

  @Override
  public Instant runAt() {
    return job.runAt();
  }

  @Override
  public String context() {
    return job.context();
  }

  @Override
  public Optional<TraceContext> traceContext() {
    return Optional.ofNullable(job.traceContext());
  }

  @Override
  public void snooze(Duration delay) {
    if (delay == null || delay.isNegative() || delay.compareTo(Duration.ofDays(365L * 100)) > 0) {
      throw new IllegalArgumentException("snooze delay must be between 0 and 100 years, got: " + delay);
    }
    snoozeFor = delay;
    cancelReason = null;
  }

  @Override
  public void cancel(String reason) {
    cancelReason = reason == null ? "cancelled" : reason;
    snoozeFor = null;
  }

  @Override
  public String toString() {
    return "job " + job.id() + " (" + job.name() + ", queue " + job.queue() + ", attempt " + job.attempt() + ")";
  }

  // ---- error records --------------------------------------------------------------------------

  static final int MAX_MESSAGE_CHARS = 2_000;
  static final int MAX_TRACE_CHARS = 4_000;
  static final int MAX_TRACE_LINES = 30;

  private String errorJson(JobError.Kind kind, Throwable t) {
    return errorJson(kind, t, "");
  }

  /** The error record of {@code t}; reading its message or trace may throw (user code): say so instead. */
  private String errorJson(JobError.Kind kind, Throwable t, String note) {
    String message;
    try {
      message = t.getMessage() == null ? "" : t.getMessage();
    } catch (Throwable broken) {
      message = "<getMessage() threw " + broken.getClass().getName() + ": " + rawMessage(broken) + ">";
    }
    String trace;
    try {
      trace = trace(t);
    } catch (Throwable broken) {
      trace = "<the stack trace could not be printed: " + broken.getClass().getName() + ">";
    }
    return errorJson(kind, t.getClass().getName(), message + note, trace);
  }

  /** {@code t.toString()}, or its class and a note when that throws. For logs and notes. */
  static String safeDescription(Throwable t) {
    try {
      return t.toString();
    } catch (Throwable broken) {
      return t.getClass().getName() + " <toString() threw " + broken.getClass().getName() + ">";
    }
  }

  /**
   * Logs a warning with a throwable that came from user code. Printing it calls its {@code
   * toString()}, which may itself throw: then it is logged by class name only.
   */
  static void logUserFailure(Logger logger, String message, Throwable t) {
    try {
      logger.warn(message, t);
    } catch (Throwable broken) {
      logger.warn("{}: {} (it could not be printed: {})", message, t.getClass().getName(), broken.getClass().getName());
    }
  }

  private static String rawMessage(Throwable t) {
    try {
      return String.valueOf(t.getMessage());
    } catch (Throwable again) {
      return "?";
    }
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper ERROR_JSON =
      new com.fasterxml.jackson.databind.ObjectMapper();

  private String errorJson(JobError.Kind kind, String errorClass, String message, String trace) {
    com.fasterxml.jackson.databind.node.ObjectNode e = ERROR_JSON.createObjectNode();
    e.put("attempt", job.attempt());
    e.put("kind", kind.name().toLowerCase(java.util.Locale.ROOT));
    e.put("class", clean(errorClass));
    e.put("message", clean(trim(message, MAX_MESSAGE_CHARS)));
    e.put("trace", clean(trace));
    return e.toString();
  }

  /** jsonb cannot hold NUL, and a lone surrogate has no UTF-8 form: make both visible instead. */
  static String clean(String s) {
    StringBuilder sb = null;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      String replacement = null;
      if (c == 0) {
        replacement = "\\0";
      } else if (Character.isHighSurrogate(c)) {
        if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
          if (sb != null) {
            sb.append(c).append(s.charAt(i + 1));
          }
          i++;
          continue;
        }
        replacement = "\ufffd";
      } else if (Character.isLowSurrogate(c)) {
        replacement = "\ufffd";
      }
      if (replacement != null && sb == null) {
        sb = new StringBuilder(s.length() + 8).append(s, 0, i);
      }
      if (sb != null) {
        if (replacement != null) {
          sb.append(replacement);
        } else {
          sb.append(c);
        }
      }
    }
    return sb == null ? s : sb.toString();
  }

  /** The stack trace with causes, cut to a few dozen lines: enough to find the failing line. */
  static String trace(Throwable t) {
    StringWriter w = new StringWriter();
    t.printStackTrace(new PrintWriter(w));
    String[] lines = w.toString().split("\n");
    StringBuilder sb = new StringBuilder();
    int kept = 0;
    for (String line : lines) {
      if (kept >= MAX_TRACE_LINES || sb.length() + line.length() > MAX_TRACE_CHARS) {
        sb.append("\t... ").append(lines.length - kept).append(" more lines");
        break;
      }
      sb.append(line.stripTrailing()).append('\n');
      kept++;
    }
    return sb.toString();
  }

  private static String trim(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max) + "...";
  }

  static long micros(Duration d) {
    return Math.addExact(Math.multiplyExact(d.getSeconds(), 1_000_000L), d.getNano() / 1_000L);
  }
}
