package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The rate limit of a queue (docs/flow-control.md), with workers in this JVM. */
@PgQueueTest
class RateLimitTest {

  record Item(int n, boolean failFirst) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  HikariDataSource pool;
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    db.execute("CREATE TABLE IF NOT EXISTS starts (n int, attempt int, claimed_at timestamptz, at timestamptz DEFAULT clock_timestamp())");
    db.execute("TRUNCATE starts");
    queue = JobQueue.create(db.dataSource());
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrlWithCredentials());
    c.setMaximumPoolSize(12);
    pool = new HikariDataSource(c);
  }

  @AfterEach
  void stopWorkers() {
    workers.forEach(Worker::close);
    pool.close();
  }

  void startWorker() {
    Worker w = Worker.builder(pool)
        .queue("partner", 4)
        .pollInterval(Duration.ofMillis(500))
        .backoff(Backoff.fixed(Duration.ofMillis(10)))
        .handle(ITEM, (item, ctx) -> {
          try (Connection c = pool.getConnection();
              PreparedStatement ps = c.prepareStatement(
                  "INSERT INTO starts (n, attempt, claimed_at) SELECT ?, ?, locked_at FROM pgqueue.jobs WHERE id = ?")) {
            ps.setInt(1, item.n());
            ps.setInt(2, ctx.attempt());
            ps.setLong(3, ctx.id().value());
            ps.executeUpdate();
          }
          if (item.failFirst() && ctx.attempt() == 1) {
            throw new IllegalStateException("planned failure");
          }
        })
        .build();
    workers.add(w);
    w.start();
  }

  /** The most starts in any window of {@code windowMs} beginning at a start, by the given column. */
  long maxInWindow(String column, int windowMs) {
    return db.queryLong("SELECT max((SELECT count(*) FROM starts b WHERE b." + column + " >= a." + column
        + " AND b." + column + " < a." + column + " + interval '" + windowMs + " milliseconds')) FROM starts a");
  }

  /** Percentiles of the gaps between consecutive starts, in ms, for the report. */
  String gaps(String column) {
    List<String> out = new ArrayList<>();
    for (String p : List.of("0.1", "0.5", "0.9", "1")) {
      out.add(String.valueOf(db.queryLong("SELECT (percentile_cont(" + p + ") WITHIN GROUP (ORDER BY g) * 1000)::bigint FROM"
          + " (SELECT extract(epoch FROM " + column + " - lag(" + column + ") OVER (ORDER BY " + column + ")) AS g FROM starts) x")));
    }
    return String.join("/", out);
  }

  double averagePerSecond(String column) {
    return db.queryLong("SELECT ((count(*) - 1) * 1000000 / nullif(extract(epoch FROM max(" + column + ") - min("
        + column + ")) * 1000, 0))::bigint FROM starts") / 1000.0;
  }

  @Test
  void startsStayWithinTheRateAcrossWorkersRetriesIncluded() {
    queue.setRateLimit("partner", RateLimit.of(40, Duration.ofSeconds(1)));
    EnqueueOptions partner = EnqueueOptions.builder().queue("partner").build();
    // 10% fail their first attempt and are retried: every start takes a token, retries included.
    queue.enqueueAll(IntStream.range(0, 110).mapToObj(n -> NewJob.of(ITEM, new Item(n, n % 10 == 0), partner)).toList());
    startWorker();
    startWorker();
    await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);

    assertThat(db.queryLong("SELECT count(*) FROM starts")).isEqualTo(121);
    long maxClaims = maxInWindow("claimed_at", 1_000);
    assertThat(maxClaims).as("claims (token takes) in any 1 s window: at most 40 + burst 1").isLessThanOrEqualTo(41);
    double avg = averagePerSecond("claimed_at");
    System.out.printf("RATE 40/s burst 1, 2 workers, 121 starts: at most %d claims and %d handler starts in a"
        + " 1 s window; average %.1f starts/s; gaps between claims (ms) p10/p50/p90/max: %s%n",
        maxClaims, maxInWindow("at", 1_000), avg, gaps("claimed_at"));
    assertThat(avg).as("average starts per second").isLessThanOrEqualTo(41.0);
  }

  @Test
  void aBurstLetsThatManyStartAtOnceThenTheRateApplies() {
    queue.setRateLimit("partner", new RateLimit(5, Duration.ofSeconds(1), 10));
    EnqueueOptions partner = EnqueueOptions.builder().queue("partner").build();
    queue.enqueueAll(IntStream.range(0, 20).mapToObj(n -> NewJob.of(ITEM, new Item(n, false), partner)).toList());
    startWorker();
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM starts") >= 12);
    // A full bucket of 10, then 5 per second: within any 1 s window at most 10 + 5.
    assertThat(maxInWindow("claimed_at", 1_000)).isLessThanOrEqualTo(15);
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(maxInWindow("claimed_at", 2_000)).as("in 2 s: 10 + 5 * 2").isLessThanOrEqualTo(20);
    assertThat(db.queryLong("SELECT count(*) FROM starts")).isEqualTo(20);
  }

  @Test
  void removingTheRateLimitRestoresTheOrdinaryClaim() {
    queue.setRateLimit("partner", RateLimit.of(1, Duration.ofHours(1)));
    EnqueueOptions partner = EnqueueOptions.builder().queue("partner").build();
    queue.enqueueAll(IntStream.range(0, 5).mapToObj(n -> NewJob.of(ITEM, new Item(n, false), partner)).toList());
    startWorker();
    await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM starts") == 1);
    await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(3))
        .until(() -> db.queryLong("SELECT count(*) FROM starts") == 1);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND attempt = 0"))
        .as("held-back jobs are untouched").isEqualTo(4);
    queue.removeRateLimit("partner");
    await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM starts") == 5);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.queue_controls")).isZero();
  }

  @Test
  void badRateLimitsAreRefusedNamingTheValue() {
    assertThatThrownBy(() -> RateLimit.of(0, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("starts").hasMessageContaining("0");
    assertThatThrownBy(() -> new RateLimit(5, Duration.ofSeconds(1), 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("burst");
    assertThatThrownBy(() -> RateLimit.of(5, Duration.ofNanos(1500)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("period").hasMessageContaining("PT0.0000015S");
    assertThatThrownBy(() -> RateLimit.of(5, Duration.ofDays(2)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("period");
    assertThatThrownBy(() -> queue.setRateLimit("partner", null)).isInstanceOf(NullPointerException.class);
  }
}
