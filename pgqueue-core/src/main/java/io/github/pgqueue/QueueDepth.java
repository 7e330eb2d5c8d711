package io.github.pgqueue;

import java.time.Duration;
import java.util.Objects;

/**
 * The work waiting in and running from one queue, read by {@link JobQueue#queueDepths()}.
 *
 * @param queue the queue
 * @param due available jobs whose run time has come: waiting for a worker
 * @param scheduled available jobs with a future run time (retries after backoff, snoozed and
 *     scheduled jobs)
 * @param running jobs claimed by a worker
 * @param oldestDueAge how long the oldest due job has been due, by the database clock; null when
 *     none is due
 */
public record QueueDepth(String queue, long due, long scheduled, long running, Duration oldestDueAge) {

  /**
   * @throws NullPointerException if {@code queue} is null
   * @throws IllegalArgumentException if a count or the age is negative
   */
  public QueueDepth {
    Objects.requireNonNull(queue, "queue");
    if (due < 0 || scheduled < 0 || running < 0) {
      throw new IllegalArgumentException(
          "job counts cannot be negative: due " + due + ", scheduled " + scheduled + ", running " + running);
    }
    if (oldestDueAge != null && oldestDueAge.isNegative()) {
      throw new IllegalArgumentException("oldestDueAge cannot be negative: " + oldestDueAge);
    }
  }
}
