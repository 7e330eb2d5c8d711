package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLState;

/**
 * A handler registered with {@code handleInTransaction} writes through the connection it is given;
 * its writes commit together with the job's guarded completion, or not at all. Each handler
 * records (job, attempt) in a table of its own, so the table shows which attempts committed.
 */
@PgQueueTest
class TransactionalCompletionTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("tx_item", Item.class);

  @BeforeEach
  void tables(TestDatabase db) {
    db.truncate();
    db.execute("CREATE TABLE IF NOT EXISTS public.tx_effects (job_id bigint NOT NULL, attempt int NOT NULL)");
    db.execute("CREATE TABLE IF NOT EXISTS public.tx_locked (id int PRIMARY KEY)");
    db.execute("TRUNCATE public.tx_effects, public.tx_locked");
    db.execute("INSERT INTO public.tx_locked VALUES (1)");
  }

  static void record(Connection c, JobContext ctx) throws Exception {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO public.tx_effects VALUES (?, ?)")) {
      ps.setLong(1, ctx.id().value());
      ps.setInt(2, ctx.attempt());
      ps.executeUpdate();
    }
  }

  static Worker.Builder fast(DataSource ds) {
    return Worker.builder(ds)
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(50))
        .backoff(Backoff.fixed(Duration.ZERO));
  }

  @Test
  void aSuccessfulHandlersWritesCommitWithTheCompletion(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    Worker w = fast(db.dataSource()).handleInTransaction(ITEM, (item, ctx, c) -> record(c, ctx)).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE job_id = " + id.value() + " AND attempt = 1"))
          .isEqualTo(1);
    } finally {
      w.close();
    }
  }

  @Test
  void drainRunsTransactionalHandlersToo(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    Worker w = fast(db.dataSource()).handleInTransaction(ITEM, (item, ctx, c) -> record(c, ctx)).build();
    List<JobEvent> events = w.drain(10);
    assertThat(events).extracting(JobEvent::kind).containsExactly(JobEvent.Kind.SUCCEEDED);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE job_id = " + id.value())).isEqualTo(1);
  }

  @Test
  void aThrowingHandlersWritesRollBackAndTheJobIsRetried(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(2).build());
    Worker w = fast(db.dataSource()).handleInTransaction(ITEM, (item, ctx, c) -> {
      record(c, ctx);
      if (ctx.attempt() == 1) {
        throw new IllegalStateException("fails after writing");
      }
    }).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 1")).as("the failed attempt's write").isZero();
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 2")).isEqualTo(1);
    } finally {
      w.close();
    }
  }

  @Test
  void aHandlerThatAlwaysThrowsLeavesNoRowAndItsJobIsDiscarded(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(2).build()).id();
    Worker w = fast(db.dataSource()).handleInTransaction(ITEM, (item, ctx, c) -> {
      record(c, ctx);
      throw new IllegalStateException("always fails");
    }).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).orElseThrow().state() == JobState.DISCARDED);
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects")).isZero();
    } finally {
      w.close();
    }
  }

  /**
   * Worker A runs attempt 1 and is held inside its handler, after its write; A's heartbeat is made
   * to hang (its row locked) until A is stale, so worker B rescues the job and runs attempt 2 to
   * completion. Then A's heartbeat and handler are let go: its guarded completion matches nothing
   * and its write is rolled back. Exactly one write is left, attempt 2's.
   */
  @Test
  void aRescuedAttemptsWritesRollBackAndOnlyTheSecondRunsCommit(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    CountDownLatch inHandler = new CountDownLatch(1);
    CountDownLatch letGo = new CountDownLatch(1);
    List<JobEvent> aEvents = new CopyOnWriteArrayList<>();
    Worker a = fast(db.dataSource()).listener(aEvents::add).handleInTransaction(ITEM, (item, ctx, c) -> {
      record(c, ctx);
      inHandler.countDown();
      while (!letGo.await(10, TimeUnit.SECONDS)) {
        // held until the test lets go
      }
    }).build();
    Worker b = fast(db.dataSource()).handleInTransaction(ITEM, (item, ctx, c) -> record(c, ctx)).build();
    a.start();
    Connection locker = db.dataSource().getConnection();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> a.workerId() != 0 && a.isHealthy());
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(inHandler.await(10, TimeUnit.SECONDS)).isTrue();

      locker.setAutoCommit(false);
      try (Statement st = locker.createStatement()) {
        st.execute("SELECT 1 FROM pgqueue.workers WHERE id = " + a.workerId() + " FOR UPDATE");
      }
      b.start();
      await().atMost(Duration.ofSeconds(20)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 2 AND job_id = " + id.value()))
          .as("the second run committed").isEqualTo(1);

      locker.rollback();
      letGo.countDown();
      await().atMost(Duration.ofSeconds(10)).until(() -> !aEvents.stream()
          .filter(e -> e.kind() != JobEvent.Kind.STARTED).toList().isEmpty());
      JobEvent aOutcome = aEvents.stream().filter(e -> e.kind() != JobEvent.Kind.STARTED).findFirst().orElseThrow();
      assertThat(aOutcome.kind()).as("A's attempt did not succeed").isNotEqualTo(JobEvent.Kind.SUCCEEDED);
      assertThat(aOutcome.error()).hasMessageContaining("taken from this attempt");
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects")).as("exactly one committed write").isEqualTo(1);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    } finally {
      letGo.countDown();
      locker.close();
      b.close();
      a.close();
    }
  }

  /**
   * A handler that takes a row lock in its transaction and then ignores its interrupt: past its
   * timeout and grace the attempt is abandoned and its connection aborted, so the lock is released
   * (another session can take it) and its write rolled back while its thread is still stuck.
   */
  @Test
  void anAbandonedAttemptsConnectionIsAbortedAndItsLocksReleased(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    AtomicBoolean release = new AtomicBoolean();
    AtomicBoolean stuckReturned = new AtomicBoolean();
    Worker w = fast(db.dataSource())
        .jobTimeout(Duration.ofMillis(300)).timeoutGrace(Duration.ofMillis(200))
        .handleInTransaction(ITEM, (item, ctx, c) -> {
          record(c, ctx);
          if (ctx.attempt() == 1) {
            try (Statement st = c.createStatement()) {
              st.execute("SELECT id FROM public.tx_locked WHERE id = 1 FOR UPDATE");
            }
            while (!release.get()) {
              Thread.interrupted(); // ignores interrupts
              LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
            }
            stuckReturned.set(true);
          }
        }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(stuckReturned).as("the first attempt's thread is still stuck").isFalse();
      try (Connection other = db.dataSource().getConnection()) {
        other.setAutoCommit(false);
        try (Statement st = other.createStatement()) {
          st.execute("SET LOCAL lock_timeout = '2s'");
          try (ResultSet rs = st.executeQuery("SELECT id FROM public.tx_locked WHERE id = 1 FOR UPDATE")) {
            assertThat(rs.next()).as("the abandoned transaction's row lock was released").isTrue();
          }
        }
        other.rollback();
      }
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 1")).as("the abandoned write").isZero();
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 2 AND job_id = " + id.value())).isEqualTo(1);
    } finally {
      release.set(true);
      w.close();
    }
  }

  /** The commit goes through and its reply is lost: the lookup by claim finds the job gone, so it committed. */
  @Test
  void aCommitWhoseReplyWasLostAndThatCommittedIsNotRunAgain(TestDatabase db) {
    AtomicBoolean armed = new AtomicBoolean(true);
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    AtomicInteger runs = new AtomicInteger();
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    Worker w = fast(loseCommitReply(db.dataSource(), armed, true))
        .dedicatedConnection(() -> db.dataSource().getConnection())
        .listener(events::add)
        .handleInTransaction(ITEM, (item, ctx, c) -> {
          runs.incrementAndGet();
          record(c, ctx);
        }).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> events.stream().anyMatch(e -> e.kind() != JobEvent.Kind.STARTED));
      assertThat(armed).as("the reply was lost").isFalse();
      JobEvent outcome = events.stream().filter(e -> e.kind() != JobEvent.Kind.STARTED).findFirst().orElseThrow();
      assertThat(outcome.kind()).isEqualTo(JobEvent.Kind.SUCCEEDED);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE job_id = " + id.value())).isEqualTo(1);
      assertThat(runs).hasValue(1);
    } finally {
      w.close();
    }
  }

  /** The connection breaks at commit and nothing commits: the lookup finds the job still held, so it is retried. */
  @Test
  void aCommitWhoseReplyWasLostAndThatDidNotCommitIsRetried(TestDatabase db) {
    AtomicBoolean armed = new AtomicBoolean(true);
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    Worker w = fast(loseCommitReply(db.dataSource(), armed, false))
        .dedicatedConnection(() -> db.dataSource().getConnection())
        .handleInTransaction(ITEM, (item, ctx, c) -> record(c, ctx)).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(armed).as("the commit failed").isFalse();
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 1")).isZero();
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_effects WHERE attempt = 2 AND job_id = " + id.value())).isEqualTo(1);
    } finally {
      w.close();
    }
  }

  /**
   * Connections whose first commit after the guarded completion fails as a broken connection
   * would: after really committing ({@code committed}), or after rolling back.
   */
  static DataSource loseCommitReply(DataSource real, AtomicBoolean armed, boolean committed) {
    return (DataSource) Proxy.newProxyInstance(TransactionalCompletionTest.class.getClassLoader(),
        new Class<?>[] {DataSource.class}, (p, m, a) -> {
          Object r = invoke(m, real, a);
          return r instanceof Connection c ? connection(c, armed, committed) : r;
        });
  }

  private static Connection connection(Connection real, AtomicBoolean armed, boolean committed) {
    AtomicReference<Boolean> completing = new AtomicReference<>(false);
    return (Connection) Proxy.newProxyInstance(TransactionalCompletionTest.class.getClassLoader(),
        new Class<?>[] {Connection.class}, (p, m, a) -> {
          if (m.getName().equals("prepareStatement") && ((String) a[0]).startsWith("DELETE FROM pgqueue.jobs WHERE id = ?")) {
            completing.set(true);
          }
          if (m.getName().equals("commit") && completing.get() && armed.compareAndSet(true, false)) {
            if (committed) {
              real.commit();
            } else {
              real.rollback();
            }
            throw new PSQLException("An I/O error occurred while sending to the backend (simulated)",
                PSQLState.CONNECTION_FAILURE);
          }
          return invoke(m, real, a);
        });
  }

  private static Object invoke(java.lang.reflect.Method m, Object target, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
