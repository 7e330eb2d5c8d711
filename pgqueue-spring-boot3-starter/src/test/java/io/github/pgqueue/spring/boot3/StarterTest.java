package io.github.pgqueue.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.spring.WorkerLifecycle;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.actuate.health.HealthEndpointGroups;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.actuate.health.Status;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The test application with the worker on, against real PostgreSQL, in one Spring context: enqueue
 * joins the caller's transaction under a JDBC and a JPA transaction manager, the worker bean runs
 * the job, and the metrics and tracing auto-configurations record it (Boot's Prometheus registry,
 * the test application's OpenTelemetry SDK).
 */
@SpringBootTest(classes = TestApp.class, properties = {
    "pgqueue.migrate=true",
    "pgqueue.worker.enabled=true",
    "pgqueue.worker.queues.default=2",
    "pgqueue.worker.poll-interval=200ms",
    "spring.jpa.hibernate.ddl-auto=create-drop",
    "spring.jpa.open-in-view=false",
    "management.endpoint.health.probes.enabled=true",
    "pgqueue.tracing.consumer-span-is-child=true",
    // Boot 3's @SpringBootTest turns metrics export off by default; the Prometheus registry is wanted.
    "management.prometheus.metrics.export.enabled=true",
})
// Closed after the class, while the database is still up: at JVM exit the worker would stop while
// the embedded server stops too, and wait out its bounds.
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class StarterTest {

  @DynamicPropertySource
  static void database(DynamicPropertyRegistry r) {
    r.add("spring.datasource.url", SharedDb.DB::jdbcUrl);
    r.add("spring.datasource.username", SharedDb.DB::user);
    r.add("spring.datasource.password", SharedDb.DB::password);
  }

  @Autowired TestApp.Signups signups;
  @Autowired TestApp.WelcomeHandler handler;
  @Autowired JobQueue queue;
  @Autowired WorkerLifecycle worker;
  @Autowired HealthEndpointGroups groups;
  @Autowired org.springframework.context.ApplicationContext context;
  @Autowired MeterRegistry registry;
  @Autowired PrometheusMeterRegistry prometheus;
  @Autowired OpenTelemetry openTelemetry;
  @Autowired InMemorySpanExporter spans;

  private static String email() {
    return UUID.randomUUID() + "@example.com";
  }

  private static long heldJobs(String email) {
    return SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE queue = 'held' AND payload->>'email' = '" + email + "'");
  }

  private static long accounts(String email) {
    return SharedDb.count("SELECT count(*) FROM account WHERE email = '" + email + "'");
  }

  @Test
  void jdbcTransactionThatThrowsLeavesNoJob() {
    String email = email();
    assertThatThrownBy(() -> signups.signupJdbc(email, TestApp.HELD, true)).isInstanceOf(TestApp.SignupFailed.class);
    assertThat(accounts(email)).isZero();
    assertThat(heldJobs(email)).isZero();
  }

  @Test
  void jdbcTransactionThatCommitsLeavesExactlyOneJob() {
    String email = email();
    signups.signupJdbc(email, TestApp.HELD, false);
    assertThat(accounts(email)).isEqualTo(1);
    assertThat(heldJobs(email)).isEqualTo(1);
  }

  @Test
  void jpaTransactionThatThrowsLeavesNoJob() {
    String email = email();
    assertThatThrownBy(() -> signups.signupJpa(email, TestApp.HELD, true)).isInstanceOf(TestApp.SignupFailed.class);
    assertThat(accounts(email)).isZero();
    assertThat(heldJobs(email)).isZero();
  }

  @Test
  void jpaTransactionThatCommitsLeavesExactlyOneJob() {
    String email = email();
    signups.signupJpa(email, TestApp.HELD, false);
    assertThat(accounts(email)).isEqualTo(1);
    assertThat(heldJobs(email)).isEqualTo(1);
  }

  @Test
  void enqueueOutsideATransactionCommitsOnItsOwn() {
    String email = email();
    queue.enqueue(TestApp.WELCOME, new TestApp.Welcome(email),
        io.github.pgqueue.EnqueueOptions.builder().queue(TestApp.HELD).build());
    assertThat(heldJobs(email)).isEqualTo(1);
  }

  @Test
  void theWorkerBeanRunsACommittedJobAndARolledBackOneNever() {
    String committed = email();
    String rolledBack = email();
    assertThatThrownBy(() -> signups.signupJpa(rolledBack, "default", true)).isInstanceOf(TestApp.SignupFailed.class);
    signups.signupJdbc(committed, "default", false);
    await().atMost(Duration.ofSeconds(30)).until(() -> handler.sent.contains(committed)
        && SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE payload->>'email' = '" + committed + "'") == 0);
    assertThat(handler.sent).containsOnlyOnce(committed).doesNotContain(rolledBack);
    assertThat(worker.isRunning()).isTrue();
  }

  @Test
  void healthIsUpAndInTheReadinessGroupOnly() {
    HealthIndicator indicator = context.getBean("pgqueueHealthIndicator", HealthIndicator.class);
    await().atMost(Duration.ofSeconds(30)).until(() -> indicator.health().getStatus().equals(Status.UP));
    assertThat(indicator.health().getDetails()).containsEntry("worker", "registered and heartbeating");
    assertThat(groups.get("readiness").isMember("pgqueue")).isTrue();
    assertThat(groups.get("liveness").isMember("pgqueue")).isFalse();
    assertThat(groups.get("liveness").isMember("livenessState")).isTrue();
  }

  /** Enqueues a welcome email to the worker's queue and waits until its success is written. */
  private String runOneJob() {
    String email = email();
    queue.enqueue(TestApp.WELCOME, new TestApp.Welcome(email), EnqueueOptions.builder().queue("default").build());
    await().atMost(Duration.ofSeconds(30)).until(() -> handler.sent.contains(email)
        && SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE payload->>'email' = '" + email + "'") == 0);
    return email;
  }

  @Test
  void theDocumentedMetersAppearWithTheirTagsAfterAJobRuns() {
    runOneJob();
    Tags job = Tags.of("name", TestApp.WELCOME.name(), "queue", "default");
    // The listener's event fires when the outcome is handed to the completer, before the row goes.
    await().atMost(Duration.ofSeconds(10)).until(() ->
        registry.find("pgqueue.jobs.processed").tags(job).tag("outcome", "succeeded").counter() != null);
    assertThat(registry.get("pgqueue.jobs.enqueued").tags(job).counter().count()).isGreaterThanOrEqualTo(1);
    assertThat(registry.get("pgqueue.jobs.processed").tags(job).tag("outcome", "succeeded").counter().count())
        .isGreaterThanOrEqualTo(1);
    assertThat(registry.get("pgqueue.jobs.duration").tags(job).tag("outcome", "succeeded").timer().count())
        .isGreaterThanOrEqualTo(1);
    assertThat(registry.get("pgqueue.jobs.pickup.delay").tags(job).timer().count()).isGreaterThanOrEqualTo(1);
    // This process runs the worker: its gauges are bound.
    assertThat(registry.get("pgqueue.worker.slots").tag("queue", "default").gauge().value()).isEqualTo(2.0);
    assertThat(registry.get("pgqueue.worker.slots.busy").tag("queue", "default").gauge()).isNotNull();
    assertThat(registry.get("pgqueue.worker.buffered").tag("queue", "default").gauge()).isNotNull();
    assertThat(registry.get("pgqueue.worker.abandoned.threads").gauge().value()).isZero();
    assertThat(registry.get("pgqueue.worker.listening").gauge()).isNotNull();
    await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("pgqueue.worker.healthy").gauge().value() == 1.0);
    // The fleet-wide queue gauges are opt-in: not here.
    assertThat(registry.find("pgqueue.queue.due").gauges()).isEmpty();
    assertThat(registry.find("pgqueue.queue.stats.age").gauges()).isEmpty();

    String scrape = prometheus.scrape();
    assertThat(scrape)
        .containsPattern("pgqueue_jobs_processed_total\\{[^}]*name=\"welcome_email\"[^}]*outcome=\"succeeded\"[^}]*queue=\"default\"")
        .contains("pgqueue_jobs_enqueued_total{")
        .contains("pgqueue_jobs_duration_seconds_count{")
        .contains("pgqueue_jobs_pickup_delay_seconds_count{")
        .contains("pgqueue_worker_slots{")
        .doesNotContain("pgqueue_queue_due");
  }

  @Test
  void anEnqueueInsideASpanAndItsAttemptAreOneTrace() {
    Span request = openTelemetry.getTracer("test").spanBuilder("request").startSpan();
    String email = email();
    try (Scope ignored = request.makeCurrent()) {
      queue.enqueue(TestApp.WELCOME, new TestApp.Welcome(email), EnqueueOptions.builder().queue("default").build());
    } finally {
      request.end();
    }
    String trace = request.getSpanContext().getTraceId();
    await().atMost(Duration.ofSeconds(30)).until(() -> spans.getFinishedSpanItems().stream()
        .anyMatch(s -> s.getKind() == SpanKind.CONSUMER && s.getTraceId().equals(trace)));
    List<SpanData> inTrace = spans.getFinishedSpanItems().stream().filter(s -> s.getTraceId().equals(trace)).toList();
    SpanData producer = inTrace.stream().filter(s -> s.getKind() == SpanKind.PRODUCER).findFirst().orElseThrow();
    SpanData consumer = inTrace.stream().filter(s -> s.getKind() == SpanKind.CONSUMER).findFirst().orElseThrow();
    assertThat(producer.getName()).isEqualTo("enqueue default");
    assertThat(producer.getParentSpanId()).isEqualTo(request.getSpanContext().getSpanId());
    assertThat(consumer.getName()).isEqualTo("process default");
    // pgqueue.tracing.consumer-span-is-child=true: the attempt is the producer's child, and linked to it.
    assertThat(consumer.getParentSpanId()).isEqualTo(producer.getSpanId());
    assertThat(consumer.getLinks()).anyMatch(l -> l.getSpanContext().getSpanId().equals(producer.getSpanId()));
    // Outermost: the application's own interceptor ran inside the consumer span.
    String jobId = consumer.getAttributes().get(io.opentelemetry.api.common.AttributeKey.stringKey("messaging.message.id"));
    assertThat(TestApp.SPAN_SEEN_BY_INTERCEPTOR).containsEntry(jobId, consumer.getSpanId());
  }
}
