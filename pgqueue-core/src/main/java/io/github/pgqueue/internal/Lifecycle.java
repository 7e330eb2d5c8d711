package io.github.pgqueue.internal;

import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The start/close rules of a long-lived part (the worker in pgqueue-core, the cron scheduler in
 * pgqueue-cron: both use this class, so both follow the same rules), thread-safe:
 *
 * <ul>
 *   <li>{@code start()} on a new instance starts it. A second {@code start()} while it is starting
 *       or running does nothing (a concurrent one returns once the first has finished).
 *   <li>A {@code start()} that throws has released whatever it had started; the instance is then
 *       as if never started, and may be started again (after migrating the schema, say).
 *   <li>{@code close()} is idempotent and may be called from any thread, before, during or after
 *       {@code start()}. Before start it just marks the instance closed. During a start it asks the
 *       start to undo itself when it ends. Concurrent calls wait for the one doing the work, each
 *       for at most its own bound.
 *   <li>{@code start()} after {@code close()} throws {@link IllegalStateException}: build a new
 *       instance.
 * </ul>
 *
 * <p>The parts that {@code start()} creates are one immutable value {@code P}, published under
 * this object's lock: readers on other threads see either nothing or all of it.
 *
 * @param <P> what a start creates and a close stops
 */
public final class Lifecycle<P> {

  /** Where an instance is in its life. */
  public enum Phase {
    /** Built, never started. */
    NEW,
    /** A start is in progress. */
    STARTING,
    /** Started. */
    RUNNING,
    /** A close is in progress. */
    CLOSING,
    /** Closed; it cannot start again. */
    CLOSED
  }

  private final String what;
  private Phase phase = Phase.NEW; // guarded by this
  private boolean closeRequested; // guarded by this: close() came while starting
  private volatile P parts; // written under this; read by any thread

  /**
   * A new instance, in phase {@link Phase#NEW}.
   *
   * @param what the part's name for error messages ("worker", "CronScheduler")
   */
  public Lifecycle(String what) {
    this.what = what;
  }

  /**
   * Starts with {@code starter} unless started already; see the class comment for the rules.
   *
   * @param starter creates and starts the parts; on failure it must release what it started
   * @param stopper stops the parts; used when close() came while starting
   * @throws IllegalStateException if closed, or closed while starting
   */
  public void start(Supplier<P> starter, java.util.function.Consumer<P> stopper) {
    synchronized (this) {
      boolean interrupted = false;
      while (phase == Phase.STARTING) {
        // Another thread is starting: its start is this one's. Bounded by that start.
        interrupted |= waitOnce(0);
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
      switch (phase) {
        case RUNNING:
          return;
        case CLOSING:
        case CLOSED:
          throw new IllegalStateException("this " + what + " was closed; build a new one to start again");
        default:
          phase = Phase.STARTING;
      }
    }
    P started;
    try {
      started = starter.get();
    } catch (RuntimeException | Error e) {
      synchronized (this) {
        phase = closeRequested ? Phase.CLOSED : Phase.NEW;
        notifyAll();
      }
      throw e;
    }
    boolean undo;
    synchronized (this) {
      undo = closeRequested;
      parts = started;
      phase = undo ? Phase.CLOSING : Phase.RUNNING;
      notifyAll();
    }
    if (undo) {
      try {
        stopper.accept(started);
      } finally {
        synchronized (this) {
          phase = Phase.CLOSED;
          notifyAll();
        }
      }
      throw new IllegalStateException("this " + what + " was closed while it was starting");
    }
  }

  /**
   * Closes; see the class comment for the rules.
   *
   * @param stopper stops the parts of a running instance
   * @param waitNanos how long to wait for a start or another close in progress
   */
  public void close(java.util.function.Consumer<P> stopper, long waitNanos) {
    P toStop;
    synchronized (this) {
      switch (phase) {
        case NEW:
          phase = Phase.CLOSED;
          notifyAll();
          return;
        case CLOSED:
          return;
        case STARTING:
          closeRequested = true;
          awaitClosed(waitNanos);
          return;
        case CLOSING:
          awaitClosed(waitNanos);
          return;
        default:
          phase = Phase.CLOSING;
          toStop = parts;
      }
    }
    try {
      stopper.accept(toStop);
    } finally {
      synchronized (this) {
        phase = Phase.CLOSED;
        notifyAll();
      }
    }
  }

  /**
   * The parts of a started instance (also while it closes, and after).
   *
   * @return the parts, or null if never started
   */
  public P parts() {
    return parts;
  }

  /**
   * The phase now.
   *
   * @return the phase
   */
  public synchronized Phase phase() {
    return phase;
  }

  /**
   * Whether it is running (started, not closing).
   *
   * @return true if running
   */
  public synchronized boolean isRunning() {
    return phase == Phase.RUNNING;
  }

  /**
   * Whether it is starting, running or closing.
   *
   * @return true if active
   */
  public synchronized boolean isActive() {
    return phase == Phase.STARTING || phase == Phase.RUNNING || phase == Phase.CLOSING;
  }

  private void awaitClosed(long waitNanos) {
    long deadline = System.nanoTime() + waitNanos;
    boolean interrupted = false;
    while (phase != Phase.CLOSED) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        break; // bounded: the start or close in progress finishes the job on its own thread
      }
      interrupted |= waitOnce(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Waits once on this object's monitor (call holding it); returns whether the wait was
   * interrupted, so the caller can keep waiting and restore the interrupt when done.
   */
  private boolean waitOnce(long millis) {
    try {
      wait(millis);
      return false;
    } catch (InterruptedException e) {
      return true;
    }
  }
}
