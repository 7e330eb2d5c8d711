package io.github.pgqueue;

import java.util.Objects;

/**
 * The outcome of enqueueing one job.
 *
 * @param id the new job's id, or, when {@code duplicate} is true, the id of the pending or running
 *     job with the same name and unique key that made this enqueue a no-op
 * @param duplicate true when nothing was written because of that existing job (or because an
 *     earlier item of the same batch had the same name and key)
 */
public record EnqueueResult(JobId id, boolean duplicate) {

  /**
   * @throws NullPointerException if {@code id} is null
   */
  public EnqueueResult {
    Objects.requireNonNull(id, "id");
  }
}
