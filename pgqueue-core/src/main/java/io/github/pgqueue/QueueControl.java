package io.github.pgqueue;

/**
 * A worker's copy of one queue's row in {@code queue_controls} (see docs/flow-control.md), read by
 * the control thread and handed to the queue's {@link Fetcher}.
 *
 * @param paused no claims from the queue
 * @param maxRunning the global concurrency limit, or 0 for none
 * @param rateLimit starts per period, or 0 for no rate limit
 */
record QueueControl(boolean paused, int maxRunning, int rateLimit) {

  /** No control: the ordinary claim. */
  static final QueueControl NONE = new QueueControl(false, 0, 0);

  /** Claims of the queue take the controlled claim (lock the row, count, take tokens). */
  boolean limited() {
    return maxRunning > 0 || rateLimit > 0;
  }
}
