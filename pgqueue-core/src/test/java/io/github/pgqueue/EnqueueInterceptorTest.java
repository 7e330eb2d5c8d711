package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

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

  /** One afterEnqueue call as seen by {@link #after}. */
  record After(List<String> jobs, List<EnqueueResult> results, Throwable failure) {}

  final List<After> afters = new CopyOnWriteArrayList<>();

  /** Records every afterEnqueue, and checks it comes once per beforeEnqueue on the same thread. */
  final EnqueueInterceptor after = new EnqueueInterceptor() {
    final ThreadLocal<List<Job>> open = new ThreadLocal<>();

    @Override
    public void beforeEnqueue(List<Job> jobs) {
      assertThat(open.get()).isNull();
      open.set(jobs);
    }

    @Override
    public void afterEnqueue(List<Job> jobs, List<EnqueueResult> results, Throwable failure) {
      assertThat(open.get()).isSameAs(jobs);
      open.remove();
      afters.add(new After(jobs.stream().map(j -> j.name() + ":" + j.context()).toList(), results, failure));
    }
  };

  @Test
  void afterEnqueueSeesEveryFormsResultsOnceWithIdsAndDuplicates() throws Exception {
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(tracer).enqueueInterceptor(after).build();
    EnqueueResult single = queue.enqueue(SEND_EMAIL, new SendEmail("a", "1"), EnqueueOptions.builder().uniqueKey("k1").build());
    EnqueueResult dup = queue.enqueue(SEND_EMAIL, new SendEmail("a", "2"), EnqueueOptions.builder().uniqueKey("k1").build());
    List<EnqueueResult> bulk = queue.enqueueAll(List.of(
        NewJob.of(SEND_EMAIL, new SendEmail("b", "3")),
        NewJob.of(SEND_EMAIL, new SendEmail("b", "4"), EnqueueOptions.builder().uniqueKey("k1").build())));
    EnqueueResult inTx;
    List<EnqueueResult> bulkInTx;
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      inTx = queue.enqueue(c, SEND_EMAIL, new SendEmail("c", "5"));
      bulkInTx = queue.enqueueAll(c, SEND_EMAIL, List.of(new SendEmail("d", "6"), new SendEmail("e", "7")));
      // Reported before the caller's commit: afterEnqueue cannot know what the caller does next.
      assertThat(afters).hasSize(5);
      c.commit();
    }
    // A joined ConnectionSource: the statements run in the caller's transaction.
    List<EnqueueResult> joined;
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      JobQueue joining = JobQueue.builder(db.dataSource()).connectionSource(joinedTo(c)).enqueueInterceptor(after).build();
      joined = List.of(joining.enqueue(SEND_EMAIL, new SendEmail("f", "8")));
      c.rollback();
    }
    assertThat(afters).extracting(After::failure).containsOnlyNulls();
    assertThat(afters).extracting(After::results)
        .containsExactly(List.of(single), List.of(dup), bulk, List.of(inTx), bulkInTx, joined);
    assertThat(dup.duplicate()).isTrue();
    assertThat(bulk.get(1).duplicate()).isTrue();
    assertThat(bulk.get(1).id()).isEqualTo(single.id());
    assertThat(bulk.get(0).duplicate()).isFalse();
    // Each job as stored, the context the earlier interceptor set included.
    assertThat(afters.get(0).jobs()).containsExactly("send_email:traceparent=00-abc");
    assertThat(afters.get(2).jobs()).hasSize(2);
    assertThat(afters.get(5).jobs()).containsExactly("send_email:");
    // The rolled-back joined job never existed, although afterEnqueue was told it was written.
    assertThat(queue.find(joined.get(0).id())).isEmpty();
    assertThat(jobs()).isEqualTo(5);
  }

  @Test
  void afterEnqueueGetsTheFailureOfAWriteTheDatabaseRefusesOrAClosedConnection() throws Exception {
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(after).build();
    db.execute("CREATE FUNCTION pgqueue.refuse_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        + " IF NEW.payload->>'to' = 'refused' THEN RAISE EXCEPTION 'refused by test' USING ERRCODE = '23514'; END IF;"
        + " RETURN NEW; END $$");
    db.execute("CREATE TRIGGER refuse_test BEFORE INSERT ON pgqueue.jobs FOR EACH ROW EXECUTE FUNCTION pgqueue.refuse_test()");
    try {
      Throwable single = catchThrowable(() -> queue.enqueue(SEND_EMAIL, new SendEmail("refused", "1")));
      Throwable bulk = catchThrowable(() -> queue.enqueueAll(SEND_EMAIL, List.of(new SendEmail("ok", "1"), new SendEmail("refused", "2"))));
      Throwable inTx;
      try (Connection c = db.dataSource().getConnection()) {
        c.setAutoCommit(false);
        inTx = catchThrowable(() -> queue.enqueueAll(c, SEND_EMAIL, List.of(new SendEmail("refused", "3"))));
        c.rollback();
      }
      Connection closed = db.dataSource().getConnection();
      closed.close();
      Throwable onClosed = catchThrowable(() -> queue.enqueue(closed, SEND_EMAIL, new SendEmail("ok", "4")));
      assertThat(List.of(single, bulk, inTx, onClosed)).allMatch(t -> t instanceof PgQueueException);
      assertThat(single).hasStackTraceContaining("refused by test");
      assertThat(afters).extracting(After::failure).containsExactly(single, bulk, inTx, onClosed);
      assertThat(afters).extracting(After::results).containsOnlyNulls();
      assertThat(afters.get(1).jobs()).hasSize(2);
      assertThat(jobs()).isZero();
    } finally {
      db.execute("DROP TRIGGER refuse_test ON pgqueue.jobs");
      db.execute("DROP FUNCTION pgqueue.refuse_test()");
    }
  }

  @Test
  void aThrowingBeforeEnqueueStillEndsEveryEarlierInterceptorsCallWithTheFailure() {
    RuntimeException refusal = new IllegalStateException("no trace, no job");
    List<String> order = new CopyOnWriteArrayList<>();
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(after)
        .enqueueInterceptor(new EnqueueInterceptor() {
          @Override
          public void beforeEnqueue(List<Job> jobs) {
            order.add("before");
            throw refusal;
          }

          @Override
          public void afterEnqueue(List<Job> jobs, List<EnqueueResult> results, Throwable failure) {
            order.add("after " + failure.getMessage());
          }
        })
        .enqueueInterceptor(jobs -> order.add("never called"))
        .build();
    assertThatThrownBy(() -> queue.enqueueAll(SEND_EMAIL, List.of(new SendEmail("a", "1")))).isSameAs(refusal);
    assertThat(order).containsExactly("before", "after no trace, no job");
    assertThat(afters).extracting(After::failure).containsExactly(refusal);
    assertThat(jobs()).isZero();
  }

  @Test
  void aThrowingAfterEnqueueIsLoggedAndChangesNothing() throws Exception {
    Error boom = new AssertionError("afterEnqueue broke");
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(after)
        .enqueueInterceptor(new EnqueueInterceptor() {
          @Override
          public void beforeEnqueue(List<Job> jobs) {}

          @Override
          public void afterEnqueue(List<Job> jobs, List<EnqueueResult> results, Throwable failure) {
            if (failure == null) {
              throw new IllegalStateException("after broke");
            }
            throw boom;
          }
        })
        .build();
    JobId id = queue.enqueue(SEND_EMAIL, new SendEmail("a", "1")).id();
    assertThat(queue.find(id)).isPresent();
    assertThat(queue.enqueueAll(SEND_EMAIL, List.of(new SendEmail("b", "2"), new SendEmail("c", "3")))).hasSize(2);
    Connection closed = db.dataSource().getConnection();
    closed.close();
    Throwable failure = catchThrowable(() -> queue.enqueue(closed, SEND_EMAIL, new SendEmail("d", "4")));
    assertThat(failure).isInstanceOf(PgQueueException.class).isNotSameAs(boom);
    assertThat(failure.getSuppressed()).isEmpty();
    // The earlier-registered interceptor still got its call after the later one threw.
    assertThat(afters).hasSize(3);
    assertThat(afters.get(2).failure()).isSameAs(failure);
    assertThat(jobs()).isEqualTo(3);
  }

  @Test
  void aDeadlockRetriedInsideABulkEnqueueCallsAfterEnqueueOnce() {
    List<Integer> befores = new CopyOnWriteArrayList<>();
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(jobs -> befores.add(jobs.size()))
        .enqueueInterceptor(after)
        .build();
    // The first insert attempt fails as a deadlock would (a sequence is not rolled back, so the
    // retry on a fresh transaction passes).
    db.execute("CREATE SEQUENCE pgqueue.deadlock_test");
    db.execute("CREATE FUNCTION pgqueue.deadlock_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        + " IF nextval('pgqueue.deadlock_test') = 1 THEN RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = '40P01'; END IF;"
        + " RETURN NEW; END $$");
    db.execute("CREATE TRIGGER deadlock_test BEFORE INSERT ON pgqueue.jobs FOR EACH STATEMENT EXECUTE FUNCTION pgqueue.deadlock_test()");
    try {
      List<EnqueueResult> results = queue.enqueueAll(List.of(
          NewJob.of(SEND_EMAIL, new SendEmail("a", "1"), EnqueueOptions.builder().uniqueKey("x").build()),
          NewJob.of(SEND_EMAIL, new SendEmail("b", "2"))));
      assertThat(db.queryLong("SELECT last_value FROM pgqueue.deadlock_test")).isGreaterThan(1);
      assertThat(befores).containsExactly(2);
      assertThat(afters).hasSize(1);
      assertThat(afters.get(0).results()).isEqualTo(results);
      assertThat(afters.get(0).failure()).isNull();
      assertThat(jobs()).isEqualTo(2);
    } finally {
      db.execute("DROP TRIGGER deadlock_test ON pgqueue.jobs");
      db.execute("DROP FUNCTION pgqueue.deadlock_test()");
      db.execute("DROP SEQUENCE pgqueue.deadlock_test");
    }
  }

  /** A source that hands out the caller's connection, joined (never committed or closed). */
  static ConnectionSource joinedTo(Connection c) {
    return new ConnectionSource() {
      @Override
      public Connection getConnection() {
        return c;
      }

      @Override
      public boolean joinsTransaction(Connection connection) {
        return true;
      }

      @Override
      public void release(Connection connection) {}
    };
  }
}
