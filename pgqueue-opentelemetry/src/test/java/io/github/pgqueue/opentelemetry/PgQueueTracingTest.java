package io.github.pgqueue.opentelemetry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.Backoff;
import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.HandlerOptions;
import io.github.pgqueue.JobId;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.NewJob;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.TraceStateBuilder;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Producer and consumer spans, recorded by the SDK's in-memory exporter, against a real database. */
@PgQueueTest
class PgQueueTracingTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final JobType<Item> OTHER = JobType.of("other", Item.class);

  TestDatabase db;
  InMemorySpanExporter exporter;
  SdkTracerProvider tracerProvider;
  OpenTelemetrySdk otel;
  final List<Worker> workers = new ArrayList<>();
  final List<ExecutorService> executors = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    exporter = InMemorySpanExporter.create();
    tracerProvider = SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
    otel = OpenTelemetrySdk.builder().setTracerProvider(tracerProvider).build();
  }

  @AfterEach
  void tearDown() {
    workers.forEach(Worker::close);
    executors.forEach(ExecutorService::shutdownNow);
    tracerProvider.close();
  }

  JobQueue queue(PgQueueTracing tracing) {
    return JobQueue.builder(db.dataSource()).enqueueInterceptor(tracing.enqueueInterceptor()).build();
  }

  Worker start(Worker.Builder b) {
    Worker w = b.pollInterval(Duration.ofMillis(50)).backoff(Backoff.fixed(Duration.ZERO)).build();
    workers.add(w);
    w.start();
    return w;
  }

  List<SpanData> spans(SpanKind kind) {
    return exporter.getFinishedSpanItems().stream().filter(s -> s.getKind() == kind).toList();
  }

  long rows(String where) {
    return db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE " + where);
  }

  String storedTraceparent(JobId id) throws Exception {
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT trace_context->>'traceparent' FROM pgqueue.jobs WHERE id = ?")) {
      ps.setLong(1, id.value());
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("job " + id + " exists").isTrue();
        return rs.getString(1);
      }
    }
  }

  /** Trace and span id: a link's context is remote, the producer span's own is not. */
  static String ids(SpanContext sc) {
    return sc.getTraceId() + "/" + sc.getSpanId();
  }

  static String traceparent(SpanContext sc) {
    return "00-" + sc.getTraceId() + "-" + sc.getSpanId() + "-" + sc.getTraceFlags().asHex();
  }

  @Test
  void oneProducerSpanPerCallBulkIncludedChildOfTheCallersSpanItsContextStoredWithEachJob() throws Exception {
    JobQueue queue = queue(PgQueueTracing.create(otel));
    Span web = otel.getTracer("test").spanBuilder("POST /signup").startSpan();
    List<JobId> bulk;
    JobId single;
    JobId mixed;
    try (Scope ignored = web.makeCurrent()) {
      queue.enqueueAll(ITEM, List.of()); // not intercepted: no span
      assertThat(Span.current()).isSameAs(web);
      bulk = queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2), new Item(3))).stream().map(r -> r.id()).toList();
      single = queue.enqueue(ITEM, new Item(4), EnqueueOptions.builder().queue("mail").build()).id();
      mixed = queue.enqueueAll(List.of(new NewJob<>(ITEM, new Item(5), EnqueueOptions.builder().build()),
          new NewJob<>(OTHER, new Item(6), EnqueueOptions.builder().queue("mail").build()))).get(0).id();
      assertThat(Span.current()).as("no producer scope leaks").isSameAs(web);
    } finally {
      web.end();
    }
    List<SpanData> producers = spans(SpanKind.PRODUCER);
    assertThat(producers).hasSize(3);
    SpanData bulkSpan = producers.get(0);
    assertThat(bulkSpan.getName()).isEqualTo("enqueue default");
    assertThat(bulkSpan.getParentSpanContext()).isEqualTo(web.getSpanContext());
    assertThat(bulkSpan.getAttributes().asMap()).isEqualTo(Map.of(
        AttributeKey.stringKey("messaging.system"), "pgqueue",
        AttributeKey.stringKey("messaging.operation.type"), "send",
        AttributeKey.stringKey("messaging.operation.name"), "enqueue",
        AttributeKey.stringKey("messaging.destination.name"), "default",
        AttributeKey.stringKey("pgqueue.job.name"), "item",
        AttributeKey.longKey("messaging.batch.message_count"), 3L,
        AttributeKey.longKey("pgqueue.enqueue.duplicates"), 0L));
    assertThat(bulkSpan.getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);
    for (JobId id : bulk) {
      assertThat(storedTraceparent(id)).isEqualTo(traceparent(bulkSpan.getSpanContext()));
    }
    SpanData singleSpan = producers.get(1);
    assertThat(singleSpan.getName()).isEqualTo("enqueue mail");
    assertThat(singleSpan.getAttributes().get(AttributeKey.longKey("messaging.batch.message_count"))).isNull();
    assertThat(singleSpan.getAttributes().get(AttributeKey.stringKey("messaging.message.id"))).isEqualTo(single.toString());
    assertThat(bulkSpan.getAttributes().get(AttributeKey.stringKey("messaging.message.id"))).as("one id per span only").isNull();
    assertThat(storedTraceparent(single)).isEqualTo(traceparent(singleSpan.getSpanContext()));
    SpanData mixedSpan = producers.get(2);
    assertThat(mixedSpan.getName()).as("no one destination").isEqualTo("enqueue");
    assertThat(mixedSpan.getAttributes().get(AttributeKey.stringKey("messaging.destination.name"))).isNull();
    assertThat(mixedSpan.getAttributes().get(AttributeKey.stringKey("pgqueue.job.name"))).isNull();
    assertThat(storedTraceparent(mixed)).isEqualTo(traceparent(mixedSpan.getSpanContext()));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE context <> ''"))
        .as("the user's context is left alone").isZero();
  }

  @Test
  void aConsumerSpanPerAttemptRetryIncludedLinkedToTheProducerButNotItsChildByDefault() {
    PgQueueTracing tracing = PgQueueTracing.create(otel);
    Map<Integer, SpanContext> currentInHandler = new ConcurrentHashMap<>();
    start(Worker.builder(db.dataSource()).interceptor(tracing.jobInterceptor())
        .handle(ITEM, (item, ctx) -> {
          currentInHandler.put(ctx.attempt(), Span.current().getSpanContext());
          if (ctx.attempt() == 1) {
            throw new IllegalStateException("smtp down");
          }
        }));
    JobId id = queue(tracing).enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("id = " + id.value()) == 0 && spans(SpanKind.CONSUMER).size() == 2);

    SpanData producer = spans(SpanKind.PRODUCER).get(0);
    List<SpanData> consumers = spans(SpanKind.CONSUMER);
    for (SpanData c : consumers) {
      assertThat(c.getName()).isEqualTo("process default");
      assertThat(c.getLinks()).extracting(l -> ids(l.getSpanContext())).containsExactly(ids(producer.getSpanContext()));
      assertThat(c.getParentSpanContext().isValid()).as("a trace of its own").isFalse();
      assertThat(c.getTraceId()).isNotEqualTo(producer.getTraceId());
      assertThat(c.getAttributes().get(AttributeKey.stringKey("messaging.system"))).isEqualTo("pgqueue");
      assertThat(c.getAttributes().get(AttributeKey.stringKey("messaging.operation.type"))).isEqualTo("process");
      assertThat(c.getAttributes().get(AttributeKey.stringKey("messaging.operation.name"))).isEqualTo("process");
      assertThat(c.getAttributes().get(AttributeKey.stringKey("messaging.destination.name"))).isEqualTo("default");
      assertThat(c.getAttributes().get(AttributeKey.stringKey("messaging.message.id"))).isEqualTo(id.toString());
      assertThat(c.getAttributes().get(AttributeKey.stringKey("pgqueue.job.name"))).isEqualTo("item");
      assertThat(c.getAttributes().get(AttributeKey.longKey("pgqueue.job.max_attempts"))).isEqualTo(25L);
    }
    SpanData first = consumers.stream().filter(c -> c.getAttributes().get(AttributeKey.longKey("pgqueue.job.attempt")) == 1L).findFirst().orElseThrow();
    SpanData second = consumers.stream().filter(c -> c.getAttributes().get(AttributeKey.longKey("pgqueue.job.attempt")) == 2L).findFirst().orElseThrow();
    assertThat(first.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    assertThat(first.getAttributes().get(AttributeKey.stringKey("error.type"))).isEqualTo("java.lang.IllegalStateException");
    assertThat(first.getEvents()).anySatisfy(e -> {
      assertThat(e.getName()).isEqualTo("exception");
      assertThat(e.getAttributes().get(AttributeKey.stringKey("exception.message"))).isEqualTo("smtp down");
    });
    assertThat(second.getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);
    assertThat(second.getEvents()).isEmpty();
    assertThat(currentInHandler.get(1)).as("the span is current in the handler").isEqualTo(first.getSpanContext());
    assertThat(currentInHandler.get(2)).isEqualTo(second.getSpanContext());
  }

  @Test
  void withTheChildSettingEveryAttemptIsAChildOfTheProducerInTheCallersTrace() {
    PgQueueTracing tracing = PgQueueTracing.builder(otel).consumerSpanIsChild(true).build();
    start(Worker.builder(db.dataSource()).interceptor(tracing.jobInterceptor())
        .handle(ITEM, (item, ctx) -> {
          if (ctx.attempt() < 3) {
            throw new IllegalStateException("attempt " + ctx.attempt());
          }
        }));
    Span web = otel.getTracer("test").spanBuilder("POST /signup").startSpan();
    JobId id;
    try (Scope ignored = web.makeCurrent()) {
      id = queue(tracing).enqueue(ITEM, new Item(1)).id();
    } finally {
      web.end();
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("id = " + id.value()) == 0 && spans(SpanKind.CONSUMER).size() == 3);
    SpanData producer = spans(SpanKind.PRODUCER).get(0);
    assertThat(spans(SpanKind.CONSUMER)).allSatisfy(c -> {
      assertThat(c.getTraceId()).isEqualTo(web.getSpanContext().getTraceId());
      assertThat(c.getParentSpanId()).isEqualTo(producer.getSpanId());
      assertThat(c.getLinks()).extracting(l -> ids(l.getSpanContext())).containsExactly(ids(producer.getSpanContext()));
    });
    assertThat(spans(SpanKind.CONSUMER)).extracting(c -> c.getAttributes().get(AttributeKey.longKey("pgqueue.job.attempt")))
        .containsExactlyInAnyOrder(1L, 2L, 3L);
  }

  @Test
  void aDeduplicatedEnqueueKeepsTheFirstJobsTraceContext() throws Exception {
    PgQueueTracing tracing = PgQueueTracing.builder(otel).consumerSpanIsChild(true).build();
    JobQueue queue = queue(tracing);
    EnqueueOptions keyed = EnqueueOptions.builder().uniqueKey("order-42").build();
    JobId first = queue.enqueue(ITEM, new Item(1), keyed).id();
    SpanData firstProducer = spans(SpanKind.PRODUCER).get(0);
    Span other = otel.getTracer("test").spanBuilder("second request").startSpan();
    try (Scope ignored = other.makeCurrent()) {
      assertThat(queue.enqueue(ITEM, new Item(2), keyed).duplicate()).isTrue();
      assertThat(queue.enqueueAll(ITEM, List.of(new Item(3)), keyed).get(0).duplicate()).isTrue();
    } finally {
      other.end();
    }
    List<SpanData> producers = spans(SpanKind.PRODUCER);
    assertThat(producers).hasSize(3);
    assertThat(storedTraceparent(first)).isEqualTo(traceparent(firstProducer.getSpanContext()));
    assertThat(producers).extracting(p -> p.getAttributes().get(AttributeKey.longKey("pgqueue.enqueue.duplicates")))
        .containsExactly(0L, 1L, 1L);
    assertThat(producers).extracting(p -> p.getAttributes().get(AttributeKey.stringKey("messaging.message.id")))
        .as("a duplicate's span names the waiting job it matched").containsOnly(first.toString());

    start(Worker.builder(db.dataSource()).interceptor(tracing.jobInterceptor()).handle(ITEM, (item, ctx) -> { }));
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("true") == 0 && spans(SpanKind.CONSUMER).size() == 1);
    SpanData consumer = spans(SpanKind.CONSUMER).get(0);
    assertThat(consumer.getTraceId()).isEqualTo(firstProducer.getTraceId()).isNotEqualTo(other.getSpanContext().getTraceId());
    assertThat(consumer.getLinks()).extracting(l -> ids(l.getSpanContext())).containsExactly(ids(firstProducer.getSpanContext()));
  }

  @Test
  void anAbandonedAttemptLeaksNoScopeIntoTheNextJobOnItsThread() {
    PgQueueTracing tracing = PgQueueTracing.create(otel);
    // One thread runs every attempt, so the job after the abandoned one runs on the thread the
    // abandoned attempt held (once its handler finally returns).
    ExecutorService oneThread = Executors.newSingleThreadExecutor();
    executors.add(oneThread);
    CountDownLatch release = new CountDownLatch(1);
    Map<Integer, Boolean> rootBefore = new ConcurrentHashMap<>();
    Map<Integer, SpanContext> currentInHandler = new ConcurrentHashMap<>();
    Map<Integer, String> threads = new ConcurrentHashMap<>();
    start(Worker.builder(db.dataSource()).executor(oneThread).queue("default", 1)
        .timeoutGrace(Duration.ofMillis(200))
        // Registered before the tracing interceptor: sees the thread as the attempt finds it.
        .interceptor((job, inv) -> {
          rootBefore.put(job.attempt(), Context.current() == Context.root());
          threads.put(job.attempt(), Thread.currentThread().getName());
          inv.proceed();
        })
        .interceptor(tracing.jobInterceptor())
        .handle(ITEM, (item, ctx) -> {
          currentInHandler.put(ctx.attempt(), Span.current().getSpanContext());
          if (ctx.attempt() == 1) {
            // Ignores the timeout's interrupt: abandoned by the watchdog, returns only when told.
            boolean released = false;
            while (!released) {
              try {
                released = release.await(30, TimeUnit.SECONDS);
              } catch (InterruptedException ignored) {
                // stuck on purpose
              }
            }
          }
        }, HandlerOptions.builder().timeout(Duration.ofMillis(300)).build()));
    JobId id = queue(tracing).enqueue(ITEM, new Item(1)).id();
    // Abandoned: the watchdog wrote the timed-out attempt and put the job back for attempt 2.
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("id = " + id.value() + " AND jsonb_array_length(errors) = 1") == 1);
    release.countDown();
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("id = " + id.value()) == 0 && spans(SpanKind.CONSUMER).size() == 2);

    assertThat(threads.get(2)).as("the next attempt ran on the abandoned attempt's thread").isEqualTo(threads.get(1));
    assertThat(rootBefore).containsEntry(1, true).containsEntry(2, true);
    SpanData abandoned = spans(SpanKind.CONSUMER).stream()
        .filter(c -> c.getAttributes().get(AttributeKey.longKey("pgqueue.job.attempt")) == 1L).findFirst().orElseThrow();
    SpanData next = spans(SpanKind.CONSUMER).stream()
        .filter(c -> c.getAttributes().get(AttributeKey.longKey("pgqueue.job.attempt")) == 2L).findFirst().orElseThrow();
    assertThat(next.getParentSpanContext().isValid()).as("not a child of the abandoned attempt's span").isFalse();
    assertThat(next.getTraceId()).isNotEqualTo(abandoned.getTraceId());
    assertThat(currentInHandler.get(2)).isEqualTo(next.getSpanContext());
  }

  @Test
  void theTracestateCrossesWithTheJobAndAnOversizedOneIsDroppedKeepingTheTraceparent() throws Exception {
    PgQueueTracing tracing = PgQueueTracing.builder(otel).consumerSpanIsChild(true).build();
    JobQueue queue = queue(tracing);
    SpanContext remote = SpanContext.createFromRemoteParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
        TraceFlags.getSampled(), TraceState.builder().put("congo", "t61rcWkgMzE").put("rojo", "00f067aa0ba902b7").build());
    JobId small;
    try (Scope ignored = Context.root().with(Span.wrap(remote)).makeCurrent()) {
      small = queue.enqueue(ITEM, new Item(1)).id();
    }
    TraceStateBuilder big = TraceState.builder();
    for (int i = 0; i < 30; i++) {
      big.put("vendor" + i, "v".repeat(20));
    }
    SpanContext bigRemote = SpanContext.createFromRemoteParent("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
        TraceFlags.getSampled(), big.build());
    JobId large;
    try (Scope ignored = Context.root().with(Span.wrap(bigRemote)).makeCurrent()) {
      large = queue.enqueue(ITEM, new Item(2)).id();
    }
    SpanData smallProducer = spans(SpanKind.PRODUCER).get(0);
    SpanData largeProducer = spans(SpanKind.PRODUCER).get(1);
    assertThat(storedTraceparent(large)).as("the link survives").isEqualTo(traceparent(largeProducer.getSpanContext()));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE id = " + large.value() + " AND trace_context ? 'tracestate'"))
        .as("a tracestate past 512 characters is not stored").isZero();

    start(Worker.builder(db.dataSource()).interceptor(tracing.jobInterceptor()).handle(ITEM, (item, ctx) -> { }));
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("true") == 0 && spans(SpanKind.CONSUMER).size() == 2);
    SpanData smallConsumer = spans(SpanKind.CONSUMER).stream()
        .filter(c -> c.getAttributes().get(AttributeKey.stringKey("messaging.message.id")).equals(small.toString()))
        .findFirst().orElseThrow();
    assertThat(smallConsumer.getParentSpanId()).isEqualTo(smallProducer.getSpanId());
    assertThat(smallConsumer.getParentSpanContext().getTraceState().asMap())
        .as("the tracestate crossed with the job").isEqualTo(remote.getTraceState().asMap());
    assertThat(smallConsumer.getSpanContext().getTraceState().asMap()).isEqualTo(remote.getTraceState().asMap());
  }

  @Test
  void withoutAnSdkNothingIsRecordedOrStoredAndJobsStillRun() throws Exception {
    PgQueueTracing tracing = PgQueueTracing.create(OpenTelemetry.noop());
    JobId id = queue(tracing).enqueue(ITEM, new Item(1)).id();
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT trace_context IS NULL FROM pgqueue.jobs WHERE id = ?")) {
      ps.setLong(1, id.value());
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getBoolean(1)).isTrue();
      }
    }
    start(Worker.builder(db.dataSource()).interceptor(tracing.jobInterceptor()).handle(ITEM, (item, ctx) -> { }));
    await().atMost(Duration.ofSeconds(20)).until(() -> rows("true") == 0);
    assertThat(exporter.getFinishedSpanItems()).isEmpty();
  }

  @Test
  void badSettingsAreRefusedByName() {
    assertThatThrownBy(() -> PgQueueTracing.create(null))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("openTelemetry");
    assertThatThrownBy(() -> PgQueueTracing.builder(null))
        .isInstanceOf(NullPointerException.class).hasMessageContaining("openTelemetry");
    PgQueueTracing t = PgQueueTracing.create(otel);
    assertThat(t.enqueueInterceptor()).isSameAs(t.enqueueInterceptor());
    assertThat(t.jobInterceptor()).isSameAs(t.jobInterceptor());
  }

  @Test
  void theProducerSpanCoversTheWriteAndRecordsItsFailure() throws Exception {
    PgQueueTracing tracing = PgQueueTracing.create(otel);
    // The connection source is asked for a connection inside the write: the span is current there.
    List<Span> currentAtWrite = new ArrayList<>();
    io.github.pgqueue.ConnectionSource plain = io.github.pgqueue.ConnectionSource.of(db.dataSource());
    JobQueue queue = JobQueue.builder(db.dataSource())
        .connectionSource(new io.github.pgqueue.ConnectionSource() {
          @Override
          public Connection getConnection() throws java.sql.SQLException {
            currentAtWrite.add(Span.current());
            return plain.getConnection();
          }

          @Override
          public boolean joinsTransaction(Connection connection) throws java.sql.SQLException {
            return plain.joinsTransaction(connection);
          }
        })
        .enqueueInterceptor(tracing.enqueueInterceptor())
        .build();
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    SpanData ok = spans(SpanKind.PRODUCER).get(0);
    assertThat(currentAtWrite).extracting(sp -> sp.getSpanContext().getSpanId()).contains(ok.getSpanId());
    assertThat(ok.getAttributes().get(AttributeKey.stringKey("messaging.message.id"))).isEqualTo(id.toString());

    // A write the database refuses: a closed connection.
    Connection closed = db.dataSource().getConnection();
    closed.close();
    Throwable failure = org.assertj.core.api.Assertions.catchThrowable(() -> queue.enqueue(closed, ITEM, new Item(2)));
    assertThat(failure).isInstanceOf(io.github.pgqueue.PgQueueException.class);
    SpanData failed = spans(SpanKind.PRODUCER).get(1);
    assertThat(failed.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    assertThat(failed.getAttributes().get(AttributeKey.stringKey("error.type"))).isEqualTo(failure.getClass().getName());
    assertThat(failed.getAttributes().get(AttributeKey.stringKey("messaging.message.id"))).isNull();
    assertThat(failed.getEvents()).extracting(e -> e.getName()).containsExactly("exception");
    assertThat(Span.current().getSpanContext().isValid()).as("no scope leaked").isFalse();
  }

  @Test
  void anInterceptorThrowingAfterTheTracingOneStillEndsTheSpanWithTheFailure() {
    RuntimeException refusal = new IllegalStateException("no job today");
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(PgQueueTracing.create(otel).enqueueInterceptor())
        .enqueueInterceptor(jobs -> {
          throw refusal;
        })
        .build();
    assertThatThrownBy(() -> queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2)))).isSameAs(refusal);
    List<SpanData> producers = spans(SpanKind.PRODUCER);
    assertThat(producers).hasSize(1);
    assertThat(producers.get(0).getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    assertThat(producers.get(0).getAttributes().get(AttributeKey.stringKey("error.type")))
        .isEqualTo(IllegalStateException.class.getName());
    assertThat(Span.current().getSpanContext().isValid()).as("no scope leaked").isFalse();
    assertThat(rows("true")).isZero();
  }
}
