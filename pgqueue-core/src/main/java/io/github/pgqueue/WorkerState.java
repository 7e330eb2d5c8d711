package io.github.pgqueue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the parts of one worker share: its current id, the claim token counter, how recently it
 * heartbeated, and whether it may claim.
 */
final class WorkerState {

  private final int maxAbandoned;
  private final long staleNanos;
  private volatile long workerId;
  private volatile boolean closing;
  private volatile boolean heartbeating;
  /** When the last heartbeat that went through was sent (System.nanoTime()). */
  private volatile long lastBeatSentNanos;
  /** When the current run of heartbeats without a gap began (see {@link #heartbeatSucceeded(long)}). */
  private volatile long healthySinceNanos;
  private final AtomicInteger abandoned = new AtomicInteger();
  /**
   * Claim tokens. Never reset while the process lives, and paired with a durably registered
   * worker id, so (locked_by, lock_token) never repeats, not even after a database crash lost
   * asynchronously committed claims (a database sequence would repeat then).
   */
  private final AtomicLong claimTokens = new AtomicLong();

  WorkerState(int maxAbandoned, long staleNanos) {
    this.maxAbandoned = maxAbandoned;
    this.staleNanos = staleNanos;
  }

  /** The id claims are made under; 0 until the worker is registered. */
  long workerId() {
    return workerId;
  }

  void workerId(long id) {
    this.workerId = id;
  }

  /** A token no earlier claim of this process used. */
  long nextClaimToken() {
    return claimTokens.incrementAndGet();
  }

  void closing() {
    closing = true;
  }

  /**
   * Registered, heartbeating recently, not closing, and not past the cap of abandoned (stuck)
   * handler threads. A worker that cannot heartbeat must not claim: to every other worker it looks
   * dead, and jobs it claimed would be rescued from under it.
   */
  boolean mayClaim() {
    return workerId != 0 && heartbeatFresh() && !closing && abandoned.get() < maxAbandoned;
  }

  /**
   * The last heartbeat that went through was sent less than half the stale threshold ago, by the
   * local clock. Counted from when it was sent, not answered: the database stamped it at some point
   * in between. Past half the threshold the worker stops claiming, well before a peer may judge
   * it dead, even when the heartbeat statement hangs instead of failing.
   */
  boolean heartbeatFresh() {
    return heartbeating && System.nanoTime() - lastBeatSentNanos < staleNanos / 2;
  }

  /**
   * A heartbeat sent at {@code sentNanos} went through. A gap of more than half the threshold
   * since the previous one (or a failure in between) starts a new healthy run: the rescuer counts
   * how long this process has seen the database without a gap, and judges a peer only after that
   * has lasted the peer's own threshold (the peer had as long to heartbeat again).
   */
  void heartbeatSucceeded(long sentNanos) {
    if (!heartbeating || sentNanos - lastBeatSentNanos > staleNanos / 2) {
      healthySinceNanos = sentNanos;
    }
    lastBeatSentNanos = sentNanos;
    heartbeating = true;
  }

  void heartbeatFailed() {
    heartbeating = false;
  }

  boolean heartbeating() {
    return heartbeating;
  }

  /** How long (ms) heartbeats have gone through without a gap; 0 unless heartbeating recently. */
  long healthyForMillis() {
    if (!heartbeatFresh()) {
      return 0;
    }
    return Math.max(0, (System.nanoTime() - healthySinceNanos) / 1_000_000);
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
