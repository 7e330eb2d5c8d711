package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link JobQueue#cancel} on a running job: the canceller writes the terminal state itself, the
 * owning worker is told (NOTIFY, or polling) and interrupts the attempt, abandons it after the
 * grace if it ignores the interrupt, and writes nothing of its late outcome.
 */
@PgQueueTest
class CancelRunningJobTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("cancel_item", Item.class);

  @BeforeEach
  void clean(TestDatabase db) {
    db.truncate();
    db.execute("CREATE TABLE IF NOT EXISTS public.cancel_effects (job_id bigint NOT NULL)");
    db.execute("TRUNCATE public.cancel_effects");
  }

  static Worker.Builder fast(DataSource ds, Duration grace, List<JobEvent> events) {
    return Worker.builder(ds)
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .jobTimeout(Duration.ofMinutes(5)).timeoutGrace(grace)
        .listener(events::add)
        .queue("default", 1);
  }

  static boolean saw(List<JobEvent> events, JobId id, JobEvent.Kind kind) {
    return events.stream().anyMatch(e -> e.id().equals(id) && e.kind() == kind);
  }

  static String state(TestDatabase db, JobId id) {
    try (Connection c = db.dataSource().getConnection();
        Statement st = c.createStatement();
        java.sql.ResultSet rs = st.executeQuery("SELECT state FROM pgqueue.jobs WHERE id = " + id.value())) {
      return rs.next() ? rs.getString(1) : null;
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The handler blocks in {@code pg_sleep} on a connection of its own, which no interrupt reaches:
   * the job is discarded at once by the canceller, the attempt is abandoned after the grace, and
   * the worker's only slot runs the next job.
   */
  @Test
  void aHandlerBlockedInPgSleepOnItsOwnConnectionIsAbandonedAndItsSlotFreed(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    CountDownLatch sleeping = new CountDownLatch(1);
    AtomicBoolean stuckReturned = new AtomicBoolean();
    Worker w = fast(db.dataSource(), Duration.ofMillis(300), events).handle(ITEM, (item, ctx) -> {
      if (item.n() == 1) {
        try (Connection own = db.dataSource().getConnection(); Statement st = own.createStatement()) {
          sleeping.countDown();
          st.execute("SELECT pg_sleep(600)");
        } finally {
          stuckReturned.set(true);
        }
      }
    }).build();
    w.start();
    try {
      JobId blocked = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(sleeping.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(queue.cancel(blocked, "operator"))
          .isEqualTo(new AdminResult(AdminResult.Status.DONE, JobState.DISCARDED, null));
      assertThat(state(db, blocked)).as("the canceller wrote the terminal state").isEqualTo("discarded");
      await().atMost(Duration.ofSeconds(10)).until(() -> saw(events, blocked, JobEvent.Kind.CANCELLED));
      assertThat(stuckReturned).as("still blocked in pg_sleep").isFalse();

      JobId next = queue.enqueue(ITEM, new Item(2)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> state(db, next) == null);

      db.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'");
      await().atMost(Duration.ofSeconds(10)).untilTrue(stuckReturned);
      assertThat(state(db, blocked)).as("the late outcome wrote nothing").isEqualTo("discarded");
      assertThat(queue.find(blocked).orElseThrow().errors()).singleElement()
          .satisfies(e -> assertThat(e.kind()).isEqualTo(JobError.Kind.CANCELLED));
    } finally {
      db.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'");
      w.close();
    }
  }

  /**
   * A transactional handler blocked in {@code pg_sleep} on its own transaction: the worker cancels
   * the statement and aborts the connection, so the attempt ends at once (the grace is a minute)
   * and its write rolls back; no session is left sleeping.
   */
  @Test
  void aTransactionalHandlerBlockedInPgSleepIsStoppedAndRolledBack(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    CountDownLatch sleeping = new CountDownLatch(1);
    Worker w = fast(db.dataSource(), Duration.ofMinutes(1), events).handleInTransaction(ITEM, (item, ctx, c) -> {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO public.cancel_effects VALUES (?)")) {
        ps.setLong(1, ctx.id().value());
        ps.executeUpdate();
      }
      try (Statement st = c.createStatement()) {
        sleeping.countDown();
        st.execute("SELECT pg_sleep(601)");
      }
    }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(sleeping.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(queue.cancel(id, "operator").status()).isEqualTo(AdminResult.Status.DONE);
      await().atMost(Duration.ofSeconds(10)).until(() -> saw(events, id, JobEvent.Kind.CANCELLED));
      await().atMost(Duration.ofSeconds(10)).until(
          () -> db.queryLong("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(601)'") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM public.cancel_effects")).as("its write rolled back").isZero();
      assertThat(state(db, id)).isEqualTo("discarded");
    } finally {
      db.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(601)'");
      w.close();
    }
  }

  /** A handler that waits interruptibly ends at the interrupt, long before the grace. */
  @Test
  void aHandlerThatHonoursInterruptsEndsAtOnce(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    CountDownLatch started = new CountDownLatch(1);
    AtomicBoolean interrupted = new AtomicBoolean();
    Worker w = fast(db.dataSource(), Duration.ofMinutes(1), events).handle(ITEM, (item, ctx) -> {
      started.countDown();
      try {
        new CountDownLatch(1).await(5, TimeUnit.MINUTES);
      } catch (InterruptedException e) {
        interrupted.set(true);
        throw e;
      }
    }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(queue.cancel(id, "operator").status()).isEqualTo(AdminResult.Status.DONE);
      await().atMost(Duration.ofSeconds(10)).until(() -> saw(events, id, JobEvent.Kind.CANCELLED));
      assertThat(interrupted).isTrue();
      assertThat(state(db, id)).isEqualTo("discarded");
    } finally {
      w.close();
    }
  }

  /** A handler that ignores its interrupt is abandoned after the grace; its late success is ignored. */
  @Test
  void aHandlerThatIgnoresInterruptsIsAbandonedAndItsLateSuccessIgnored(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    CountDownLatch started = new CountDownLatch(1);
    AtomicBoolean release = new AtomicBoolean();
    AtomicBoolean returned = new AtomicBoolean();
    Worker w = fast(db.dataSource(), Duration.ofMillis(300), events).handle(ITEM, (item, ctx) -> {
      started.countDown();
      while (!release.get()) {
        Thread.interrupted();
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
      }
      returned.set(true);
    }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(queue.cancel(id, "operator").status()).isEqualTo(AdminResult.Status.DONE);
      await().atMost(Duration.ofSeconds(10)).until(() -> saw(events, id, JobEvent.Kind.CANCELLED));
      assertThat(returned).as("abandoned while still running").isFalse();
      release.set(true);
      await().atMost(Duration.ofSeconds(10)).untilTrue(returned);
      assertThat(events.stream().filter(e -> e.id().equals(id) && e.kind() != JobEvent.Kind.STARTED))
          .as("one outcome per attempt").hasSize(1);
      assertThat(state(db, id)).as("the late success deleted nothing").isEqualTo("discarded");
    } finally {
      release.set(true);
      w.close();
    }
  }

  /** Where NOTIFY does not arrive (here: the cancel is written by hand, without one), polling finds it. */
  @Test
  void aCancelWithoutNotifyIsFoundByPolling(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    CountDownLatch started = new CountDownLatch(1);
    Worker w = fast(db.dataSource(), Duration.ofMinutes(1), events).handle(ITEM, (item, ctx) -> {
      started.countDown();
      new CountDownLatch(1).await(5, TimeUnit.MINUTES);
    }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      db.execute("UPDATE pgqueue.jobs SET state = 'discarded', discarded_at = now(), locked_by = NULL, locked_at = NULL,"
          + " lock_token = NULL, errors = errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', attempt,"
          + " 'kind', 'cancelled', 'class', 'io.github.pgqueue.Cancelled', 'message', 'by hand', 'trace', ''))"
          + " WHERE id = " + id.value());
      await().atMost(Duration.ofSeconds(10)).until(() -> saw(events, id, JobEvent.Kind.CANCELLED));
    } finally {
      w.close();
    }
  }

  /** A job that finished before the cancel stays finished: the cancel finds nothing to discard. */
  @Test
  void aJobThatFinishedFirstStaysFinished(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    Worker w = fast(db.dataSource(), Duration.ofMillis(300), events).handle(ITEM, (item, ctx) -> {}).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> state(db, id) == null);
      assertThat(queue.cancel(id, "too late").status()).isEqualTo(AdminResult.Status.NOT_FOUND);
      assertThat(queue.find(id)).isEmpty();
    } finally {
      w.close();
    }
  }

  /**
   * Each job is cancelled the moment it starts, racing its transactional handler's commit. Either
   * the cancel wins (the job is discarded as cancelled and the handler's write rolled back) or the
   * job wins (the cancel finds nothing and the write is there): never both, never neither.
   */
  @Test
  void aCancelRacingTheCommitLeavesEitherTheCancelOrTheEffectNeverBoth(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    ExecutorService cancellers = Executors.newFixedThreadPool(4);
    Map<Long, Future<AdminResult>> cancels = new ConcurrentHashMap<>();
    Worker w = Worker.builder(db.dataSource())
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .timeoutGrace(Duration.ofMillis(300)).queue("default", 4)
        .listener(e -> {
          if (e.kind() == JobEvent.Kind.STARTED) {
            cancels.put(e.id().value(), cancellers.submit(() -> queue.cancel(e.id(), "race")));
          }
        })
        .handleInTransaction(ITEM, (item, ctx, c) -> {
          try (PreparedStatement ps = c.prepareStatement(
              "INSERT INTO public.cancel_effects SELECT ? FROM pg_sleep(? / 1000.0)")) {
            ps.setLong(1, ctx.id().value());
            ps.setInt(2, item.n() % 7);
            ps.executeUpdate();
          }
        }).build();
    List<JobId> ids = queue.enqueueAll(ITEM, IntStream.range(0, 60).mapToObj(Item::new).toList())
        .stream().map(EnqueueResult::id).toList();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> cancels.size() == ids.size()
          && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state <> 'discarded'") == 0);
      int cancelled = 0;
      for (JobId id : ids) {
        AdminResult r = cancels.get(id.value()).get(30, TimeUnit.SECONDS);
        long effects = db.queryLong("SELECT count(*) FROM public.cancel_effects WHERE job_id = " + id.value());
        if (r.status() == AdminResult.Status.DONE) {
          cancelled++;
          assertThat(effects).as("job %s was cancelled: its write must have rolled back", id).isZero();
          assertThat(state(db, id)).isEqualTo("discarded");
        } else {
          assertThat(r.status()).as("job %s", id).isEqualTo(AdminResult.Status.NOT_FOUND);
          assertThat(effects).as("job %s finished first: its write committed once", id).isEqualTo(1);
          assertThat(state(db, id)).isNull();
        }
      }
      System.out.printf("cancel race: %d of %d jobs cancelled while running, %d finished first%n",
          cancelled, ids.size(), ids.size() - cancelled);
    } finally {
      w.close();
      cancellers.shutdownNow();
    }
  }
}
