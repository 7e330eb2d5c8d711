package io.github.pgqueue;

import java.util.List;
import java.util.Optional;

/**
 * Sees every job a {@link JobQueue} is about to write, and may add to its context or set its
 * {@link TraceContext}: the place to capture the enqueuing code's trace context, or to count
 * enqueues. Registered with {@link
 * JobQueue.Builder#enqueueInterceptor}; several run in registration order.
 *
 * <p>Guarantees:
 *
 * <ul>
 *   <li>Called once per enqueue call, on the caller's thread, after every job of the call has been
 *       validated and its payload encoded, and before anything is written: for a single enqueue
 *       with one job; for a bulk enqueue once with all its jobs, in order (so a tracer can open one
 *       span per bulk call). The same for the forms that take the caller's {@link
 *       java.sql.Connection} and for a joined {@link ConnectionSource}. A call with no jobs is not
 *       intercepted. A deadlock retried inside a bulk enqueue does not call it again.
 *   <li>A context set through {@link Job#context(String)} is validated at once like {@link
 *       EnqueueOptions.Builder#context} and is what gets stored. A job that turns out to be a
 *       duplicate of a waiting one (unique key) writes nothing, so its new context is dropped.
 *   <li>Throwing aborts the whole call with nothing written; the exception reaches the caller
 *       unchanged.
 * </ul>
 *
 * <p>Implementations must be thread-safe.
 */
@FunctionalInterface
public interface EnqueueInterceptor {

  /**
   * Called before the jobs are written.
   *
   * @param jobs the jobs of this call, in order; the list cannot be changed, only each job's context
   *     and trace context
   */
  void beforeEnqueue(List<Job> jobs);

  /** One job about to be written. Valid only during {@link #beforeEnqueue}. */
  interface Job {

    /**
     * The job's name.
     *
     * @return the name
     */
    String name();

    /**
     * The queue it goes to.
     *
     * @return the queue
     */
    String queue();

    /**
     * Its priority.
     *
     * @return the priority
     */
    int priority();

    /**
     * Its unique key.
     *
     * @return the key, or null if it has none
     */
    String uniqueKey();

    /**
     * The context text to be stored (empty if none).
     *
     * @return the context
     */
    String context();

    /**
     * Replaces the context text to be stored; to add to it, append to {@link #context()}.
     *
     * @param context at most {@value EnqueueOptions#MAX_CONTEXT_LENGTH} characters, no NUL
     * @throws IllegalArgumentException if invalid
     * @throws IllegalStateException if called after {@link #beforeEnqueue} returned
     */
    void context(String context);

    /**
     * The W3C trace context to be stored with the job, in a column of its own (not in its {@link
     * #context()}): empty unless an interceptor set one.
     *
     * @return the trace context, or empty
     */
    Optional<TraceContext> traceContext();

    /**
     * Sets the W3C trace context to store with the job (its form was checked when the {@link
     * TraceContext} was made); the last call wins. A job that turns out to be a duplicate of a
     * waiting one (unique key) writes nothing: the waiting job keeps the trace context it was
     * stored with. Workers hand it to {@link JobInterceptor}s through {@link
     * JobContext#traceContext()}, on every attempt.
     *
     * @param traceContext the trace context, or null to store none
     * @throws IllegalStateException if called after {@link #beforeEnqueue} returned
     */
    void traceContext(TraceContext traceContext);
  }
}
