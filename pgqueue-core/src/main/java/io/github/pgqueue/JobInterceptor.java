package io.github.pgqueue;

/**
 * Wraps each attempt of a job on the thread that runs it: the place for a tracing scope, MDC
 * entries, or a timer. Registered with {@link Worker.Builder#interceptor}; several run nested in
 * registration order, the first registered outermost.
 *
 * <p>Guarantees:
 *
 * <ul>
 *   <li>{@link #intercept} runs on the attempt's thread, around decoding the payload and running
 *       the handler, and returns before the attempt's outcome is written and its {@link
 *       JobListener} events are sent. Whatever it puts in a thread-local is seen by the codec and
 *       the handler; it should clear that in a {@code finally} block.
 *   <li>It runs exactly once per attempt that starts on a worker thread, and never anywhere else:
 *       an attempt abandoned past its timeout gets its outcome (and listener events) from the
 *       watchdog thread without any interceptor, so a scope opened there cannot leak into the
 *       next job.
 *   <li>{@link Invocation#proceed()} runs the next interceptor, or decodes and runs the handler,
 *       and throws what they threw (the decoding exception, the handler's exception). It may be
 *       called once, on the attempt's thread; a second call, or one from another thread, throws
 *       {@link IllegalStateException} and runs nothing.
 *   <li>The outcome is the handler's: an interceptor cannot turn a failure into a success by
 *       catching the exception, nor make an undecodable payload decodable. An interceptor that
 *       throws (before or after {@code proceed}) fails the attempt like a handler failure:
 *       recorded and retried with backoff. One that returns without calling {@code proceed}
 *       fails the attempt with an {@link IllegalStateException} naming it; the handler did not run.
 * </ul>
 *
 * <p>Implementations must be thread-safe: every slot of the worker calls the same instance.
 */
@FunctionalInterface
public interface JobInterceptor {

  /**
   * Wraps one attempt; must call {@code invocation.proceed()} once for the handler to run.
   *
   * @param job the attempt's context: id, name, queue, attempt number, the stored context text and
   *     {@linkplain JobContext#traceContext() trace context}
   * @param invocation continues with the next interceptor or the handler
   * @throws Exception fails the attempt (recorded and retried like a handler failure)
   */
  void intercept(JobContext job, Invocation invocation) throws Exception;

  /** The rest of the attempt: the inner interceptors, decoding, and the handler. */
  @FunctionalInterface
  interface Invocation {

    /**
     * Runs the rest of the attempt, once, on the attempt's thread.
     *
     * @throws Exception what decoding or the handler (or an inner interceptor) threw
     * @throws IllegalStateException if called a second time or from another thread
     */
    void proceed() throws Exception;
  }
}
