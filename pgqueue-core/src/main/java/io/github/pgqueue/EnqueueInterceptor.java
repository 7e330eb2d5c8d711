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
 *   <li>{@link #afterEnqueue} is called exactly once for every call whose {@link #beforeEnqueue}
 *       was called (even if it threw), on the same thread, with the same list, once the call's
 *       outcome is known: after the write returned (with each job's result) or failed (with the
 *       exception the caller gets, also when a later interceptor or the schema check failed
 *       before anything was written). Several run in reverse registration order, so they nest
 *       like the spans a tracer opens. A deadlock retried inside a bulk enqueue does not call it
 *       again: it sees the outcome of the last attempt.
 * </ul>
 *
 * <p>With the caller's {@link java.sql.Connection} or a joined {@link ConnectionSource}, "after
 * the write" means after the statements ran in the caller's transaction, before the caller
 * commits: pgqueue cannot know whether that transaction later commits or rolls back, so a job
 * reported written there may never exist.
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

  /**
   * Called once the call's outcome is known; does nothing unless overridden. What it throws is
   * logged and ignored: it never changes the enqueue's result or exception, and never loses the
   * jobs (they are written, or not, before it runs).
   *
   * @param jobs the same list {@link #beforeEnqueue} saw; the jobs can no longer be changed
   * @param results when the write succeeded, one result per job in the same order (the new job's
   *     id, or the id of the waiting job it duplicated, see {@link EnqueueResult#duplicate()});
   *     null when it failed
   * @param failure null when the write succeeded; otherwise what the caller gets thrown (nothing
   *     was written, unless the message says the commit's outcome is unknown)
   */
  default void afterEnqueue(List<Job> jobs, List<EnqueueResult> results, Throwable failure) {}

  /**
   * One job about to be written. Its context and trace context can be set only during {@link
   * #beforeEnqueue}; in {@link #afterEnqueue} they read what was stored (or would have been).
   */
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
