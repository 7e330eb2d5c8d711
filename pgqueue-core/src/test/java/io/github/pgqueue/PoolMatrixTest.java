package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.Pools.Kind;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The worker, the queue and the migrator under every pool users run: HikariCP with its defaults
 * and with autocommit off, a plain PGSimpleDataSource, pools whose sessions default to REPEATABLE
 * READ and to SERIALIZABLE, and a role with a statement_timeout of a few seconds. Each checks that
 * exactly the expected work happened (every job ran as often as it should, no more) and that every
 * connection went back to the pool as it came.
 */
@PgQueueTest
class PoolMatrixTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final int POOL_SIZE = 8;

  static Pools.TimeoutRole role;
  TestDatabase db;

  @BeforeAll
  static void createRole(TestDatabase db) {
    role = new Pools.TimeoutRole(db);
  }

  @AfterAll
  static void dropRole() {
    role.close();
  }

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  /**
   * Two workers over two queues run 300 jobs; every tenth fails once and is retried, every tenth
   * (another) snoozes once. Each job runs exactly as often as that says and the table ends empty.
   * With autocommit off the claim used to be rolled back on return to the pool, and the same jobs
   * ran again and again.
   */
  @ParameterizedTest
  @EnumSource(Kind.class)
  void workersRunEveryJobExactlyAsOftenAsItShould(Kind kind) throws Exception {
    DataSource ds = Pools.open(kind, db, role, POOL_SIZE);
    try {
      JobQueue queue = JobQueue.create(ds);
      Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
      JobHandler<Item> handler = (item, ctx) -> {
        int run = runs.computeIfAbsent(item.n(), k -> new AtomicInteger()).incrementAndGet();
        if (run == 1 && item.n() % 10 == 0) {
          throw new IllegalStateException("first run of " + item.n() + " fails");
        }
        if (run == 1 && item.n() % 10 == 1) {
          ctx.snooze(Duration.ofMillis(20));
        }
      };
      List<Worker> workers = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        workers.add(Worker.builder(ds).queue("a", 3).queue("b", 3)
            .pollInterval(Duration.ofMillis(100)).heartbeatInterval(Duration.ofMillis(200))
            .staleAfter(Duration.ofSeconds(2)).backoff(Backoff.fixed(Duration.ofMillis(20)))
            .shutdownHook(false).handle(ITEM, handler).build());
      }
      workers.forEach(Worker::start);
      try {
        List<NewJob<?>> jobs = new ArrayList<>();
        for (int n = 0; n < 300; n++) {
          jobs.add(new NewJob<>(ITEM, new Item(n), EnqueueOptions.builder().queue(n % 2 == 0 ? "a" : "b").build()));
        }
        queue.enqueueAll(jobs.subList(0, 150));
        for (NewJob<?> job : jobs.subList(150, 300)) {
          queue.enqueueAll(List.of(job));
        }
        await().atMost(Duration.ofSeconds(60))
            .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      } finally {
        workers.forEach(Worker::close);
      }
      assertThat(runs).hasSize(300);
      runs.forEach((n, count) -> assertThat(count.get())
          .as("runs of job %d", n).isEqualTo(n % 10 <= 1 ? 2 : 1));
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("registrations left").isZero();
      Pools.assertReturnedAsFound(kind, ds, POOL_SIZE);
    } finally {
      Pools.close(ds);
    }
  }

  /** Every JobQueue operation commits what it writes and leaves the connection as it came. */
  @ParameterizedTest
  @EnumSource(Kind.class)
  void queueOperationsCommitAndLeaveConnectionsAsTheyCame(Kind kind) throws SQLException {
    DataSource ds = Pools.open(kind, db, role, POOL_SIZE);
    try {
      JobQueue queue = JobQueue.create(ds);
      queue.verifySchema();
      EnqueueResult one = queue.enqueue(ITEM, new Item(1));
      EnqueueOptions keyed = EnqueueOptions.builder().uniqueKey("k1").build();
      EnqueueResult first = queue.enqueue(ITEM, new Item(2), keyed);
      EnqueueResult dup = queue.enqueue(ITEM, new Item(3), keyed);
      assertThat(dup.duplicate()).isTrue();
      assertThat(dup.id()).isEqualTo(first.id());
      List<EnqueueResult> bulk = queue.enqueueAll(ITEM, IntStream.range(0, 50).mapToObj(Item::new).toList());
      assertThat(bulk).extracting(EnqueueResult::id).doesNotHaveDuplicates().hasSize(50);
      List<EnqueueResult> keyedBulk = queue.enqueueAll(List.of(
          new NewJob<>(ITEM, new Item(4), EnqueueOptions.builder().uniqueKey("k2").build()),
          new NewJob<>(ITEM, new Item(5), EnqueueOptions.builder().uniqueKey("k2").build()),
          new NewJob<>(ITEM, new Item(6), keyed),
          new NewJob<>(ITEM, new Item(7), EnqueueOptions.DEFAULTS)));
      assertThat(keyedBulk).extracting(EnqueueResult::duplicate).containsExactly(false, true, true, false);
      assertThat(keyedBulk.get(2).id()).isEqualTo(first.id());
      // Seen from another connection: everything above was committed.
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(1 + 1 + 50 + 2);

      Optional<JobInfo> found = queue.find(one.id());
      assertThat(found).isPresent();
      assertThat(queue.counts()).isNotEmpty();
      assertThat(queue.stats()).isNotNull();
      assertThat(queue.cancel(one.id(), "no").done()).isTrue();
      assertThat(queue.discardedJobs("item", 10)).extracting(JobInfo::id).containsExactly(one.id());
      assertThat(queue.retry(one.id()).done()).isTrue();
      assertThat(queue.cancel(one.id(), "again").done()).isTrue();
      assertThat(queue.retryDiscarded("item", "again")).isEqualTo(new RetryDiscardedResult(1, 0));
      assertThat(queue.cancel(bulk.get(0).id(), "gone").done()).isTrue();
      assertThat(queue.pruneDiscarded(Duration.ZERO)).isEqualTo(1);
      assertThat(queue.delete(bulk.get(1).id()).done()).isTrue();
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(1 + 1 + 50 + 2 - 2);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available'")).isEqualTo(52);
      // Reads last: with autocommit off a read left uncommitted hands the connection back in a transaction.
      assertThat(queue.find(bulk.get(1).id())).isEmpty();
      assertThat(queue.counts()).extracting(QueueCount::count).containsExactly(52L);
      assertThat(queue.stats()).isNotNull();
      Pools.assertReturnedAsFound(kind, ds, POOL_SIZE);
    } finally {
      Pools.close(ds);
    }
  }

  /**
   * Four migrators install a fresh schema at once: one applies each migration, the others wait and
   * find nothing to do. Under REPEATABLE READ or SERIALIZABLE defaults the snapshot used to predate
   * the advisory lock, and the waiters failed with "already exists".
   */
  @ParameterizedTest
  @EnumSource(Kind.class)
  void concurrentMigratorsInstallTheSchemaOnce(Kind kind) throws Exception {
    String schema = "mig_" + kind.name().toLowerCase(java.util.Locale.ROOT);
    db.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    DataSource ds = Pools.open(kind, db, role, POOL_SIZE);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<List<Integer>>> results = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        Callable<List<Integer>> migrate = () -> {
          go.await();
          return Migrator.create(ds, schema).migrate();
        };
        results.add(pool.submit(migrate));
      }
      go.countDown();
      List<Integer> applied = new ArrayList<>();
      for (Future<List<Integer>> f : results) {
        applied.addAll(f.get());
      }
      assertThat(applied).containsExactlyInAnyOrderElementsOf(
          IntStream.rangeClosed(1, Migrator.latestVersion()).boxed().toList());
      assertThat(Migrator.create(ds, schema).installedVersion()).isEqualTo(Migrator.latestVersion());
      Pools.assertReturnedAsFound(kind, ds, POOL_SIZE);
    } finally {
      pool.shutdownNow();
      Pools.close(ds);
      db.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    }
  }
}
