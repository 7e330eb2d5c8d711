package io.github.pgqueue;

import java.time.Duration;
import java.time.Instant;
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
 * @param runAt when the attempt was due, by the database clock: the job's {@code run_at} as the
 *     claim read it (for a retry or a snoozed job, when that run was due, not when the job was
 *     enqueued); null for {@link Kind#RESCUED}
 * @param startedAt when the attempt started, by the database clock: the time of the claim that
 *     took the job ({@code now()} in the claim's own statement, so never before {@code runAt}) plus
 *     the time the job then waited in the worker's local buffer, measured by this JVM's monotonic
 *     clock. So {@code startedAt - runAt} (see {@link #pickupDelay()}) needs no agreement between
 *     the worker's clock and the database's. Null for {@link Kind#RESCUED}, and for an outcome
 *     reported for an attempt that never started
 */
public record JobEvent(
    Kind kind,
    JobId id,
    String name,
    String queue,
    int attempt,
    Duration duration,
    Throwable error,
    Duration retryIn,
    Instant runAt,
    Instant startedAt) {

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

  /**
   * How long the attempt waited between becoming due and starting, both by the database clock:
   * {@code startedAt - runAt}, never negative.
   *
   * @return the pickup delay, or null when {@link #runAt()} or {@link #startedAt()} is null
   */
  public Duration pickupDelay() {
    if (runAt == null || startedAt == null) {
      return null;
    }
    Duration d = Duration.between(runAt, startedAt);
    return d.isNegative() ? Duration.ZERO : d;
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
     * The job was given up on: attempts exhausted or payload undecodable. It is kept for
     * inspection. A job its handler cancelled is {@link #CANCELLED} instead.
     */
    DISCARDED,
    /**
     * The job was cancelled: by its handler ({@link JobContext#cancel}), or from outside while this
     * attempt ran ({@link JobQueue#cancel}). It is discarded with the reason recorded and kept for
     * inspection like a {@link #DISCARDED} job. When cancelled from outside, the canceller already
     * discarded it, and the attempt was interrupted (or, if it ignored the interrupt past the grace,
     * abandoned); whatever the handler did after is ignored.
     */
    CANCELLED,
    /**
     * The handler snoozed the job; it runs again after {@code retryIn}, the attempt not counted. A
     * job returned to the queue uncharged because the worker shut down while it ran is reported
     * this way too, with a {@code retryIn} of zero.
     */
    SNOOZED,
    /** The job's worker stopped heartbeating; this worker's rescuer returned the job to the queue. */
    RESCUED
  }
}
