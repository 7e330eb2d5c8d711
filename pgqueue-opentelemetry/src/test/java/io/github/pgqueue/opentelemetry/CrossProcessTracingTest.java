package io.github.pgqueue.opentelemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.Backoff;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The three pillars' web and worker as two JVMs: a child JVM enqueues a job inside a request span
 * and prints its finished spans; this JVM runs the worker, whose handler fails the first attempt.
 * The request, the enqueue and both attempts must be one trace, each attempt linked to (and, with
 * the child setting, a child of) the producer span whose context crossed through the database.
 */
@Tag("process")
@PgQueueTest
class CrossProcessTracingTest {

  record Welcome(String to) {}

  static final JobType<Welcome> WELCOME = JobType.of("welcome_email", Welcome.class);

  @Test
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void theRequestTheEnqueueAndEveryAttemptAreOneTraceAcrossProcesses(TestDatabase db) throws Exception {
    db.truncate();
    InMemorySpanExporter exporter = InMemorySpanExporter.create();
    try (SdkTracerProvider provider = SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
        Worker worker = Worker.builder(db.dataSource())
            .interceptor(PgQueueTracing.builder(OpenTelemetrySdk.builder().setTracerProvider(provider).build())
                .consumerSpanIsChild(true).build().jobInterceptor())
            .pollInterval(Duration.ofMillis(50))
            .backoff(Backoff.fixed(Duration.ZERO))
            .handle(WELCOME, (welcome, ctx) -> {
              if (ctx.attempt() == 1) {
                throw new IllegalStateException("smtp down");
              }
            })
            .build()) {
      worker.start();

      List<String> lines = runWeb(db);
      List<PrintedSpan> web = lines.stream().filter(l -> l.startsWith(PrintedSpan.PREFIX)).map(PrintedSpan::parse).toList();
      long jobId = lines.stream().filter(l -> l.startsWith("ENQUEUED ")).mapToLong(l -> Long.parseLong(l.substring(9)))
          .findFirst().orElseThrow(() -> new AssertionError("the web process enqueued nothing: " + lines));
      PrintedSpan request = web.stream().filter(s -> s.kind().equals("SERVER")).findFirst().orElseThrow();
      PrintedSpan producer = web.stream().filter(s -> s.kind().equals("PRODUCER")).findFirst().orElseThrow();
      assertThat(web).hasSize(2);
      assertThat(producer.name()).isEqualTo("enqueue default");
      assertThat(producer.parentSpanId()).isEqualTo(request.spanId());
      assertThat(producer.traceId()).isEqualTo(request.traceId());

      await().atMost(Duration.ofSeconds(30)).until(() ->
          db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE id = " + jobId) == 0
              && exporter.getFinishedSpanItems().size() == 2);
      List<SpanData> attempts = exporter.getFinishedSpanItems();
      assertThat(attempts).allSatisfy(a -> {
        assertThat(a.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(a.getTraceId()).as("one trace").isEqualTo(request.traceId());
        assertThat(a.getParentSpanId()).isEqualTo(producer.spanId());
        assertThat(a.getParentSpanContext().isRemote()).isTrue();
        assertThat(a.getLinks()).extracting(LinkData::getSpanContext)
            .extracting(c -> c.getTraceId() + "/" + c.getSpanId())
            .containsExactly(producer.traceId() + "/" + producer.spanId());
        assertThat(a.getAttributes().get(AttributeKey.stringKey("messaging.message.id"))).isEqualTo(Long.toString(jobId));
      });
      assertThat(attempts).extracting(a -> a.getAttributes().get(AttributeKey.longKey("pgqueue.job.attempt")))
          .containsExactly(1L, 2L);
      assertThat(attempts).extracting(a -> a.getStatus().getStatusCode()).containsExactly(StatusCode.ERROR, StatusCode.UNSET);
    }
  }

  /** Runs the web process to its end; returns what it printed. */
  private static List<String> runWeb(TestDatabase db) throws Exception {
    List<String> cmd = List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
        "-cp", System.getProperty("java.class.path"),
        WebProcessMain.class.getName(), db.jdbcUrlWithCredentials());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<String> lines = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        lines.add(line);
        System.out.println("[web] " + line);
      }
    } finally {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    assertThat(p.exitValue()).as("the web process's exit status; it printed: " + lines).isZero();
    return lines;
  }
}
