package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The throughput rollup: workers count outcomes in memory and upsert them into {@code
 * job_rollups} at most once per interval, keep them through a failing flush, flush at shutdown,
 * and prune old rows; {@link JobQueue#throughput} sums them over workers.
 */
@PgQueueTest
class RollupsTest {

  record Item(int n, String mode) {}

  static final JobType<Item> ITEM = JobType.of("rollup_item", Item.class);
  static final JobType<Item> OTHER = JobType.of("rollup_other", Item.class);

  /** The flush statement, and nothing else pgqueue runs. */
  static final String UPSERT = "INSERT INTO pgqueue.job_rollups AS r";

  @BeforeEach
  void clean(TestDatabase db) {
    db.truncate();
  }

  static Worker.Builder fast(DataSource ds) {
    return Worker.builder(ds)
        .heartbeatInterval(Duration.ofMillis(200)).staleAfter(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(50)).backoff(Backoff.fixed(Duration.ofMillis(10)));
  }

  static JobHandler<Item> byMode() {
    return (item, ctx) -> {
      switch (item.mode()) {
        case "ok" -> { }
        case "fail" -> throw new IllegalStateException("boom " + item.n());
        case "snooze" -> {
          if (ctx.attempt() == 1 && ctx.runAt().isBefore(ctx.createdAt().plusSeconds(1))) {
            ctx.snooze(Duration.ofHours(1));
          }
        }
        case "cancel" -> ctx.cancel("not wanted");
        default -> throw new AssertionError(item.mode());
      }
    };
  }

  /** Sum of count per outcome, over every row. */
  static Map<String, Long> byOutcome(TestDatabase db) throws SQLException {
    Map<String, Long> out = new TreeMap<>();
    try (Connection c = db.dataSource().getConnection();
        java.sql.Statement st = c.createStatement();
        java.sql.ResultSet rs = st.executeQuery(
            "SELECT outcome, sum(count)::bigint FROM pgqueue.job_rollups GROUP BY outcome")) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getLong(2));
      }
    }
    return out;
  }

  @Test
  void countsByOutcomeExactlyMatchTheRun(TestDatabase db) throws SQLException {
    JobQueue queue = JobQueue.create(db.dataSource());
    EnqueueOptions twoAttempts = EnqueueOptions.builder().maxAttempts(2).build();
    for (int i = 0; i < 20; i++) {
      queue.enqueue(ITEM, new Item(i, "ok"));
    }
    for (int i = 0; i < 7; i++) {
      queue.enqueue(ITEM, new Item(i, "fail"), twoAttempts); // one retried, then discarded
    }
    for (int i = 0; i < 3; i++) {
      queue.enqueue(OTHER, new Item(i, "snooze"));
      queue.enqueue(OTHER, new Item(i, "cancel"), EnqueueOptions.builder().queue("other").build());
    }
    Worker w = fast(db.dataSource()).queue("default", 4).queue("other", 2)
        .handle(ITEM, byMode()).handle(OTHER, byMode()).rollupInterval(Duration.ofSeconds(1)).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> byOutcome(db).equals(Map.of(
          "succeeded", 20L, "retried", 7L, "discarded", 7L, "snoozed", 3L, "cancelled", 3L)));
    } finally {
      w.close();
    }
    assertThat(byOutcome(db)).as("nothing more after the shutdown flush").isEqualTo(Map.of(
        "succeeded", 20L, "retried", 7L, "discarded", 7L, "snoozed", 3L, "cancelled", 3L));

    List<Throughput> read = queue.throughput(Duration.ofMinutes(10));
    Map<String, Long> perKey = read.stream().collect(Collectors.groupingBy(
        t -> t.queue() + "/" + t.name() + "/" + t.outcome(), TreeMap::new, Collectors.summingLong(Throughput::count)));
    assertThat(perKey).isEqualTo(Map.of(
        "default/rollup_item/SUCCEEDED", 20L,
        "default/rollup_item/RETRIED", 7L,
        "default/rollup_item/DISCARDED", 7L,
        "default/rollup_other/SNOOZED", 3L,
        "other/rollup_other/CANCELLED", 3L));
    assertThat(db.queryLong("SELECT count(DISTINCT worker) FROM pgqueue.job_rollups")).isEqualTo(1);
  }

  @Test
  void twoWorkersWriteSeparateRowsThatTheReadSums(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    Worker a = fast(db.dataSource()).queue("a", 2).handle(ITEM, byMode()).rollupInterval(Duration.ofSeconds(1)).build();
    Worker b = fast(db.dataSource()).queue("a", 2).queue("b", 2).handle(ITEM, byMode())
        .rollupInterval(Duration.ofSeconds(1)).build();
    a.start();
    b.start();
    long idA;
    long idB;
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> a.workerId() != 0 && b.workerId() != 0);
      idA = a.workerId();
      idB = b.workerId();
      for (int i = 0; i < 5; i++) {
        queue.enqueue(ITEM, new Item(i, "ok"), EnqueueOptions.builder().queue("b").build());
      }
      // Only b serves queue b: its rows are b's.
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong(
          "SELECT coalesce(sum(count), 0) FROM pgqueue.job_rollups WHERE worker = '" + idB + "'") == 5);
      b.close(); // now only a serves queue a
      for (int i = 0; i < 4; i++) {
        queue.enqueue(ITEM, new Item(i, "ok"), EnqueueOptions.builder().queue("a").build());
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong(
          "SELECT coalesce(sum(count), 0) FROM pgqueue.job_rollups WHERE worker = '" + idA + "'") == 4);
    } finally {
      a.close();
      b.close();
    }
    assertThat(db.queryLong("SELECT count(DISTINCT worker) FROM pgqueue.job_rollups")).isEqualTo(2);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_rollups WHERE worker NOT IN ('" + idA + "', '" + idB + "')"))
        .isZero();
    // Two workers counted the same (name, outcome) in one minute: separate rows, summed on read.
    db.execute("INSERT INTO pgqueue.job_rollups VALUES (date_trunc('minute', now()), 'x', 'n', 'succeeded', '1', 2),"
        + " (date_trunc('minute', now()), 'x', 'n', 'succeeded', '2', 3)");
    assertThat(queue.throughput(Duration.ofMinutes(5)).stream().filter(t -> t.queue().equals("x")).toList())
        .singleElement().satisfies(t -> {
          assertThat(t.count()).isEqualTo(5);
          assertThat(t.outcome()).isEqualTo(JobEvent.Kind.SUCCEEDED);
        });
  }

  @Test
  void neverFlushesMoreOftenThanTheInterval(TestDatabase db) throws Exception {
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    JobQueue queue = JobQueue.create(db.dataSource());
    Duration interval = Duration.ofSeconds(2);
    Worker w = fast(counting.dataSource).queue("default", 4).handle(ITEM, byMode()).rollupInterval(interval).build();
    long started = System.nanoTime();
    w.start();
    int enqueued = 0;
    try {
      // A job every 50 ms for about 7 seconds: with a flush per completion there would be 100+.
      long until = System.nanoTime() + Duration.ofSeconds(7).toNanos();
      while (System.nanoTime() < until) {
        queue.enqueue(ITEM, new Item(enqueued++, "ok"));
        Thread.sleep(50);
      }
      int total = enqueued;
      await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong(
          "SELECT coalesce(sum(count), 0) FROM pgqueue.job_rollups") == total);
    } finally {
      long beforeClose = System.nanoTime();
      long loopFlushes = counting.count(UPSERT);
      w.close();
      long elapsed = beforeClose - started;
      assertThat(loopFlushes).as("flushes in %d ms with a %s interval", elapsed / 1_000_000, interval)
          .isBetween(1L, elapsed / interval.toNanos() + 1);
      assertThat(counting.count(UPSERT)).as("at most one more, at shutdown").isLessThanOrEqualTo(loopFlushes + 1);
    }
    assertThat(db.queryLong("SELECT sum(count) FROM pgqueue.job_rollups")).isEqualTo(enqueued);
  }

  @Test
  void aFailingFlushKeepsItsCountsAndBreaksNothing(TestDatabase db) throws SQLException {
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    counting.failing = UPSERT;
    JobQueue queue = JobQueue.create(db.dataSource());
    Worker w = fast(counting.dataSource).handle(ITEM, byMode()).rollupInterval(Duration.ofSeconds(1)).build();
    w.start();
    try {
      for (int i = 0; i < 6; i++) {
        queue.enqueue(ITEM, new Item(i, "ok"));
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      await().atMost(Duration.ofSeconds(30)).until(() -> counting.failures.size() >= 2);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_rollups")).isZero();
      assertThat(w.isHealthy()).as("a failing rollup does not make the worker unhealthy").isTrue();
      // Jobs still run while flushes fail.
      queue.enqueue(ITEM, new Item(99, "ok"));
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);

      counting.failing = null;
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong(
          "SELECT coalesce(sum(count), 0) FROM pgqueue.job_rollups") == 7);
    } finally {
      w.close();
    }
    assertThat(byOutcome(db)).isEqualTo(Map.of("succeeded", 7L));
  }

  @Test
  void closeFlushesTheLastCounts(TestDatabase db) throws SQLException {
    JobQueue queue = JobQueue.create(db.dataSource());
    Worker w = fast(db.dataSource()).handle(ITEM, byMode()).rollupInterval(Duration.ofHours(1)).build();
    w.start();
    try {
      for (int i = 0; i < 3; i++) {
        queue.enqueue(ITEM, new Item(i, "ok"));
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_rollups")).as("no flush within the hour").isZero();
    } finally {
      w.close();
    }
    assertThat(byOutcome(db)).isEqualTo(Map.of("succeeded", 3L));
  }

  @Test
  void turnedOffItWritesNothing(TestDatabase db) {
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    JobQueue queue = JobQueue.create(db.dataSource());
    Worker w = fast(counting.dataSource).handle(ITEM, byMode()).rollupInterval(Duration.ZERO).build();
    w.start();
    try {
      queue.enqueue(ITEM, new Item(1, "ok"));
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    } finally {
      w.close();
    }
    assertThat(counting.count(UPSERT)).isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_rollups")).isZero();
  }

  @Test
  void theSettingIsValidated(TestDatabase db) {
    Worker.Builder b = Worker.builder(db.dataSource());
    for (Duration bad : new Duration[] {null, Duration.ofSeconds(-1), Duration.ofMillis(999), Duration.ofHours(2)}) {
      assertThatThrownBy(() -> b.rollupInterval(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("rollupInterval").hasMessageContaining(String.valueOf(bad));
    }
    JobQueue queue = JobQueue.create(db.dataSource());
    assertThatThrownBy(() -> queue.throughput(Duration.ofSeconds(59))).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("window").hasMessageContaining("PT59S");
    assertThatThrownBy(() -> queue.throughput(Duration.ofDays(9))).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("window");
    assertThatThrownBy(() -> queue.throughput(Duration.ofHours(1), Duration.ofSeconds(90)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bucket").hasMessageContaining("PT1M30S");
    assertThatThrownBy(() -> queue.throughput(Duration.ofHours(1), null)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bucket");
  }

  @Test
  void bucketsSumMinutesAndTheWindowLimitsTheRead(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    // Three minutes of the same hour (09:05, 09:06, 09:59 UTC, two days ago) and one older row.
    db.execute("""
        INSERT INTO pgqueue.job_rollups VALUES
          (date_trunc('day', now()) - interval '2 days' + interval '9 hours 5 minutes', 'q', 'n', 'succeeded', '1', 2),
          (date_trunc('day', now()) - interval '2 days' + interval '9 hours 6 minutes', 'q', 'n', 'succeeded', '1', 3),
          (date_trunc('day', now()) - interval '2 days' + interval '9 hours 59 minutes', 'q', 'n', 'succeeded', '2', 4),
          (date_trunc('day', now()) - interval '2 days' + interval '9 hours 59 minutes', 'q', 'n', 'discarded', '2', 1),
          (now() - interval '5 days', 'q', 'n', 'succeeded', '1', 100)
        """);
    List<Throughput> hourly = queue.throughput(Duration.ofDays(3), Duration.ofHours(1));
    assertThat(hourly).hasSize(2);
    Instant nine = hourly.get(0).minute();
    assertThat(nine.getEpochSecond() % 3600).as("aligned to the hour").isZero();
    assertThat(hourly.get(0)).isEqualTo(new Throughput(nine, "q", "n", JobEvent.Kind.DISCARDED, 1));
    assertThat(hourly.get(1)).isEqualTo(new Throughput(nine, "q", "n", JobEvent.Kind.SUCCEEDED, 9));
    assertThat(queue.throughput(Duration.ofDays(3))).hasSize(4);
    assertThat(queue.throughput(Duration.ofDays(6))).hasSize(5);
    assertThat(queue.throughput(Duration.ofHours(1))).isEmpty();
  }

  @Test
  void maintenancePrunesRowsOlderThanEightDaysInBatches(TestDatabase db) {
    db.execute("""
        INSERT INTO pgqueue.job_rollups
        SELECT now() - interval '9 days' - g * interval '1 minute', 'q', 'n', 'succeeded', '1', 1
        FROM generate_series(1, 2500) g
        """);
    db.execute("INSERT INTO pgqueue.job_rollups VALUES (now() - interval '7 days', 'q', 'n', 'succeeded', '1', 1)");
    Worker w = fast(db.dataSource()).handle(ITEM, byMode()).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.job_rollups") == 1);
    } finally {
      w.close();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_rollups WHERE minute > now() - interval '8 days'"))
        .isEqualTo(1);
  }

  /** Records the statements prepared on its connections, and fails those containing {@link #failing}. */
  static final class CountingDataSource {
    final List<String> prepared = new CopyOnWriteArrayList<>();
    final List<String> failures = new CopyOnWriteArrayList<>();
    final DataSource dataSource;
    volatile String failing;

    CountingDataSource(DataSource real) {
      this.dataSource = (DataSource) Proxy.newProxyInstance(getClass().getClassLoader(),
          new Class<?>[] {DataSource.class}, (proxy, m, args) -> {
            Object r = invoke(real, m, args);
            return r instanceof Connection c ? connection(c) : r;
          });
    }

    private Connection connection(Connection real) {
      InvocationHandler h = (proxy, m, args) -> {
        if (m.getName().equals("prepareStatement") && args != null && args[0] instanceof String sql) {
          prepared.add(sql);
          String f = failing;
          if (f != null && sql.contains(f)) {
            failures.add(sql);
            throw new SQLException("test: this statement fails", "XX000");
          }
        }
        return invoke(real, m, args);
      };
      return (Connection) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {Connection.class}, h);
    }

    long count(String fragment) {
      return prepared.stream().filter(s -> s.contains(fragment)).count();
    }

    private static Object invoke(Object target, Method m, Object[] args) throws Throwable {
      try {
        return m.invoke(target, args);
      } catch (InvocationTargetException e) {
        throw e.getCause();
      }
    }
  }
}
