package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The W3C trace context stored with a job: set by an enqueue interceptor, kept in its own column,
 * never overwritten by a duplicate, handed to every attempt's interceptors, retries included.
 */
@PgQueueTest
class TraceContextTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final String TP1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  static final String TP2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

  TestDatabase db;
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @AfterEach
  void stop() {
    workers.forEach(Worker::close);
  }

  /** A queue whose interceptor stamps every job with the trace context in {@code current}. */
  JobQueue queue(AtomicReference<TraceContext> current) {
    return JobQueue.builder(db.dataSource())
        .enqueueInterceptor(jobs -> jobs.forEach(j -> j.traceContext(current.get())))
        .build();
  }

  String stored(JobId id) throws Exception {
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT trace_context::text FROM pgqueue.jobs WHERE id = ?")) {
      ps.setLong(1, id.value());
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("job " + id + " exists").isTrue();
        return rs.getString(1);
      }
    }
  }

  @Test
  void validatesTheW3cForm() {
    assertThat(new TraceContext(TP1, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").tracestate())
        .isEqualTo("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assertThat(new TraceContext(TP1, " ").tracestate()).as("a blank tracestate is none").isNull();
    assertThat(TraceContext.of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future").traceparent())
        .as("a later version may add fields").endsWith("-future");
    for (String bad : List.of("", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "a".repeat(100))) {
      assertThatThrownBy(() -> TraceContext.of(bad)).as(bad)
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("traceparent");
    }
    assertThatThrownBy(() -> TraceContext.of(null)).hasMessageContaining("traceparent");
    assertThatThrownBy(() -> new TraceContext(TP1, "a=" + "b".repeat(TraceContext.MAX_TRACESTATE_LENGTH)))
        .hasMessageContaining("tracestate must be at most 512");
    assertThatThrownBy(() -> new TraceContext(TP1, "a=b\nc=d"))
        .hasMessageContaining("tracestate must be printable ASCII").hasMessageContaining("U+000A");
  }

  @Test
  void storedInItsOwnColumnBySingleAndBulkEnqueueAndNotInTheUserContext() throws Exception {
    AtomicReference<TraceContext> current = new AtomicReference<>(new TraceContext(TP1, "k=\"v\\\""));
    JobQueue queue = queue(current);
    JobId single = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().context("req-1").build()).id();
    current.set(TraceContext.of(TP2));
    List<EnqueueResult> bulk = queue.enqueueAll(List.of(
        new NewJob<>(ITEM, new Item(2), EnqueueOptions.builder().build()),
        new NewJob<>(ITEM, new Item(3), EnqueueOptions.builder().uniqueKey("k3").build())));
    current.set(null);
    JobId none;
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      none = queue.enqueue(c, ITEM, new Item(4)).id();
      c.commit();
    }
    assertThat(stored(single)).isEqualTo("{\"tracestate\": \"k=\\\"v\\\\\\\"\", \"traceparent\": \"" + TP1 + "\"}");
    assertThat(TraceContext.fromJson(stored(single))).isEqualTo(new TraceContext(TP1, "k=\"v\\\""));
    assertThat(queue.find(single).orElseThrow().context()).isEqualTo("req-1");
    assertThat(stored(bulk.get(0).id())).isEqualTo("{\"traceparent\": \"" + TP2 + "\"}");
    assertThat(stored(bulk.get(1).id())).as("the keyed bulk path").isEqualTo("{\"traceparent\": \"" + TP2 + "\"}");
    assertThat(stored(none)).isNull();
  }

  @Test
  void aDeduplicatedEnqueueNeverOverwritesTheStoredTraceContext() throws Exception {
    AtomicReference<TraceContext> current = new AtomicReference<>(TraceContext.of(TP1));
    JobQueue queue = queue(current);
    EnqueueOptions keyed = EnqueueOptions.builder().uniqueKey("order-42").build();
    JobId first = queue.enqueue(ITEM, new Item(1), keyed).id();
    JobId bulkFirst = queue.enqueueAll(ITEM, List.of(new Item(1)), EnqueueOptions.builder().uniqueKey("order-43").build())
        .get(0).id();

    current.set(TraceContext.of(TP2));
    EnqueueResult dup = queue.enqueue(ITEM, new Item(2), keyed);
    List<EnqueueResult> bulkDup = queue.enqueueAll(List.of(
        new NewJob<>(ITEM, new Item(2), keyed),
        new NewJob<>(ITEM, new Item(3), EnqueueOptions.builder().uniqueKey("order-43").build())));
    current.set(null);
    EnqueueResult dupWithout = queue.enqueue(ITEM, new Item(3), keyed);

    assertThat(dup.duplicate()).isTrue();
    assertThat(dup.id()).isEqualTo(first);
    assertThat(bulkDup).extracting(EnqueueResult::duplicate).containsExactly(true, true);
    assertThat(bulkDup).extracting(EnqueueResult::id).containsExactly(first, bulkFirst);
    assertThat(dupWithout.id()).isEqualTo(first);
    assertThat(stored(first)).isEqualTo("{\"traceparent\": \"" + TP1 + "\"}");
    assertThat(stored(bulkFirst)).isEqualTo("{\"traceparent\": \"" + TP1 + "\"}");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(2);
  }

  @Test
  void everyAttemptSeesTheStoredTraceContextRetriesIncluded() {
    JobQueue queue = queue(new AtomicReference<>(new TraceContext(TP1, "a=1")));
    List<String> seen = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(db.dataSource())
        .pollInterval(Duration.ofMillis(50))
        .backoff(Backoff.fixed(Duration.ZERO))
        .interceptor((job, inv) -> {
          seen.add(job.attempt() + ":" + job.traceContext().map(t -> t.traceparent() + "|" + t.tracestate()).orElse("none"));
          inv.proceed();
        })
        .handle(ITEM, (item, ctx) -> {
          if (ctx.attempt() < 3) {
            throw new IllegalStateException("fail attempt " + ctx.attempt());
          }
        })
        .build();
    workers.add(w);
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    JobId plain = JobQueue.create(db.dataSource()).enqueue(ITEM, new Item(2), EnqueueOptions.builder().maxAttempts(1).build()).id();
    w.start();
    await().atMost(Duration.ofSeconds(20)).until(() ->
        db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE id = " + id.value()) == 0
            && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE id = " + plain.value() + " AND state = 'discarded'") == 1);
    assertThat(seen).containsExactlyInAnyOrder(
        "1:" + TP1 + "|a=1", "2:" + TP1 + "|a=1", "3:" + TP1 + "|a=1", "1:none");
  }

  @Test
  void aRescuedOrSnoozedJobKeepsItsTraceContext() {
    JobQueue queue = queue(new AtomicReference<>(TraceContext.of(TP1)));
    db.execute("INSERT INTO pgqueue.workers (id, host, heartbeat_at, heartbeat_ms, stale_after_ms) OVERRIDING SYSTEM VALUE"
        + " VALUES (1001, 'dead', now() - interval '1 hour', 100, 300)");
    JobId rescued = queue.enqueue(ITEM, new Item(1)).id();
    JobId snoozed = queue.enqueue(ITEM, new Item(2)).id();
    // Running under a dead worker, as its claim would have left it.
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1001, lock_token = 1,"
        + " locked_at = now() WHERE id = " + rescued.value());
    List<String> seen = new CopyOnWriteArrayList<>();
    List<Integer> snoozes = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(db.dataSource())
        .pollInterval(Duration.ofMillis(50))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofMillis(300))
        .interceptor((job, inv) -> {
          seen.add(job.id() + "/" + job.attempt() + ":" + job.traceContext().map(TraceContext::traceparent).orElse("none"));
          inv.proceed();
        })
        .handle(ITEM, (item, ctx) -> {
          if (item.n() == 2 && snoozes.isEmpty()) {
            snoozes.add(1);
            ctx.snooze(Duration.ZERO);
          }
        })
        .build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(20)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(seen).containsExactlyInAnyOrder(
        rescued + "/2:" + TP1, snoozed + "/1:" + TP1, snoozed + "/1:" + TP1);
  }

  @Test
  void aStoredValuePgqueueWouldNotHaveWrittenReadsAsNone() {
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    db.execute("UPDATE pgqueue.jobs SET trace_context = '{\"traceparent\": \"garbage\"}' WHERE id = " + id.value());
    List<String> seen = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(db.dataSource())
        .pollInterval(Duration.ofMillis(50))
        .interceptor((job, inv) -> {
          seen.add(job.traceContext().map(TraceContext::traceparent).orElse("none"));
          inv.proceed();
        })
        .handle(ITEM, (item, ctx) -> { })
        .build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(20)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(seen).containsExactly("none");
  }

  @Test
  void settingTheTraceContextAfterTheInterceptorReturnedIsRefused() {
    AtomicReference<EnqueueInterceptor.Job> kept = new AtomicReference<>();
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(jobs -> kept.set(jobs.get(0)))
        .build();
    queue.enqueue(ITEM, new Item(1));
    assertThat(kept.get().traceContext()).isEmpty();
    assertThatThrownBy(() -> kept.get().traceContext(TraceContext.of(TP1)))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("trace context");
  }
}
