package io.github.pgqueue;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * What a {@link JobHandler} knows about the job it runs, and how it can end it other than by
 * success or failure. One context per attempt; valid only while the handler runs.
 */
public interface JobContext {

  /**
   * The job's id.
   *
   * @return the id
   */
  JobId id();

  /**
   * The job's name (its {@link JobType#name()}).
   *
   * @return the name
   */
  String name();

  /**
   * The queue it was claimed from.
   *
   * @return the queue
   */
  String queue();

  /**
   * This attempt's number: 1 on the first run.
   *
   * @return the attempt
   */
  int attempt();

  /**
   * Attempts allowed before the job is discarded.
   *
   * @return the maximum
   */
  int maxAttempts();

  /**
   * The priority it was enqueued with.
   *
   * @return the priority
   */
  int priority();

  /**
   * When the job was enqueued.
   *
   * @return the enqueue time (database clock)
   */
  Instant createdAt();

  /**
   * When the job became due (for a retry: when the retry was due).
   *
   * @return the run time (database clock)
   */
  Instant runAt();

  /**
   * The context text given at enqueue (empty if none).
   *
   * @return the context
   */
  String context();

  /**
   * The W3C trace context stored with the job at enqueue (see {@link
   * EnqueueInterceptor.Job#traceContext(TraceContext)}): the same on every attempt, retries
   * included. Empty when none was stored, or when the stored value is not one pgqueue would have
   * written (a broken trace link never fails a job).
   *
   * @return the trace context, or empty
   */
  default Optional<TraceContext> traceContext() {
    return Optional.empty();
  }

  /**
   * Asks for the job to run again after {@code delay} without counting this attempt. Takes effect
   * when the handler returns (normally or by throwing); the last call of {@code snooze} or {@link
   * #cancel} wins.
   *
   * @param delay zero or positive
   * @throws IllegalArgumentException if negative or longer than 100 years
   */
  void snooze(Duration delay);

  /**
   * Asks for the job to be discarded now, with {@code reason} recorded as its last error and no
   * further attempts. Takes effect when the handler returns (normally or by throwing).
   *
   * @param reason why; kept with the job
   */
  void cancel(String reason);

  /** The most bytes (UTF-8, as encoded) of one {@link #progress} record. */
  int MAX_PROGRESS_BYTES = 8_192;

  /**
   * Records small progress data on the running job, visible through {@link JobQueue#find} (and the
   * job pages) as {@link JobInfo#progress()}. The data is encoded as JSON with pgqueue's default
   * Jackson mapper (a map, a record, a {@code JsonNode}; java.time values as ISO text).
   *
   * <p>Written on a connection of its own, in a table of its own (never the jobs table), guarded
   * by this attempt's claim: nothing is written once the job was cancelled or rescued. Writes are
   * rate-limited to one per the worker's {@link Worker.Builder#progressInterval}: a call sooner than
   * that after the last write keeps its data, and the latest kept data is written by the next call
   * after the interval or when the attempt fails; on success the job and its progress go away. A
   * database error is logged and does not fail the job. Progress is not part of a {@linkplain
   * TransactionalJobHandler transactional handler}'s transaction and is not rolled back.
   *
   * @param data the progress, encodable as JSON
   * @return false if this attempt no longer holds its job (cancelled, rescued): the handler may stop;
   *     true otherwise (written, or kept for the next write)
   * @throws IllegalArgumentException if the data is null, cannot be encoded, or encodes to more than
   *     {@link #MAX_PROGRESS_BYTES} bytes
   */
  default boolean progress(Object data) {
    throw new UnsupportedOperationException("this JobContext records no progress");
  }
}
