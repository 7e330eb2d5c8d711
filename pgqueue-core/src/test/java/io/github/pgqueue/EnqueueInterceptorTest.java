package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The enqueue interceptor: once per call, before anything is written, may add to the context. */
@PgQueueTest
class EnqueueInterceptorTest {

  TestDatabase db;
  final List<List<String>> calls = new CopyOnWriteArrayList<>();

  /** Records each call's jobs and appends a trace id to their context, as a tracer would. */
  final EnqueueInterceptor tracer = jobs -> {
    calls.add(jobs.stream().map(j -> j.name() + "@" + j.queue() + "#" + j.uniqueKey()).toList());
    for (EnqueueInterceptor.Job j : jobs) {
      j.context(j.context().isEmpty() ? "traceparent=00-abc" : j.context() + " traceparent=00-abc");
    }
  };

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  long jobs() {
    return db.queryLong("SELECT count(*) FROM pgqueue.jobs");
  }

  @Test
  void everyEnqueuePathIsInterceptedOncePerCallAndTheContextIsStored() throws Exception {
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(tracer).build();
    JobId single = queue.enqueue(SEND_EMAIL, new SendEmail("a", "1"),
        EnqueueOptions.builder().context("req-1").uniqueKey("k1").build()).id();
    List<EnqueueResult> bulk = queue.enqueueAll(SEND_EMAIL, List.of(new SendEmail("b", "2"), new SendEmail("c", "3")));
    JobId inTx;
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      inTx = queue.enqueue(c, SEND_EMAIL, new SendEmail("d", "4")).id();
      queue.enqueueAll(c, List.of(new NewJob<>(SEND_EMAIL, new SendEmail("e", "5"), EnqueueOptions.builder().queue("mail").build())));
      c.commit();
    }
    assertThat(calls).containsExactly(
        List.of("send_email@default#k1"),
        List.of("send_email@default#null", "send_email@default#null"),
        List.of("send_email@default#null"),
        List.of("send_email@mail#null"));
    assertThat(queue.find(single).orElseThrow().context()).isEqualTo("req-1 traceparent=00-abc");
    assertThat(queue.find(bulk.get(1).id()).orElseThrow().context()).isEqualTo("traceparent=00-abc");
    assertThat(queue.find(inTx).orElseThrow().context()).isEqualTo("traceparent=00-abc");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE context LIKE '%traceparent=00-abc'")).isEqualTo(5);
    // An empty bulk call is not intercepted.
    queue.enqueueAll(SEND_EMAIL, List.of());
    assertThat(calls).hasSize(4);
    // A duplicate is intercepted too, but never overwrites the context of the job it matched.
    EnqueueResult dup = queue.enqueue(SEND_EMAIL, new SendEmail("a", "again"),
        EnqueueOptions.builder().context("req-2").uniqueKey("k1").build());
    assertThat(dup.duplicate()).isTrue();
    assertThat(dup.id()).isEqualTo(single);
    assertThat(calls).hasSize(5);
    assertThat(queue.find(single).orElseThrow().context()).isEqualTo("req-1 traceparent=00-abc");
  }

  @Test
  void interceptorsRunInOrderAndAThrowOneAbortsWithNothingWritten() throws Exception {
    List<String> order = new CopyOnWriteArrayList<>();
    RuntimeException refusal = new IllegalStateException("no trace, no job");
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(jobs -> order.add("first"))
        .enqueueInterceptor(jobs -> {
          order.add("second");
          throw refusal;
        })
        .build();
    assertThatThrownBy(() -> queue.enqueue(SEND_EMAIL, new SendEmail("a", "1"))).isSameAs(refusal);
    assertThatThrownBy(() -> queue.enqueueAll(SEND_EMAIL, List.of(new SendEmail("a", "1")))).isSameAs(refusal);
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      assertThatThrownBy(() -> queue.enqueue(c, SEND_EMAIL, new SendEmail("a", "1"))).isSameAs(refusal);
      c.commit();
    }
    assertThat(order).containsExactly("first", "second", "first", "second", "first", "second");
    assertThat(jobs()).isZero();
  }

  @Test
  void aContextIsValidatedWhenSetAndOnlyDuringTheCall() {
    AtomicReference<EnqueueInterceptor.Job> kept = new AtomicReference<>();
    JobQueue nul = JobQueue.builder(db.dataSource()).enqueueInterceptor(jobs -> jobs.get(0).context("a\0b")).build();
    assertThatThrownBy(() -> nul.enqueue(SEND_EMAIL, new SendEmail("a", "1"))).hasMessageContaining("NUL");
    JobQueue tooLong = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(jobs -> jobs.get(0).context("x".repeat(EnqueueOptions.MAX_CONTEXT_LENGTH + 1))).build();
    assertThatThrownBy(() -> tooLong.enqueue(SEND_EMAIL, new SendEmail("a", "1"))).hasMessageContaining("context must be at most");
    JobQueue keeps = JobQueue.builder(db.dataSource()).enqueueInterceptor(jobs -> kept.set(jobs.get(0))).build();
    JobQueue listChanger = JobQueue.builder(db.dataSource()).enqueueInterceptor(jobs -> jobs.remove(0)).build();
    assertThatThrownBy(() -> listChanger.enqueue(SEND_EMAIL, new SendEmail("a", "1"))).isInstanceOf(UnsupportedOperationException.class);
    assertThat(jobs()).isZero();
    JobId id = keeps.enqueue(SEND_EMAIL, new SendEmail("a", "1")).id();
    assertThatThrownBy(() -> kept.get().context("late")).isInstanceOf(IllegalStateException.class);
    assertThat(keeps.find(id).orElseThrow().context()).isEmpty();
  }
}
