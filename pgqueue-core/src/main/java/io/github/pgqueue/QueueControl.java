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
 * @param keyRateLimit starts per period per concurrency key, or 0 for no per-key rate limit
 */
record QueueControl(boolean paused, int maxRunning, int rateLimit, int keyMaxRunning, boolean keyFair,
    int keyRateLimit) {

  /** No control: the ordinary claim. */
  static final QueueControl NONE = new QueueControl(false, 0, 0, 0, false, 0);

  /** A control without a per-key rate limit. */
  QueueControl(boolean paused, int maxRunning, int rateLimit, int keyMaxRunning, boolean keyFair) {
    this(paused, maxRunning, rateLimit, keyMaxRunning, keyFair, 0);
  }

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
    return keyMaxRunning > 0 || keyFair || keyRateLimit > 0;
  }

  /**
   * Starts of the queue take tokens (a queue-wide or a per-key rate limit): a worker buffers no
   * jobs beyond its free slots, since a buffered job would have taken its token before it starts.
   */
  boolean rated() {
    return rateLimit > 0 || keyRateLimit > 0;
  }
}
