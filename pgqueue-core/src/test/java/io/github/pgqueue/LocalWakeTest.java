package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The in-process wake-up (LocalWake): an enqueue that the JobQueue commits itself wakes this JVM's
 * idle workers of the same DataSource and schema at once, without NOTIFY. Every worker here polls
 * once a minute, and each test first waits until its fetcher is idle (the start-up wake-up and
 * its fast-poll window are over, the next poll a minute away), so a job that runs within the
 * waits below was found through a wake-up, never a poll.
 */
@PgQueueTest
class LocalWakeTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final Duration POLL = Duration.ofSeconds(60);
  /** Well under the poll interval: a job run within it was woken for. */
  static final long PROMPTLY_SECONDS = 20;

  TestDatabase db;
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @AfterEach
  void stopWorkers() {
    workers.forEach(Worker::close);
  }

  /** Starts the worker and waits until its fetcher of "default" is idle. */
  Fetcher startIdle(Worker.Builder b) {
    Worker w = b.pollInterval(POLL).build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> w.fetcher("default") != null);
    Fetcher f = w.fetcher("default");
    // The control thread's start-up wake-up came (after its LISTEN probe), its fast-poll window
    // passed, and the last claim set the next poll a full interval away.
    await().atMost(Duration.ofSeconds(30)).until(() -> f.wakes() >= 1
        && f.nanosToNextPoll() > TimeUnit.SECONDS.toNanos(30));
    return f;
  }

  @Test
  void anEnqueueTheQueueCommitsWakesALocalWorkerWithoutNotify() throws Exception {
    JobQueue silent = JobQueue.builder(db.dataSource()).notify(false).build();
    AtomicInteger ran = new AtomicInteger();
    CountDownLatch first = new CountDownLatch(1);
    CountDownLatch batch = new CountDownLatch(3);
    // Built from another JobQueue on the same DataSource and schema: woken all the same.
    Fetcher f = startIdle(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {
      ran.incrementAndGet();
      first.countDown();
      batch.countDown();
    }));
    long before = f.localWakes();

    silent.enqueue(ITEM, new Item(1));
    assertThat(f.localWakes()).as("woken before enqueue returned").isEqualTo(before + 1);
    assertThat(first.await(PROMPTLY_SECONDS, TimeUnit.SECONDS)).as("single enqueue picked up").isTrue();

    await().atMost(Duration.ofSeconds(30)).until(() -> f.nanosToNextPoll() > TimeUnit.SECONDS.toNanos(30));
    silent.enqueueAll(ITEM, List.of(new Item(2), new Item(3)));
    assertThat(f.localWakes()).as("one wake-up per queue of the batch").isEqualTo(before + 2);
    assertThat(batch.await(PROMPTLY_SECONDS, TimeUnit.SECONDS)).as("bulk enqueue picked up").isTrue();
    assertThat(ran.get()).isEqualTo(3);
  }

  @Test
  void anEnqueueInTheCallersTransactionKeepsTheNotifyPath() throws Exception {
    JobQueue silent = JobQueue.builder(db.dataSource()).notify(false).build();
    JobQueue notifying = JobQueue.create(db.dataSource());
    CountDownLatch ran = new CountDownLatch(2);
    Fetcher f = startIdle(Worker.builder(notifying).handle(ITEM, (item, ctx) -> ran.countDown()));
    long before = f.localWakes();

    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      silent.enqueue(c, ITEM, new Item(1));
      c.commit();
    }
    assertThat(f.localWakes()).as("the caller's commit is not pgqueue's: no in-process wake-up").isEqualTo(before);
    // Neither NOTIFY nor an in-process wake-up: the job waits for the poll, a minute away.
    assertThat(ran.await(1, TimeUnit.SECONDS)).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available'")).isEqualTo(1);

    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      notifying.enqueue(c, ITEM, new Item(2));
      c.commit();
    }
    assertThat(ran.await(PROMPTLY_SECONDS, TimeUnit.SECONDS)).as("the NOTIFY at the caller's commit wakes it").isTrue();
    assertThat(f.localWakes()).isEqualTo(before);
  }

  @Test
  void aJoinedTransactionIsNotWokenFor() {
    // A source that joins the caller's transaction (as the Spring integration does): the plain
    // enqueue never commits, so it must not wake anyone.
    Connection[] held = new Connection[1];
    ConnectionSource joining = new ConnectionSource() {
      @Override
      public Connection getConnection() {
        return held[0];
      }

      @Override
      public boolean joinsTransaction(Connection connection) {
        return true;
      }

      @Override
      public void release(Connection connection) {}
    };
    JobQueue joined = JobQueue.builder(db.dataSource()).connectionSource(joining).notify(false).build();
    Fetcher f = startIdle(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {}));
    long before = f.localWakes();
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      held[0] = c;
      joined.enqueue(ITEM, new Item(1));
      joined.enqueueAll(ITEM, List.of(new Item(2)));
      c.rollback();
    } catch (java.sql.SQLException e) {
      throw new AssertionError(e);
    }
    assertThat(f.localWakes()).isEqualTo(before);
  }

  @Test
  void jobsDueLaterWakeNobody() {
    JobQueue queue = JobQueue.builder(db.dataSource()).notify(false).build();
    Fetcher f = startIdle(Worker.builder(queue).handle(ITEM, (item, ctx) -> {}));
    long before = f.localWakes();
    queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().delay(Duration.ofHours(1)).build());
    queue.enqueue(ITEM, new Item(2), EnqueueOptions.builder().runAt(Instant.now().plus(Duration.ofHours(1))).build());
    queue.enqueueAll(ITEM, List.of(new Item(3)), EnqueueOptions.builder().delay(Duration.ofHours(1)).build());
    queue.enqueue(ITEM, new Item(4), EnqueueOptions.builder().queue("other").build());
    assertThat(f.localWakes()).as("later jobs, and another queue's").isEqualTo(before);

    queue.enqueue(ITEM, new Item(5), EnqueueOptions.builder().runAt(Instant.now().minusSeconds(60)).build());
    assertThat(f.localWakes()).as("a run time already past is due now").isEqualTo(before + 1);
  }

  @Test
  void aClosedWorkerIsForgottenAndNotWoken() {
    JobQueue queue = JobQueue.builder(db.dataSource()).notify(false).build();
    Worker w = Worker.builder(queue).pollInterval(POLL).handle(ITEM, (item, ctx) -> {}).build();
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> w.fetcher("default") != null);
    Fetcher f = w.fetcher("default");
    assertThat(LocalWake.registered(db.dataSource(), queue.schema())).contains(f);
    w.close();
    assertThat(LocalWake.registered(db.dataSource(), queue.schema())).doesNotContain(f);
    long before = f.localWakes();
    queue.enqueue(ITEM, new Item(1));
    assertThat(f.localWakes()).isEqualTo(before);
  }

  @Test
  void queuesOnAnotherSchemaDoNotCrossWake() throws Exception {
    Migrator.create(db.dataSource(), "wake_other").migrate();
    JobQueue here = JobQueue.builder(db.dataSource()).notify(false).build();
    JobQueue other = JobQueue.builder(db.dataSource()).schema("wake_other").notify(false).build();
    CountDownLatch ranOther = new CountDownLatch(1);
    Fetcher fHere = startIdle(Worker.builder(here).handle(ITEM, (item, ctx) -> {}));
    Fetcher fOther = startIdle(Worker.builder(other).handle(ITEM, (item, ctx) -> ranOther.countDown()));
    long hereBefore = fHere.localWakes();
    long otherBefore = fOther.localWakes();

    other.enqueue(ITEM, new Item(1));
    assertThat(fHere.localWakes()).as("the other schema's worker only").isEqualTo(hereBefore);
    assertThat(fOther.localWakes()).isEqualTo(otherBefore + 1);
    assertThat(ranOther.await(PROMPTLY_SECONDS, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void aRetryWakesIdleWorkersHereAtOnceAndElsewhereByNotify() throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId one = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(1).build()).id();
    queue.enqueue(ITEM, new Item(2), EnqueueOptions.builder().maxAttempts(1).build());
    queue.enqueue(ITEM, new Item(3), EnqueueOptions.builder().maxAttempts(1).build());
    Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {
      throw new IllegalStateException("down");
    }).build().drain(10);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'")).isEqualTo(3);

    java.util.concurrent.BlockingQueue<Integer> ran = new java.util.concurrent.LinkedBlockingQueue<>();
    Fetcher f = startIdle(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> ran.add(item.n())));

    // Through this JVM's JobQueue on the worker's DataSource: woken in-process after the commit.
    long local = f.localWakes();
    assertThat(queue.retry(one).done()).isTrue();
    assertThat(f.localWakes()).isEqualTo(local + 1);
    assertThat(ran.poll(PROMPTLY_SECONDS, TimeUnit.SECONDS)).isEqualTo(1);

    // Through a JobQueue on another DataSource (as from another process): only the NOTIFY that
    // committed with the retry can wake this worker before its poll, a minute away.
    await().atMost(Duration.ofSeconds(30)).until(() -> f.nanosToNextPoll() > TimeUnit.SECONDS.toNanos(30));
    org.postgresql.ds.PGSimpleDataSource elsewhere = new org.postgresql.ds.PGSimpleDataSource();
    elsewhere.setUrl(db.jdbcUrlWithCredentials());
    long notified = f.wakes();
    long localBefore = f.localWakes();
    RetryDiscardedResult r = JobQueue.create(elsewhere).retryDiscarded(ITEM.name(), "down");
    assertThat(r.retried()).isEqualTo(2);
    assertThat(List.of(ran.poll(PROMPTLY_SECONDS, TimeUnit.SECONDS), ran.poll(PROMPTLY_SECONDS, TimeUnit.SECONDS)))
        .containsExactlyInAnyOrder(2, 3);
    assertThat(f.wakes()).isGreaterThan(notified);
    assertThat(f.localWakes()).isEqualTo(localBefore);
  }
}
