package io.github.pgqueue;

import java.util.Objects;

/**
 * What {@link JobQueue#retry}, {@link JobQueue#cancel} or {@link JobQueue#delete} did to one job,
 * and, when it did nothing, why.
 *
 * <p>The reason is read from the database after the write found nothing to change, and is
 * consistent with it: a job whose state would have allowed the operation by the time of that read
 * (it changed in between) is tried again rather than reported with a reason that is no longer
 * true. So {@link Status#WRONG_STATE} always carries a state the operation refuses, and {@link
 * Status#KEY_TAKEN} names a job that held the key at the time of the read.
 *
 * @param status what happened
 * @param state for {@link Status#DONE}: the job's state now ({@link JobState#AVAILABLE} after a
 *     retry, {@link JobState#DISCARDED} after a cancel, null after a delete: the row is gone); for
 *     {@link Status#WRONG_STATE} and {@link Status#KEY_TAKEN}: the state the job was found in; null
 *     for {@link Status#NOT_FOUND}
 * @param keyHolder for {@link Status#KEY_TAKEN}: the pending or running job that holds the unique
 *     key; null otherwise
 */
public record AdminResult(Status status, JobState state, JobId keyHolder) {

  /** The outcome of an administrative operation on one job. */
  public enum Status {
    /** The operation was applied and committed. */
    DONE,
    /**
     * No job has this id: it succeeded and was deleted, was pruned or deleted, or never existed.
     */
    NOT_FOUND,
    /** The job exists but is in a state the operation refuses (for example, running). */
    WRONG_STATE,
    /**
     * A retry was refused because the job's unique key is held by another pending or running job
     * of the same name (only one job per name and key may be pending or running).
     */
    KEY_TAKEN
  }

  /**
   * @throws NullPointerException if status is null
   * @throws IllegalArgumentException if the other components do not fit the status
   */
  public AdminResult {
    Objects.requireNonNull(status, "status");
    if ((status == Status.KEY_TAKEN) != (keyHolder != null)) {
      throw new IllegalArgumentException("keyHolder is set exactly for KEY_TAKEN, got: " + status + ", " + keyHolder);
    }
    if ((status == Status.WRONG_STATE || status == Status.KEY_TAKEN) && state == null) {
      throw new IllegalArgumentException(status + " needs the state found");
    }
    if (status == Status.NOT_FOUND && state != null) {
      throw new IllegalArgumentException("NOT_FOUND has no state, got: " + state);
    }
  }

  /**
   * Whether the operation was applied.
   *
   * @return true for {@link Status#DONE}
   */
  public boolean done() {
    return status == Status.DONE;
  }

  static AdminResult done(JobState now) {
    return new AdminResult(Status.DONE, now, null);
  }

  static AdminResult notFound() {
    return new AdminResult(Status.NOT_FOUND, null, null);
  }

  static AdminResult wrongState(JobState found) {
    return new AdminResult(Status.WRONG_STATE, found, null);
  }

  static AdminResult keyTaken(JobState found, JobId holder) {
    return new AdminResult(Status.KEY_TAKEN, found, holder);
  }
}
