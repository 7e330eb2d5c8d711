package io.github.pgqueue;

/**
 * The thread of one {@link Service} and its start/stop state: what makes every part's start and
 * stop idempotent and thread-safe in the same way. A part creates one with its loop, calls {@link
 * #start(String)} from its {@code start}, and {@link #stop(Runnable)} then {@link #join(Thread,
 * long)} from its {@code stop}.
 */
final class ServiceThread {

  private final Runnable loop;
  private Thread thread; // guarded by this: null until started
  private boolean stopped; // guarded by this: once true, start() does nothing

  ServiceThread(Runnable loop) {
    this.loop = loop;
  }

  /** Starts the loop on a new daemon thread unless started or stopped already. */
  synchronized void start(String threadName) {
    if (thread != null || stopped) {
      return;
    }
    Thread t = new Thread(loop, threadName);
    t.setDaemon(true);
    t.start(); // if this throws (no more threads), the part is as if never started
    thread = t;
  }

  /**
   * Marks the part stopped, so no start can follow; on the first call only, runs {@code
   * firstStop} (it tells the loop to end, and must not block) under this object's lock, so a
   * concurrent start either came before it (and its thread sees the loop told to end) or does
   * nothing.
   *
   * @return the part's thread, or null if it was never started
   */
  synchronized Thread stop(Runnable firstStop) {
    if (!stopped) {
      stopped = true;
      firstStop.run();
    }
    return thread;
  }

  /** The part's thread, or null if it was never started. */
  synchronized Thread thread() {
    return thread;
  }

  /**
   * Waits up to {@code millis} (at least 1 ms) for {@code t} to end. Like {@link Lifecycle}, it
   * keeps waiting through an interrupt (the wait is bounded anyway, and a close that gave up at the
   * first interrupt would leave the parts after this one running) and sets the caller's interrupt
   * flag again before it returns.
   *
   * @return true if {@code t} is null or has ended
   */
  static boolean join(Thread t, long millis) {
    if (t == null) {
      return true;
    }
    if (t == Thread.currentThread()) {
      return false; // waiting for itself would only use up the bound
    }
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(Math.max(1, millis));
    boolean interrupted = false;
    while (t.isAlive()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        break;
      }
      try {
        java.util.concurrent.TimeUnit.NANOSECONDS.timedJoin(t, left);
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return !t.isAlive();
  }
}
