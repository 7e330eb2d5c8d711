package io.github.pgqueue;

import java.util.concurrent.atomic.AtomicInteger;

/** What the parts of one worker share: its current id, and whether it may claim. */
final class WorkerState {

  private final int maxAbandoned;
  private volatile long workerId;
  private volatile boolean closing;
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

  boolean isClosing() {
    return closing;
  }

  /** Registered, not closing, and not past the cap of abandoned (stuck) handler threads. */
  boolean mayClaim() {
    return workerId != 0 && !closing && abandoned.get() < maxAbandoned;
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
