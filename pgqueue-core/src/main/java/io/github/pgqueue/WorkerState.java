package io.github.pgqueue;

import java.util.concurrent.atomic.AtomicInteger;

/** What the parts of one worker share: its current id, and whether it may claim. */
final class WorkerState {

  private final int maxAbandoned;
  private volatile long workerId;
  private volatile boolean closing;
  private volatile boolean heartbeating;
  private final AtomicInteger abandoned = new AtomicInteger();

  WorkerState(int maxAbandoned) {
    this.maxAbandoned = maxAbandoned;
  }

  /** The id claims are made under; 0 until the worker is registered. */
  long workerId() {
    return workerId;
  }

  void workerId(long id) {
    this.workerId = id;
  }

  void closing() {
    closing = true;
  }

  /**
   * Registered, heartbeating, not closing, and not past the cap of abandoned (stuck) handler
   * threads. A worker that cannot heartbeat must not claim: to every other worker it looks dead,
   * and jobs it claimed would be rescued from under it.
   */
  boolean mayClaim() {
    return workerId != 0 && heartbeating && !closing && abandoned.get() < maxAbandoned;
  }

  void heartbeatSucceeded() {
    heartbeating = true;
  }

  void heartbeatFailed() {
    heartbeating = false;
  }

  boolean heartbeating() {
    return heartbeating;
  }

  int abandoned() {
    return abandoned.get();
  }

  int abandonedOne() {
    return abandoned.incrementAndGet();
  }

  /** An abandoned thread finally returned. */
  void abandonedReturned() {
    abandoned.decrementAndGet();
  }

  boolean overAbandonCap() {
    return abandoned.get() >= maxAbandoned;
  }
}
