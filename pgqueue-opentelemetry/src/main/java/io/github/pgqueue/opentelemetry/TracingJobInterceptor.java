package io.github.pgqueue.opentelemetry;

import static io.github.pgqueue.opentelemetry.Conventions.DESTINATION;
import static io.github.pgqueue.opentelemetry.Conventions.ERROR_TYPE;
import static io.github.pgqueue.opentelemetry.Conventions.JOB_ATTEMPT;
import static io.github.pgqueue.opentelemetry.Conventions.JOB_MAX_ATTEMPTS;
import static io.github.pgqueue.opentelemetry.Conventions.JOB_NAME;
import static io.github.pgqueue.opentelemetry.Conventions.MESSAGE_ID;
import static io.github.pgqueue.opentelemetry.Conventions.MESSAGING_SYSTEM;
import static io.github.pgqueue.opentelemetry.Conventions.OPERATION_NAME;
import static io.github.pgqueue.opentelemetry.Conventions.OPERATION_TYPE;
import static io.github.pgqueue.opentelemetry.Conventions.PROCESS;
import static io.github.pgqueue.opentelemetry.Conventions.SYSTEM;

import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobInterceptor;
import io.github.pgqueue.TraceContext;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.util.List;

/**
 * One CONSUMER span around each attempt, on the attempt's thread: started before the rest of the
 * attempt, made current for it (the handler's own spans are its children), and ended, its scope
 * closed, in a {@code finally} before the interceptor returns. pgqueue calls interceptors only on
 * the thread that runs the attempt, never for an abandoned attempt's outcome (which the watchdog
 * thread writes), so no scope is ever opened on a thread that would not close it.
 */
final class TracingJobInterceptor implements JobInterceptor {

  private static final TextMapGetter<TraceContext> GETTER = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(TraceContext carrier) {
      return carrier.tracestate() == null ? List.of("traceparent") : List.of("traceparent", "tracestate");
    }

    @Override
    public String get(TraceContext carrier, String key) {
      if (carrier == null) {
        return null;
      }
      return switch (key) {
        case "traceparent" -> carrier.traceparent();
        case "tracestate" -> carrier.tracestate();
        default -> null;
      };
    }
  };

  private final Tracer tracer;
  private final boolean child;

  TracingJobInterceptor(Tracer tracer, boolean child) {
    this.tracer = tracer;
    this.child = child;
  }

  @Override
  public void intercept(JobContext job, Invocation invocation) throws Exception {
    SpanBuilder b = tracer.spanBuilder(PROCESS + " " + job.queue())
        .setSpanKind(SpanKind.CONSUMER)
        .setAttribute(MESSAGING_SYSTEM, SYSTEM)
        .setAttribute(OPERATION_TYPE, PROCESS)
        .setAttribute(OPERATION_NAME, PROCESS)
        .setAttribute(DESTINATION, job.queue())
        .setAttribute(MESSAGE_ID, job.id().toString())
        .setAttribute(JOB_NAME, job.name())
        .setAttribute(JOB_ATTEMPT, (long) job.attempt())
        .setAttribute(JOB_MAX_ATTEMPTS, (long) job.maxAttempts());
    Context producer = job.traceContext()
        .map(tc -> W3CTraceContextPropagator.getInstance().extract(Context.root(), tc, GETTER))
        .orElse(null);
    SpanContext link = producer == null ? SpanContext.getInvalid() : Span.fromContext(producer).getSpanContext();
    if (link.isValid()) {
      b.addLink(link);
      if (child) {
        b.setParent(producer);
      }
    }
    Span span = b.startSpan();
    try (Scope ignored = span.makeCurrent()) {
      invocation.proceed();
    } catch (Throwable t) {
      span.recordException(t);
      span.setStatus(StatusCode.ERROR, t.getClass().getName());
      span.setAttribute(ERROR_TYPE, t.getClass().getName());
      throw t;
    } finally {
      span.end();
    }
  }
}
