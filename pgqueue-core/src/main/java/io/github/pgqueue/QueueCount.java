package io.github.pgqueue;

import java.util.Objects;

/**
 * How many jobs one queue holds in one state.
 *
 * @param queue the queue
 * @param state the state
 * @param count the number of jobs, at least 1 (empty combinations are not reported)
 */
public record QueueCount(String queue, JobState state, long count) {

  /**
   * @throws NullPointerException if {@code queue} or {@code state} is null
   */
  public QueueCount {
    Objects.requireNonNull(queue, "queue");
    Objects.requireNonNull(state, "state");
  }
}
