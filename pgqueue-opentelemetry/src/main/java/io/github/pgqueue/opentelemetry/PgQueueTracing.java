package io.github.pgqueue.opentelemetry;

import io.github.pgqueue.EnqueueInterceptor;
import io.github.pgqueue.JobInterceptor;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Tracer;
import java.util.Objects;

/**
 * OpenTelemetry tracing for pgqueue, following the OpenTelemetry messaging semantic conventions
 * ({@code messaging.system = "pgqueue"}):
 *
 * <ul>
 *   <li>{@link #enqueueInterceptor()}, for {@link io.github.pgqueue.JobQueue.Builder#enqueueInterceptor}:
 *       one {@code PRODUCER} span per enqueue call (one per bulk call, whatever its size), a child
 *       of the caller's current span, whose W3C trace context ({@code traceparent}, {@code
 *       tracestate}; never baggage) is stored with each job of the call;
 *   <li>{@link #jobInterceptor()}, for {@link io.github.pgqueue.Worker.Builder#interceptor}: one
 *       {@code CONSUMER} span around each attempt, opened and closed on the attempt's own thread,
 *       with a link to the stored producer context and, when {@link Builder#consumerSpanIsChild}
 *       is set, as its child, so the enqueue and every attempt (retries included) are one trace.
 * </ul>
 *
 * <p>Both are safe to share between queues and workers and across threads. With the no-op
 * OpenTelemetry (no SDK, no agent) they record nothing and store nothing. A job enqueued without
 * this interceptor, or by a process without it, simply has no link.
 *
 * <pre>{@code
 * PgQueueTracing tracing = PgQueueTracing.create(openTelemetry);
 * JobQueue queue = JobQueue.builder(dataSource).enqueueInterceptor(tracing.enqueueInterceptor()).build();
 * Worker worker = Worker.builder(dataSource).interceptor(tracing.jobInterceptor()) ... .build();
 * }</pre>
 */
public final class PgQueueTracing {

  /** The instrumentation scope name of every span made here. */
  public static final String INSTRUMENTATION_NAME = "io.github.pgqueue.opentelemetry";

  private final TracingEnqueueInterceptor enqueueInterceptor;
  private final TracingJobInterceptor jobInterceptor;

  private PgQueueTracing(Builder b) {
    Tracer tracer = b.openTelemetry.getTracer(INSTRUMENTATION_NAME);
    this.enqueueInterceptor = new TracingEnqueueInterceptor(tracer);
    this.jobInterceptor = new TracingJobInterceptor(tracer, b.consumerSpanIsChild);
  }

  /**
   * Tracing with the defaults: consumer spans link to the producer span but are not its child.
   *
   * @param openTelemetry where the spans go, e.g. {@code GlobalOpenTelemetry.get()} or the SDK
   * @return the tracing
   * @throws NullPointerException if {@code openTelemetry} is null
   */
  public static PgQueueTracing create(OpenTelemetry openTelemetry) {
    return builder(openTelemetry).build();
  }

  /**
   * A builder, to change the defaults.
   *
   * @param openTelemetry where the spans go
   * @return a new builder
   * @throws NullPointerException if {@code openTelemetry} is null
   */
  public static Builder builder(OpenTelemetry openTelemetry) {
    return new Builder(openTelemetry);
  }

  /**
   * The interceptor that opens a producer span per enqueue call and stores its trace context with
   * each job; the span is current while the jobs are written and ends when the write returned or
   * failed, with the job id (single job) or the failure. Register it with {@link
   * io.github.pgqueue.JobQueue.Builder#enqueueInterceptor}.
   *
   * @return the interceptor (the same instance on every call)
   */
  public EnqueueInterceptor enqueueInterceptor() {
    return enqueueInterceptor;
  }

  /**
   * The interceptor that opens a consumer span around each attempt. Register it with {@link
   * io.github.pgqueue.Worker.Builder#interceptor}; registered first, its span also covers the
   * interceptors registered after it.
   *
   * @return the interceptor (the same instance on every call)
   */
  public JobInterceptor jobInterceptor() {
    return jobInterceptor;
  }

  /** Builds a {@link PgQueueTracing}; not thread-safe. */
  public static final class Builder {

    private final OpenTelemetry openTelemetry;
    private boolean consumerSpanIsChild;

    private Builder(OpenTelemetry openTelemetry) {
      this.openTelemetry = Objects.requireNonNull(openTelemetry,
          "openTelemetry must not be null (use OpenTelemetry.noop() to trace nothing)");
    }

    /**
     * Whether each attempt's consumer span is a child of the producer span stored with the job
     * (so the enqueue and all attempts are one trace), rather than a child of whatever is current
     * on the worker's thread (normally nothing: each attempt starts a trace of its own). Either
     * way the consumer span carries a link to the producer span. Defaults to false, as the
     * messaging conventions suggest for work that may run long after the request that enqueued
     * it; set it when you want the web request and its jobs in one trace view.
     *
     * @param consumerSpanIsChild true to parent each attempt on the stored producer context
     * @return this builder
     */
    public Builder consumerSpanIsChild(boolean consumerSpanIsChild) {
      this.consumerSpanIsChild = consumerSpanIsChild;
      return this;
    }

    /**
     * Builds the tracing.
     *
     * @return the tracing
     */
    public PgQueueTracing build() {
      return new PgQueueTracing(this);
    }
  }
}
