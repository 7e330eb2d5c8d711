package io.github.pgqueue;

import java.time.Duration;
import java.util.Objects;

/**
 * Something that happened to a job in a worker, for {@link JobListener}s (metrics, tracing) and
 * for the results of {@link Worker#drain}.
 *
 * @param kind what happened
 * @param id the job
 * @param name the job's name
 * @param queue the job's queue
 * @param attempt the attempt concerned
 * @param duration how long the handler ran; zero for {@link Kind#STARTED} and {@link Kind#RESCUED}
 * @param error the failure for {@link Kind#RETRIED} and {@link Kind#DISCARDED} (the handler's
 *     exception, a {@link JobTimeoutException}, or the decoding error); null otherwise
 * @param retryIn for {@link Kind#RETRIED} and {@link Kind#SNOOZED}: the wait before the next run;
 *     null otherwise
 */
public record JobEvent(
    Kind kind,
    JobId id,
    String name,
    String queue,
    int attempt,
    Duration duration,
    Throwable error,
    Duration retryIn) {

  /**
   * @throws NullPointerException if a required component is null
   */
  public JobEvent {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(queue, "queue");
    Objects.requireNonNull(duration, "duration");
  }

  /** What happened. */
  public enum Kind {
    /** The handler is about to run. */
    STARTED,
    /** The handler returned; the job will be deleted. */
    SUCCEEDED,
    /** The attempt failed (threw, or timed out) and the job will run again after {@code retryIn}. */
    RETRIED,
    /**
     * The job was given up on: attempts exhausted, payload undecodable, or cancelled by its
     * handler. It is kept for inspection.
     */
    DISCARDED,
    /** The handler snoozed the job; it runs again after {@code retryIn}, the attempt not counted. */
    SNOOZED,
    /** The job's worker stopped heartbeating; this worker's rescuer returned the job to the queue. */
    RESCUED,
    /**
     * The job was cancelled while this attempt ran ({@link JobQueue#cancel}): the canceller already
     * discarded it, and the attempt was interrupted (or, if it ignored the interrupt past the
     * grace, abandoned); whatever the handler did after is ignored.
     */
    CANCELLED
  }
}
