package io.github.pgqueue;

/**
 * A long-lived part of a worker that runs on a thread of its own: the {@link ControlLoop}, each
 * {@link Fetcher}, the {@link Completer}, the {@link Watchdog}, {@link Maintenance} and {@link
 * Rollups}. They follow
 * one contract, the parts' version of the {@link Lifecycle} rules that {@link Worker} and the cron
 * scheduler follow, and implement it the same way, with a {@link ServiceThread}:
 *
 * <ul>
 *   <li>{@link #start(String)} starts the part's thread. A second call does nothing. A call after
 *       {@link #stop(long)} does nothing: a stopped part stays stopped (a worker builds new parts
 *       for each start).
 *   <li>{@link #stop(long)} tells the part to end and waits for its thread a bounded time. It is
 *       idempotent: a second call only waits again (bounded), and the part's one-off work on the
 *       way out (writing the last outcomes, deregistering) is done once or is safe to repeat.
 *       Called before {@code start}, it just marks the part stopped.
 *   <li>Both are safe to call from any thread, concurrently with each other.
 *   <li>{@code stop} does not throw {@link InterruptedException}: it keeps waiting (bounded)
 *       through an interrupt of the caller, and sets the caller's interrupt flag again when it
 *       returns, so an interrupted close still stops every part.
 * </ul>
 *
 * <p>The worker starts its parts in this order: completer, watchdog, control loop, maintenance,
 * rollup, fetchers (each part is running before the parts that hand it work); and stops them in
 * this order: fetchers stop claiming, running jobs finish, fetchers end, then watchdog, completer,
 * maintenance, rollup, control loop (see {@code Worker.Running.stop()} for why).
 */
interface Service {

  /**
   * Starts the part's thread, named {@code threadName}, unless it was started or stopped already.
   *
   * @param threadName the name of the part's thread
   */
  void start(String threadName);

  /**
   * Stops the part: asks its thread to end and waits for it, for about {@code timeoutMillis}
   * (each part documents the small fixed time it may add, such as a last write).
   *
   * @param timeoutMillis how long to wait for the thread; at least 1 ms is waited
   * @return true if the part's thread has ended (or never started) and its work was completed
   */
  boolean stop(long timeoutMillis);
}
