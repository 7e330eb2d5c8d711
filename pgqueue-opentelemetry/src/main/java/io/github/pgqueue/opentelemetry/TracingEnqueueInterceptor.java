package io.github.pgqueue.opentelemetry;

import static io.github.pgqueue.opentelemetry.Conventions.BATCH_COUNT;
import static io.github.pgqueue.opentelemetry.Conventions.DESTINATION;
import static io.github.pgqueue.opentelemetry.Conventions.DUPLICATES;
import static io.github.pgqueue.opentelemetry.Conventions.ENQUEUE;
import static io.github.pgqueue.opentelemetry.Conventions.ERROR_TYPE;
import static io.github.pgqueue.opentelemetry.Conventions.JOB_NAME;
import static io.github.pgqueue.opentelemetry.Conventions.MESSAGE_ID;
import static io.github.pgqueue.opentelemetry.Conventions.MESSAGING_SYSTEM;
import static io.github.pgqueue.opentelemetry.Conventions.OPERATION_NAME;
import static io.github.pgqueue.opentelemetry.Conventions.OPERATION_TYPE;
import static io.github.pgqueue.opentelemetry.Conventions.SEND;
import static io.github.pgqueue.opentelemetry.Conventions.SYSTEM;

import io.github.pgqueue.EnqueueInterceptor;
import io.github.pgqueue.EnqueueResult;
import io.github.pgqueue.TraceContext;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One PRODUCER span per enqueue call; its W3C context is stored with every job of the call. The
 * span is started and made current in {@code beforeEnqueue}, so it covers the insert (a JDBC
 * instrumentation's spans are its children), and ended in {@code afterEnqueue} with the outcome:
 * the job id of a single job, the number of duplicates, or the exception. pgqueue calls both on
 * the enqueuing thread, the after hook once for every before (also when the call failed in
 * between), so the span and its scope are kept in a thread-local stack between the two.
 */
final class TracingEnqueueInterceptor implements EnqueueInterceptor {

  /** A started span, its scope, and the call it belongs to; a stack in case enqueues nest. */
  private record Open(List<Job> jobs, Span span, Scope scope, Open outer) {}

  private final Tracer tracer;
  private final ThreadLocal<Open> open = new ThreadLocal<>();

  TracingEnqueueInterceptor(Tracer tracer) {
    this.tracer = tracer;
  }

  @Override
  public void beforeEnqueue(List<Job> jobs) {
    String queue = common(jobs, true);
    String name = common(jobs, false);
    SpanBuilder b = tracer.spanBuilder(queue == null ? ENQUEUE : ENQUEUE + " " + queue)
        .setSpanKind(SpanKind.PRODUCER)
        .setAttribute(MESSAGING_SYSTEM, SYSTEM)
        .setAttribute(OPERATION_TYPE, SEND)
        .setAttribute(OPERATION_NAME, ENQUEUE);
    if (queue != null) {
      b.setAttribute(DESTINATION, queue);
    }
    if (name != null) {
      b.setAttribute(JOB_NAME, name);
    }
    if (jobs.size() > 1) {
      b.setAttribute(BATCH_COUNT, (long) jobs.size());
    }
    Span span = b.startSpan();
    // Pushed before anything else can throw: pgqueue calls afterEnqueue even if this throws.
    open.set(new Open(jobs, span, span.makeCurrent(), open.get()));
    TraceContext stored = traceContext(span);
    if (stored != null) {
      for (Job job : jobs) {
        job.traceContext(stored);
      }
    }
  }

  @Override
  public void afterEnqueue(List<Job> jobs, List<EnqueueResult> results, Throwable failure) {
    Open o = open.get();
    if (o == null || o.jobs() != jobs) {
      return; // not ours (cannot happen with pgqueue's guarantees): never end a stranger's span
    }
    if (o.outer() == null) {
      open.remove();
    } else {
      open.set(o.outer());
    }
    Span span = o.span();
    try {
      o.scope().close();
      if (failure != null) {
        span.recordException(failure);
        span.setStatus(StatusCode.ERROR, failure.getClass().getName());
        span.setAttribute(ERROR_TYPE, failure.getClass().getName());
      } else if (results != null) {
        if (results.size() == 1) {
          span.setAttribute(MESSAGE_ID, results.get(0).id().toString());
        }
        long duplicates = 0;
        for (EnqueueResult r : results) {
          if (r.duplicate()) {
            duplicates++;
          }
        }
        span.setAttribute(DUPLICATES, duplicates);
      }
    } finally {
      span.end();
    }
  }

  /** The span's context as W3C text, or null when it has none (no-op tracer) or it will not store. */
  private static TraceContext traceContext(Span span) {
    if (!span.getSpanContext().isValid()) {
      return null;
    }
    Map<String, String> carrier = new HashMap<>(4);
    W3CTraceContextPropagator.getInstance().inject(Context.root().with(span), carrier, Map::put);
    String traceparent = carrier.get("traceparent");
    if (traceparent == null) {
      return null;
    }
    try {
      return new TraceContext(traceparent, carrier.get("tracestate"));
    } catch (IllegalArgumentException e) {
      // A tracestate past pgqueue's bound (512 characters): keep the link, drop the vendor state.
      return TraceContext.of(traceparent);
    }
  }

  /** The queue (or the job name) shared by all jobs of the call, or null when they differ. */
  private static String common(List<Job> jobs, boolean queue) {
    String first = null;
    for (Job j : jobs) {
      String v = queue ? j.queue() : j.name();
      if (first == null) {
        first = v;
      } else if (!first.equals(v)) {
        return null;
      }
    }
    return first;
  }
}
