package io.github.pgqueue;

import java.time.Instant;
import java.util.Objects;

/**
 * One failed attempt of a job, as kept in the job's {@code errors} column (the most recent {@value
 * #KEPT_PER_JOB} are kept).
 *
 * @param at when the failure was recorded (database clock)
 * @param attempt the attempt number that failed (1 for the first run)
 * @param kind what kind of failure it was
 * @param errorClass the class of the exception, or a pgqueue marker for non-exception failures
 * @param message the exception's message, trimmed
 * @param stackTrace the exception's stack trace, trimmed; empty when there is none
 */
public record JobError(
    Instant at, int attempt, Kind kind, String errorClass, String message, String stackTrace) {

  /** How many errors a job keeps: the oldest are dropped past this. */
  public static final int KEPT_PER_JOB = 20;

  /**
   * @throws NullPointerException if a component other than {@code at} is null
   */
  public JobError {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(errorClass, "errorClass");
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(stackTrace, "stackTrace");
  }

  /** What ended the attempt. */
  public enum Kind {
    /** The handler threw. */
    FAILED,
    /** The handler ran past its timeout and was abandoned. */
    TIMED_OUT,
    /** The worker holding the job stopped heartbeating; the job was returned to the queue. */
    RESCUED,
    /** The payload could not be decoded into the handler's type. */
    UNDECODABLE,
    /** The handler or an operator cancelled the job. */
    CANCELLED
  }
}
