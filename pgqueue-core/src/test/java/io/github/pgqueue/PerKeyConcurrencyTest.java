package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Per-key concurrency limits and fairness between keys (docs/flow-control.md), with workers in this
 * JVM and a ledger of handler runs by the database clock.
 */
@PgQueueTest
class PerKeyConcurrencyTest {

  record Task(String key, int n) {}

  static final JobType<Task> TASK = JobType.of("task", Task.class);
  static final String QUEUE = "tenants";

  TestDatabase db;
  JobQueue queue;
  HikariDataSource pool;
  final List<Worker> workers = new ArrayList<>();
  final AtomicInteger ran = new AtomicInteger();
  final AtomicInteger retried = new AtomicInteger();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    db.execute("DROP TABLE IF EXISTS key_ledger");
    db.execute("CREATE TABLE key_ledger (id bigserial PRIMARY KEY, key text NOT NULL, n int NOT NULL,"
        + " started timestamptz NOT NULL DEFAULT clock_timestamp(), ended timestamptz)");
    queue = JobQueue.create(db.dataSource());
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrlWithCredentials());
    c.setMaximumPoolSize(20);
    pool = new HikariDataSource(c);
  }

  @AfterEach
  void tearDown() {
    workers.forEach(Worker::close);
    pool.close();
  }

  /** A worker whose handler records its run (start and end by the database clock) and works a while. */
  Worker startWorker(int concurrency, int workMillis) {
    Worker w = Worker.builder(pool)
        .queue(QUEUE, concurrency)
        .pollInterval(Duration.ofMillis(100))
        .handle(TASK, (task, ctx) -> {
          if (ctx.attempt() > 1) {
            retried.incrementAndGet();
          }
          long row = record(task);
          try {
            if (workMillis > 0) {
              Thread.sleep(workMillis);
            }
          } finally {
            try (Connection c = pool.getConnection();
                PreparedStatement ps = c.prepareStatement("UPDATE key_ledger SET ended = clock_timestamp() WHERE id = ?")) {
              ps.setLong(1, row);
              ps.executeUpdate();
            }
            ran.incrementAndGet();
          }
        })
        .build();
    workers.add(w);
    w.start();
    return w;
  }

  long record(Task task) throws SQLException {
    try (Connection c = pool.getConnection();
        PreparedStatement ps = c.prepareStatement("INSERT INTO key_ledger (key, n) VALUES (?, ?) RETURNING id")) {
      ps.setString(1, task.key());
      ps.setInt(2, task.n());
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  static EnqueueOptions keyed(String key) {
    return EnqueueOptions.builder().queue(QUEUE).concurrencyKey(key).build();
  }

  /** {@code perKey} jobs for each of {@code keys} keys, one key's jobs next to each other (the hard case for the ordinary order). */
  void enqueueBlocks(int keys, int perKey) {
    List<NewJob<Task>> jobs = new ArrayList<>();
    for (int k = 0; k < keys; k++) {
      for (int j = 0; j < perKey; j++) {
        jobs.add(NewJob.of(TASK, new Task("k" + k, j), keyed("k" + k)));
      }
    }
    queue.enqueueAll(jobs);
  }

  long overlappingRunsOfOneKey() {
    return db.queryLong(
        "SELECT count(*) FROM key_ledger a JOIN key_ledger b ON a.key = b.key AND a.id < b.id"
            + " AND a.started < b.ended AND b.started < a.ended");
  }

  @ParameterizedTest(name = "fair={0}")
  @ValueSource(booleans = {false, true})
  void aThousandKeysWithLimitOneNeverRunTwoAtOnce(boolean fair) {
    queue.setKeyConcurrencyLimit(QUEUE, 1);
    queue.setKeyFairness(QUEUE, fair);
    enqueueBlocks(1000, 3);
    startWorker(8, 3);
    startWorker(8, 3);
    startWorker(8, 3);
    await().atMost(Duration.ofMinutes(3)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(db.queryLong("SELECT count(*) FROM key_ledger WHERE ended IS NOT NULL")).isEqualTo(3000);
    assertThat(overlappingRunsOfOneKey()).as("pairs of overlapping runs of one key (database clock)").isZero();
    assertThat(db.queryLong("SELECT count(DISTINCT key) FROM key_ledger")).isEqualTo(1000);
    assertThat(retried).as("attempts charged to jobs held back by their key's limit").hasValue(0);
    // Several keys did run at once: the limit is per key, not per queue.
    assertThat(db.queryLong(
        "SELECT count(*) FROM key_ledger a JOIN key_ledger b ON a.key <> b.key AND a.id < b.id"
            + " AND a.started < b.ended AND b.started < a.ended")).isPositive();
  }

  @Test
  void aHeldBackJobIsNotTouchedAndNotCharged() throws Exception {
    queue.setKeyConcurrencyLimit(QUEUE, 1);
    CountDownLatch release = new CountDownLatch(1);
    List<Integer> attempts = new CopyOnWriteArrayList<>();
    List<Integer> order = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(pool).queue(QUEUE, 4).pollInterval(Duration.ofMillis(50))
        .handle(TASK, (task, ctx) -> {
          attempts.add(ctx.attempt());
          order.add(task.n());
          if (task.n() == 0) {
            release.await(60, TimeUnit.SECONDS);
          }
        })
        .build();
    workers.add(w);
    JobId first = queue.enqueue(TASK, new Task("t", 0), keyed("t")).id();
    JobId second = queue.enqueue(TASK, new Task("t", 1), keyed("t")).id();
    JobId other = queue.enqueue(TASK, new Task("u", 2), keyed("u")).id();
    JobInfo before = queue.find(second).orElseThrow();
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> order.contains(2) && order.contains(0));
    // The worker keeps polling while "t" is at its limit: its second job stays exactly as enqueued.
    await().during(Duration.ofMillis(600)).atMost(Duration.ofSeconds(5)).until(() -> !order.contains(1));
    JobInfo held = queue.find(second).orElseThrow();
    assertThat(held.state()).isEqualTo(JobState.AVAILABLE);
    assertThat(held.attempt()).isZero();
    assertThat(held.runAt()).isEqualTo(before.runAt());
    assertThat(held.errors()).isEmpty();
    assertThat(queue.find(first).orElseThrow().state()).isEqualTo(JobState.RUNNING);
    release.countDown();
    await().atMost(Duration.ofSeconds(30)).until(() -> queue.find(second).isEmpty());
    assertThat(order).containsExactlyInAnyOrder(0, 1, 2);
    assertThat(attempts).containsOnly(1);
    assertThat(queue.find(other)).isEmpty();
  }

  @Test
  void fairnessLetsAnotherKeysFewJobsThroughAheadOfOneKeysBacklog() throws SQLException {
    queue.setKeyFairness(QUEUE, true);
    List<NewJob<Task>> a = IntStream.range(0, 10_000).mapToObj(i -> NewJob.of(TASK, new Task("A", i), keyed("A"))).toList();
    queue.enqueueAll(a);
    startWorker(4, 0);
    await().atMost(Duration.ofMinutes(1)).until(() -> db.queryLong("SELECT count(*) FROM key_ledger") >= 100);
    long aBefore = db.queryLong("SELECT count(*) FROM key_ledger WHERE key = 'A'");
    // B's 10 in one transaction that also reads the ledger's last start just before it commits, so
    // the count below starts when B's jobs are there.
    long lastIdBefore;
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false);
      queue.enqueueAll(c, IntStream.range(0, 10).mapToObj(i -> NewJob.of(TASK, new Task("B", i), keyed("B"))).toList());
      try (PreparedStatement ps = c.prepareStatement("SELECT coalesce(max(id), 0) FROM key_ledger");
          ResultSet rs = ps.executeQuery()) {
        rs.next();
        lastIdBefore = rs.getLong(1);
      }
      c.commit();
    }
    await().atMost(Duration.ofMinutes(1)).until(() -> db.queryLong("SELECT count(*) FROM key_ledger WHERE key = 'B'") == 10);
    long lastB = db.queryLong("SELECT max(id) FROM key_ledger WHERE key = 'B'");
    long aBetween = db.queryLong(
        "SELECT count(*) FROM key_ledger WHERE key = 'A' AND id > " + lastIdBefore + " AND id < " + lastB);
    System.out.printf("FAIRNESS on: A had run %d when B enqueued 10; A started %d more before B's last start%n",
        aBefore, aBetween);
    assertThat(aBetween).as("A's starts between B's enqueue and B's last start").isLessThan(200);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE key_rank IS NULL AND concurrency_key IS NOT NULL"))
        .as("every keyed job has a rank").isZero();
  }

  /**
   * The documented behaviour with fairness off: the ordinary order (priority, run time, id), so
   * another key's jobs wait behind every job enqueued before them. Scaled to 2,000 jobs of A.
   */
  @Test
  void withoutFairnessAnotherKeysJobsWaitBehindTheBacklog() {
    List<NewJob<Task>> a = IntStream.range(0, 2_000).mapToObj(i -> NewJob.of(TASK, new Task("A", i), keyed("A"))).toList();
    queue.enqueueAll(a);
    for (int i = 0; i < 10; i++) {
      queue.enqueue(TASK, new Task("B", i), keyed("B"));
    }
    startWorker(4, 0);
    await().atMost(Duration.ofMinutes(2)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    long firstB = db.queryLong("SELECT min(id) FROM key_ledger WHERE key = 'B'");
    long aBeforeB = db.queryLong("SELECT count(*) FROM key_ledger WHERE key = 'A' AND id < " + firstB);
    System.out.printf("FAIRNESS off: %d of A's 2000 earlier jobs started before B's first%n", aBeforeB);
    // Claims come in batches and handler threads race, so B may overtake the last few of A's.
    assertThat(aBeforeB).isGreaterThan(1_900);
  }

  @Test
  void aDeadWorkersKeySlotComesBackAfterItsStaleThreshold() {
    queue.setKeyConcurrencyLimit(QUEUE, 1);
    // A worker that registered, claimed one job of key "t" and then stopped heartbeating.
    db.execute("INSERT INTO pgqueue.workers (id, host, heartbeat_at, heartbeat_ms, stale_after_ms) OVERRIDING SYSTEM VALUE"
        + " VALUES (7001, 'dead', now(), 100, 1500)");
    JobId held = queue.enqueue(TASK, new Task("t", 0), keyed("t")).id();
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 7001, lock_token = 1,"
        + " locked_at = now() WHERE id = " + held.value());
    queue.enqueue(TASK, new Task("t", 1), keyed("t"));
    long deadHeartbeatMs = db.queryLong(
        "SELECT (extract(epoch FROM heartbeat_at) * 1000)::bigint FROM pgqueue.workers WHERE id = 7001");
    Worker w = Worker.builder(pool).queue(QUEUE, 4).pollInterval(Duration.ofMillis(50))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofMillis(500))
        .handle(TASK, (task, ctx) -> {
          long row = record(task);
          db.execute("UPDATE key_ledger SET ended = clock_timestamp() WHERE id = " + row);
        })
        .build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM key_ledger") == 2);
    long early = db.queryLong("SELECT count(*) FROM key_ledger"
        + " WHERE started < to_timestamp(" + deadHeartbeatMs + " / 1000.0) + interval '1500 milliseconds'");
    assertThat(early).as("runs of \"t\" started within the dead worker's stale threshold").isZero();
    assertThat(db.queryLong("SELECT count(*) FROM key_ledger WHERE key = 't' AND n = 0"))
        .as("the rescued job ran again").isEqualTo(1);
    assertThat(overlappingRunsOfOneKey()).isZero();
  }

  @Test
  void theKeyedClaimReadsTheKeyedIndexes() throws SQLException {
    // A backlog big enough that the planner prefers the indexes over a scan.
    List<NewJob<Task>> jobs = new ArrayList<>();
    for (int i = 0; i < 20_000; i++) {
      jobs.add(NewJob.of(TASK, new Task("k" + (i % 2_000), i), keyed("k" + (i % 2_000))));
    }
    queue.enqueueAll(jobs);
    queue.enqueueAll(IntStream.range(0, 5_000)
        .mapToObj(i -> NewJob.of(TASK, new Task("", i), EnqueueOptions.builder().queue(QUEUE).build())).toList());
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, lock_token = 1, locked_at = now()"
        + " WHERE id IN (SELECT id FROM pgqueue.jobs WHERE concurrency_key IS NOT NULL ORDER BY id LIMIT 50)");
    db.execute("ANALYZE pgqueue.jobs");
    Sql sql = new Sql("pgqueue");
    String fair = plan(sql.claimKeyedFair, QUEUE, QUEUE, new String[] {"task"}, 1, 400, 1, 100, 1L, 1L, 1L);
    System.out.println("PLAN keyed claim (fair):\n" + fair);
    assertThat(fair).contains("jobs_key_fetch_idx").doesNotContain("Seq Scan");
    assertThat(plan(sql.claimKeyedOrdinary, QUEUE, QUEUE, new String[] {"task"}, 1, 400, 1, 100, 1L, 1L, 1L))
        .contains("jobs_fetch_idx").doesNotContain("Seq Scan");
    String rank = plan("SELECT " + Sql.KEY_RANK.replace("{s}", "pgqueue").replace("{q}", "?::text")
        .replace("{ck}", "?::text"), QUEUE, "k7", QUEUE);
    assertThat(rank).as("the enqueue's rank lookup").contains("jobs_key_idx").contains("jobs_key_fetch_idx");
  }

  String plan(String statement, Object... params) throws SQLException {
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement("EXPLAIN " + statement)) {
      for (int i = 0; i < params.length; i++) {
        Object p = params[i];
        if (p instanceof String[] a) {
          ps.setArray(i + 1, c.createArrayOf("text", a));
        } else {
          ps.setObject(i + 1, p);
        }
      }
      StringBuilder out = new StringBuilder();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.append(rs.getString(1)).append('\n');
        }
      }
      return out.toString();
    }
  }

  long rank(JobId id) {
    return db.queryLong("SELECT key_rank FROM pgqueue.jobs WHERE id = " + id.value());
  }

  @Test
  void everyEnqueuePathGivesRanksFromTheKeysNextAndTheQueuesHead() {
    // Single enqueues: the key's next rank.
    JobId a0 = queue.enqueue(TASK, new Task("A", 0), keyed("A")).id();
    JobId a1 = queue.enqueue(TASK, new Task("A", 1), keyed("A")).id();
    assertThat(List.of(rank(a0), rank(a1))).containsExactly(0L, 1L);
    // A batch mixing keys, unique keys and jobs without a key: per key consecutive, in batch order.
    List<EnqueueResult> batch = queue.enqueueAll(List.of(
        NewJob.of(TASK, new Task("A", 2), keyed("A")),
        NewJob.of(TASK, new Task("B", 0), keyed("B")),
        NewJob.of(TASK, new Task("-", 0), EnqueueOptions.builder().queue(QUEUE).build()),
        NewJob.of(TASK, new Task("A", 3), EnqueueOptions.builder().queue(QUEUE).concurrencyKey("A").uniqueKey("u1").build()),
        NewJob.of(TASK, new Task("B", 1), keyed("B"))));
    assertThat(rank(batch.get(0).id())).isEqualTo(2L);
    assertThat(List.of(rank(batch.get(1).id()), rank(batch.get(4).id()))).containsExactly(0L, 1L);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE id = " + batch.get(2).id().value()
        + " AND key_rank IS NULL AND concurrency_key IS NULL")).isEqualTo(1);
    // Rows with a unique key are written by a later statement of the batch, which sees A's rank 2.
    assertThat(rank(batch.get(3).id())).as("a keyed job with a unique key").isEqualTo(3L);
    // Deduplication still holds with a concurrency key, single and in a batch.
    EnqueueOptions unique = EnqueueOptions.builder().queue(QUEUE).concurrencyKey("A").uniqueKey("u1").build();
    EnqueueResult again = queue.enqueue(TASK, new Task("A", 4), unique);
    assertThat(again.duplicate()).isTrue();
    assertThat(again.id()).isEqualTo(batch.get(3).id());
    assertThat(queue.enqueueAll(List.of(NewJob.of(TASK, new Task("A", 5), unique))).get(0).duplicate()).isTrue();
    // The head moves once the lowest ranks are gone: a new key lands at the head, not at 0.
    db.execute("DELETE FROM pgqueue.jobs WHERE key_rank < 2");
    JobId c0 = queue.enqueue(TASK, new Task("C", 0), EnqueueOptions.builder().queue(QUEUE).concurrencyKey("C")
        .uniqueKey("c0").build()).id();
    assertThat(rank(c0)).isEqualTo(2L);
    // A running job is not waiting: it does not hold the head back.
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, lock_token = 1, locked_at = now()"
        + " WHERE key_rank = 2");
    assertThat(rank(queue.enqueue(TASK, new Task("D", 0), keyed("D")).id())).isEqualTo(3L);
  }

  @Test
  void badSettingsAreRefusedNamingTheValue() {
    assertThatThrownBy(() -> queue.setKeyConcurrencyLimit(QUEUE, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxRunning").hasMessageContaining("0");
    assertThatThrownBy(() -> EnqueueOptions.builder().concurrencyKey(" "))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("concurrencyKey");
    assertThatThrownBy(() -> EnqueueOptions.builder().concurrencyKey("x".repeat(501)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("concurrencyKey");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.queue_controls")).isZero();
    queue.setKeyFairness(QUEUE, true);
    queue.setKeyConcurrencyLimit(QUEUE, 2);
    queue.setKeyFairness(QUEUE, false);
    queue.removeKeyConcurrencyLimit(QUEUE);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.queue_controls"))
        .as("a queue with no control left has no row (its claims are the ordinary ones)").isZero();
  }
}
