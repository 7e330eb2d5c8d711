package io.github.pgqueue.opentelemetry;

import io.github.pgqueue.JobId;
import io.github.pgqueue.JobQueue;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The "web" process of {@link CrossProcessTracingTest}: inside a server span, as a request handler
 * would, enqueues one job through {@link PgQueueTracing}, then prints every finished span as a
 * {@link PrintedSpan} line on standard output and exits.
 *
 * <p>Argument: the JDBC URL with credentials.
 */
public final class WebProcessMain {

  private WebProcessMain() {}

  public static void main(String[] args) throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(args[0]);
    SpanExporter printer = new SpanExporter() {
      @Override
      public CompletableResultCode export(Collection<SpanData> spans) {
        for (SpanData s : spans) {
          System.out.println(PrintedSpan.of(s).line());
        }
        System.out.flush();
        return CompletableResultCode.ofSuccess();
      }

      @Override
      public CompletableResultCode flush() {
        return CompletableResultCode.ofSuccess();
      }

      @Override
      public CompletableResultCode shutdown() {
        return CompletableResultCode.ofSuccess();
      }
    };
    try (SdkTracerProvider provider =
        SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(printer)).build()) {
      OpenTelemetrySdk otel = OpenTelemetrySdk.builder().setTracerProvider(provider).build();
      JobQueue queue = JobQueue.builder(ds)
          .enqueueInterceptor(PgQueueTracing.create(otel).enqueueInterceptor())
          .build();
      Span request = otel.getTracer("web").spanBuilder("POST /signup").setSpanKind(SpanKind.SERVER).startSpan();
      JobId id;
      try (Scope ignored = request.makeCurrent()) {
        id = queue.enqueue(CrossProcessTracingTest.WELCOME, new CrossProcessTracingTest.Welcome("ada@example.com")).id();
      } finally {
        request.end();
      }
      System.out.println("ENQUEUED " + id.value());
    }
  }
}
