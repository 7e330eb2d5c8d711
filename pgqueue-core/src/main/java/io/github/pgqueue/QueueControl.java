package io.github.pgqueue;

/**
 * A worker's copy of one queue's row in {@code queue_controls} (see docs/flow-control.md), read by
 * the control thread and handed to the queue's {@link Fetcher}.
 *
 * @param paused no claims from the queue
 * @param maxRunning the global concurrency limit, or 0 for none
 * @param rateLimit starts per period, or 0 for no rate limit
 * @param keyMaxRunning the per-key concurrency limit, or 0 for none
 * @param keyFair claims take turns across concurrency keys (the fair fetch order)
 */
record QueueControl(boolean paused, int maxRunning, int rateLimit, int keyMaxRunning, boolean keyFair) {

  /** No control: the ordinary claim. */
  static final QueueControl NONE = new QueueControl(false, 0, 0, 0, false);

  /** A control without per-key settings. */
  QueueControl(boolean paused, int maxRunning, int rateLimit) {
    this(paused, maxRunning, rateLimit, 0, false);
  }

  /** Claims of the queue take the controlled claim (lock the row, count, take tokens). */
  boolean limited() {
    return maxRunning > 0 || rateLimit > 0 || keyed();
  }

  /** Claims of the queue take the keyed claim within the controlled one (per-key limit or fairness). */
  boolean keyed() {
    return keyMaxRunning > 0 || keyFair;
  }
}
