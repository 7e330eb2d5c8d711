package io.github.pgqueue;

/**
 * Runs one kind of job. Registered with a {@link Worker} for a {@link JobType}; called with the
 * job's payload decoded into the type's Java type.
 *
 * <p>Returning normally means success: the job is deleted. Throwing anything ({@link Exception}
 * or {@link Error}) means failure: the error is recorded on the job, which is retried with backoff
 * until its attempts run out, then discarded and kept for inspection. The context can instead
 * {@linkplain JobContext#snooze snooze} or {@linkplain JobContext#cancel cancel} the job.
 *
 * <p>Handlers run concurrently on worker threads and must be thread-safe. Execution is
 * at-least-once: a job whose worker crashes mid-run, or whose handler times out, runs again, so
 * make handlers idempotent (check before you charge a card twice). A handler should respond to
 * {@linkplain Thread#interrupt() interruption}: the worker interrupts it at its timeout and at
 * shutdown.
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface JobHandler<T> {

  /**
   * Runs the job.
   *
   * @param payload the decoded payload, never null
   * @param context the job's identity and controls
   * @throws Exception to fail this attempt
   */
  void handle(T payload, JobContext context) throws Exception;
}
