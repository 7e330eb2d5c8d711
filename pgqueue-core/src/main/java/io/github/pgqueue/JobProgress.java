package io.github.pgqueue;

import java.time.Instant;
import java.util.Objects;

/**
 * The progress a handler last recorded on its job with {@link JobContext#progress}, as {@link
 * JobQueue#find} and {@link JobQueue#jobs} report it.
 *
 * @param json the data, as JSON text
 * @param attempt the attempt that recorded it (a retried job keeps an earlier attempt's progress
 *     until the new attempt records its own)
 * @param updatedAt when it was written (database clock)
 */
public record JobProgress(String json, int attempt, Instant updatedAt) {

  /**
   * @throws NullPointerException if a component is null
   * @throws IllegalArgumentException if the attempt is below 1
   */
  public JobProgress {
    Objects.requireNonNull(json, "json");
    Objects.requireNonNull(updatedAt, "updatedAt");
    if (attempt < 1) {
      throw new IllegalArgumentException("attempt must be at least 1, got: " + attempt);
    }
  }
}
