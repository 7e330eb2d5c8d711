package io.github.pgqueue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Enforces job timeouts. Java cannot stop a thread ({@code interrupt()} does not unblock a socket
 * read or a busy loop), so past its timeout a handler is interrupted, and if it has not returned
 * after the grace period its attempt is abandoned: recorded as timed out, the job re-queued with
 * backoff (or discarded if it was the last attempt), the slot freed, and the handler's late outcome
 * ignored. The abandoned thread is counted until it returns; past the cap the worker stops
 * claiming and reports unhealthy, because every stuck thread may hold resources (connections,
 * locks) of its own.
 *
 * <p>It also stops attempts whose job was cancelled from outside ({@link #cancel}): interrupted
 * at once, abandoned after the same grace if they ignore it.
 *
 * <p>One thread checks every running attempt each {@value #TICK_MILLIS} ms, which costs nothing
 * per job on the hot path beyond a set insertion.
 */
final class Watchdog implements Runnable, Service {

  static final long TICK_MILLIS = 50;

  private static final Logger log = LoggerFactory.getLogger(Watchdog.class);

  /** Added and removed by handler threads and the watchdog's thread: a concurrent set. */
  private final Set<JobRun> running = ConcurrentHashMap.newKeySet();
  /** Written by the watchdog's thread, entries removed by handler threads: a concurrent map. */
  private final ConcurrentHashMap<JobRun, Long> interruptedAt = new ConcurrentHashMap<>();
  private final long graceNanos;
  private final WorkerState state;
  /** Written once by the first stop() (any thread), read by the watchdog's thread. */
  private volatile boolean stopping;
  private final ServiceThread service = new ServiceThread(this);

  Watchdog(long graceNanos, WorkerState state) {
    this.graceNanos = graceNanos;
    this.state = state;
  }

  @Override
  public void start(String threadName) {
    service.start(threadName);
  }

  void started(JobRun run) {
    running.add(run);
  }

  void finished(JobRun run) {
    running.remove(run);
    interruptedAt.remove(run);
  }

  Set<JobRun> running() {
    return running;
  }

  /** Cancels to act on: {owner, id, token}. Added by the control and maintenance threads. */
  private final java.util.concurrent.ConcurrentLinkedQueue<long[]> cancels =
      new java.util.concurrent.ConcurrentLinkedQueue<>();

  /**
   * A job was cancelled from outside while it may run here: its attempt (if this worker runs that
   * claim of it) is interrupted at the watchdog's next tick, and abandoned after the grace if the
   * handler ignores the interrupt. {@code token} 0 matches any claim of the job (the polling
   * fallback knows only the id). Returns at once: stopping an attempt may take network round trips
   * (cancelling its statement, aborting its connection), which must not hold up the heartbeat.
   */
  void cancel(long owner, long id, long token) {
    cancels.add(new long[] {owner, id, token});
  }

  /** On the watchdog's thread: acts on the cancels received since the last tick. */
  private void applyCancels() {
    long[] c;
    while ((c = cancels.poll()) != null) {
      try {
        cancelNow(c[0], c[1], c[2]);
      } catch (Throwable t) {
        JobRun.logUserFailure(log, "pgqueue: stopping cancelled job " + c[1] + " failed; it goes on", t);
      }
    }
  }

  private void cancelNow(long owner, long id, long token) {
    for (JobRun run : running) {
      ClaimedJob job = run.job;
      if (job.id() == id && (token == 0 || (job.token() == token && job.owner() == owner)) && !run.isSettled()
          && !run.cancelledElsewhere) {
        log.info("pgqueue: {} was cancelled while it ran; interrupting it", run);
        interruptedAt.putIfAbsent(run, System.nanoTime());
        run.cancelFromOutside();
        if (run.isSettled()) {
          interruptedAt.remove(run); // it ended meanwhile: finished() may already have run
        }
      }
    }
  }

  @Override
  public void run() {
    while (!stopping) {
      try {
        Thread.sleep(TICK_MILLIS);
      } catch (InterruptedException e) {
        return;
      }
      applyCancels();
      long now = System.nanoTime();
      for (JobRun run : running) {
        try {
          check(run, now);
        } catch (Throwable t) {
          // Abandoning runs user code (the Backoff, exception messages). Whatever it throws, this
          // thread must live on: it is the only one that enforces timeouts.
          JobRun.logUserFailure(log, "pgqueue: the watchdog failed to handle " + run + "; it goes on", t);
        }
      }
    }
  }

  private void check(JobRun run, long now) {
    long started = run.startedNanos();
    if (started == 0 || run.isSettled()) {
      return;
    }
    Long interrupted = interruptedAt.get(run);
    if (interrupted == null) {
      if (now - started >= run.timeoutNanos) {
        run.timedOut = true;
        interruptedAt.put(run, now);
        log.warn("pgqueue: {} ran past its timeout of {} ms; interrupting it", run,
            TimeUnit.NANOSECONDS.toMillis(run.timeoutNanos));
        run.interrupt();
      }
    } else if (now - interrupted >= graceNanos && run.abandon()) {
      running.remove(run);
      interruptedAt.remove(run);
      int stuck = state.abandonedOne();
      log.error(
          "pgqueue: {} ignored its interrupt for {} ms; abandoned its thread ({} abandoned threads"
              + " still running{})",
          run, TimeUnit.NANOSECONDS.toMillis(graceNanos), stuck,
          state.overAbandonCap() ? "; over the cap: this worker stops claiming and reports unhealthy" : "");
    }
  }

  /** Interrupts the tick's sleep; the thread ends at once unless a check is running user code. */
  @Override
  public boolean stop(long timeoutMillis) {
    Thread t = service.stop(() -> stopping = true);
    if (t != null) {
      t.interrupt();
    }
    return ServiceThread.join(t, timeoutMillis);
  }
}
