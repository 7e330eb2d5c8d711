package io.github.pgqueue;

/**
 * The identity of a job: the {@code jobs.id} column, a dense {@code bigint} assigned at enqueue.
 *
 * <p>Ids are never reused while the database's identity sequence runs forward. A job that
 * succeeded is deleted, so its id no longer finds a row.
 *
 * @param value the id, always positive
 */
public record JobId(long value) {

  /**
   * @throws IllegalArgumentException if {@code value} is not positive
   */
  public JobId {
    if (value <= 0) {
      throw new IllegalArgumentException("job id must be positive, got: " + value);
    }
  }

  /**
   * The id as a decimal string.
   *
   * @return the id
   */
  @Override
  public String toString() {
    return Long.toString(value);
  }
}
