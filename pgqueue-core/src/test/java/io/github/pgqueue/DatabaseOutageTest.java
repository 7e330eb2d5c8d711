package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * PostgreSQL stopped and started again under a running worker. Runs on an embedded server of its
 * own, never the shared one.
 */
@Tag("process")
class DatabaseOutageTest {

  record Item(int n, int workMillis) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static TestPostgres server;
  static TestDatabase db;

  @BeforeAll
  static void startServer() {
    server = TestPostgres.startEmbedded();
    db = server.createDatabase("pgqueue");
    Migrator.create(db.dataSource()).migrate();
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  static HikariDataSource pool() {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrl());
    c.setUsername(db.user());
    c.setMaximumPoolSize(6);
    c.setConnectionTimeout(1_000);
    c.setValidationTimeout(500);
    return new HikariDataSource(c);
  }

  /**
   * Worker A runs five long jobs through an outage of twice the stale threshold. When the database
   * is back, worker B reconnects at once while A's control connection stays refused for half a
   * threshold more: every heartbeat in the table is stale, and B would rescue A's jobs if it judged
   * them at once. It must wait a full threshold of its own healthy heartbeats, by which time A has
   * heartbeated again: no job runs twice.
   */
  @Test
  void anOutageOfTwiceTheStaleThresholdCausesNoRerunsAndTheWorkerResumes() {
    Duration stale = Duration.ofSeconds(1);
    Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
    AtomicLong refuseUntil = new AtomicLong();
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueueAll(ITEM, IntStream.range(0, 5).mapToObj(n -> new Item(n, 4_000)).toList());
    JobHandler<Item> handler = (item, ctx) -> {
      runs.computeIfAbsent(item.n(), k -> new AtomicInteger()).incrementAndGet();
      Thread.sleep(item.workMillis()); // long jobs, in flight through the outage
    };

    try (HikariDataSource poolA = pool(); HikariDataSource poolB = pool()) {
      Worker a = Worker.builder(poolA)
          .heartbeatInterval(Duration.ofMillis(200)).staleAfter(stale).pollInterval(Duration.ofMillis(100))
          .dedicatedConnection(() -> {
            if (System.nanoTime() - refuseUntil.get() < 0) {
              throw new java.sql.SQLException("refused by the test", "08001");
            }
            return db.dataSource().getConnection();
          })
          .handle(ITEM, handler).build();
      a.start();
      Worker b = null;
      try {
        await().atMost(Duration.ofSeconds(20)).until(() -> runs.size() == 5);
        b = Worker.builder(poolB)
            .heartbeatInterval(Duration.ofMillis(200)).staleAfter(stale).pollInterval(Duration.ofMillis(100))
            .handle(ITEM, handler).build();
        b.start();
        Worker workerB = b;
        await().atMost(Duration.ofSeconds(10)).until(workerB::isHealthy);

        server.stopServer();
        long downAt = System.nanoTime();
        await().atMost(Duration.ofSeconds(10)).until(() -> !a.isHealthy() && !workerB.isHealthy());
        // Keep it down for twice the stale threshold: every heartbeat in the table goes stale.
        await().pollDelay(stale.multipliedBy(2).plusMillis(200)).atMost(Duration.ofSeconds(10)).until(() -> true);
        refuseUntil.set(System.nanoTime() + stale.toNanos() / 2);
        server.startServer();
        System.out.printf("database down for %d ms%n", (System.nanoTime() - downAt) / 1_000_000);

        queue.enqueueAll(ITEM, IntStream.range(5, 10).mapToObj(n -> new Item(n, 10)).toList());
        await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> a.isHealthy() && workerB.isHealthy());
      } finally {
        a.close();
        if (b != null) {
          b.close();
        }
      }
    }
    assertThat(runs).as("everything enqueued before and after the outage ran").hasSize(10);
    assertThat(runs.values()).as("no job ran twice").allMatch(c -> c.get() == 1);
  }
}
