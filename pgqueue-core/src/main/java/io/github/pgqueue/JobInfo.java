package io.github.pgqueue;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * A snapshot of one job row, for inspection. Reading it takes no lock; the job may change right
 * after.
 *
 * @param id the job id
 * @param name the job name
 * @param queue the queue
 * @param state the state
 * @param priority the priority (higher runs first)
 * @param attempt attempts started so far (a snoozed attempt does not count)
 * @param maxAttempts attempts allowed before the job is discarded
 * @param runAt the earliest time the job may run
 * @param createdAt when it was enqueued
 * @param lockedAt when the running attempt was claimed; null unless running
 * @param lockedBy the id of the worker process holding it; null unless running
 * @param uniqueKey the deduplication key, or null
 * @param context the context text given at enqueue
 * @param payload the payload as JSON text
 * @param errors the most recent failed attempts, oldest first
 * @param discardedAt when it was discarded; null unless discarded
 * @param progress what a handler last recorded with {@link JobContext#progress}; null if nothing
 * @param concurrencyKey the key its concurrency is counted under ({@link
 *     EnqueueOptions.Builder#concurrencyKey}), or null
 */
public record JobInfo(
    JobId id,
    String name,
    String queue,
    JobState state,
    int priority,
    int attempt,
    int maxAttempts,
    Instant runAt,
    Instant createdAt,
    Instant lockedAt,
    Long lockedBy,
    String uniqueKey,
    String context,
    String payload,
    List<JobError> errors,
    Instant discardedAt,
    JobProgress progress,
    String concurrencyKey) {

  /**
   * @throws NullPointerException if a required component is null
   */
  public JobInfo {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(queue, "queue");
    Objects.requireNonNull(state, "state");
    Objects.requireNonNull(payload, "payload");
    errors = List.copyOf(errors);
  }

  /**
   * A snapshot without progress or concurrency key.
   *
   * @param id the job id
   * @param name the job name
   * @param queue the queue
   * @param state the state
   * @param priority the priority
   * @param attempt attempts started so far
   * @param maxAttempts attempts allowed
   * @param runAt the earliest time the job may run
   * @param createdAt when it was enqueued
   * @param lockedAt when the running attempt was claimed
   * @param lockedBy the worker holding it
   * @param uniqueKey the deduplication key
   * @param context the context text
   * @param payload the payload as JSON text
   * @param errors the most recent failed attempts
   * @param discardedAt when it was discarded
   * @throws NullPointerException if a required component is null
   */
  public JobInfo(JobId id, String name, String queue, JobState state, int priority, int attempt, int maxAttempts,
      Instant runAt, Instant createdAt, Instant lockedAt, Long lockedBy, String uniqueKey, String context,
      String payload, List<JobError> errors, Instant discardedAt) {
    this(id, name, queue, state, priority, attempt, maxAttempts, runAt, createdAt, lockedAt, lockedBy, uniqueKey,
        context, payload, errors, discardedAt, null, null);
  }
}
