package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testsupport.PgBouncer;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * pgqueue through a real PgBouncer 1.18 in transaction mode (Debian's package; it does not track
 * prepared statements, hence {@code prepareThreshold=0}): migrate, enqueue in every form, work,
 * retry and discard all function; LISTEN behind the pooler is accepted but never delivers, so the
 * worker warns once (also across reconnects) and polls; with its dedicated connection pointed at
 * PostgreSQL directly it is woken by NOTIFY within milliseconds while claims still go through the
 * pooler; and no "prepared statement does not exist" error appears anywhere.
 *
 * <p>The cron scheduler through the same pooler is pgqueue-cron's {@code CronPgBouncerTest}.
 */
@Tag("process")
class PgBouncerTest {

  record Item(int n, int failTimes) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static PgBouncer.Setup setup;
  static TestDatabase db;
  static PgBouncer bouncer;

  HikariDataSource pooled;
  final LogTap log = new LogTap();

  @BeforeAll
  static void start() throws Exception {
    setup = PgBouncer.Setup.startOrSkip("transaction");
    db = setup.db();
    bouncer = setup.bouncer();
    System.out.println("PgBouncer (transaction mode) on port " + bouncer.port + " in front of PostgreSQL on " + setup.server().port());
  }

  @AfterAll
  static void stop() throws Exception {
    if (setup != null) {
      assertThat(setup.stop()).as("PgBouncer's log").doesNotContainIgnoringCase("prepared statement");
    }
  }

  @BeforeEach
  void setUp() {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(bouncer.jdbcUrl(db.name(), "prepareThreshold=0&ApplicationName=pgqueue-via-pgbouncer"));
    c.setUsername(db.user());
    c.setMaximumPoolSize(6);
    c.setConnectionTimeout(5_000);
    pooled = new HikariDataSource(c);
    // Migrations through the pooler too: the advisory lock is transaction-scoped.
    Migrator.create(pooled).migrate();
    db.truncate();
    log.start();
  }

  @AfterEach
  void tearDown() {
    log.stop();
    pooled.close();
    assertThat(log.text()).as("pgqueue's log").doesNotContainIgnoringCase("prepared statement");
  }

  @Test
  void enqueueWorkRetryAndDiscardThroughPgBouncerWhileLookingForNotifyFallsBackToPolling() throws Exception {
    JobQueue queue = JobQueue.create(pooled);
    Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
    List<Long> pickupMillis = new CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicReference<Connection> control = new java.util.concurrent.atomic.AtomicReference<>();
    Worker worker = Worker.builder(pooled)
        .queue("default", 5)
        .pollInterval(Duration.ofMillis(200))
        .heartbeatInterval(Duration.ofMillis(200)).staleAfter(Duration.ofSeconds(2))
        .backoff(Backoff.fixed(Duration.ofMillis(50)))
        // The dedicated connection through the pooler as well: LISTEN there never delivers.
        .dedicatedConnection(() -> {
          Connection c = DriverManager.getConnection(
              bouncer.jdbcUrl(db.name(), "prepareThreshold=0&ApplicationName=pgqueue-via-pgbouncer"), db.user(), null);
          control.set(c);
          return c;
        })
        .handle(ITEM, (item, ctx) -> {
          pickupMillis.add(Duration.between(ctx.runAt(), java.time.Instant.now()).toMillis());
          if (runs.computeIfAbsent(item.n(), k -> new AtomicInteger()).incrementAndGet() <= item.failTimes()) {
            throw new IllegalStateException("planned failure of " + item.n());
          }
        })
        .build();
    worker.start();
    try {
      await().atMost(Duration.ofSeconds(20)).until(worker::isHealthy);
      // The probe NOTIFY must time out (2 s) before the verdict.
      await().atMost(Duration.ofSeconds(20)).until(() -> log.count("LISTEN/NOTIFY is not delivered") == 1);
      assertThat(worker.isListening()).isFalse();

      // Every enqueue path, many times over the same pooled server connections.
      for (int i = 0; i < 100; i++) {
        queue.enqueue(ITEM, new Item(i, 0));
      }
      queue.enqueueAll(ITEM, IntStream.range(100, 200).mapToObj(n -> new Item(n, 0)).toList());
      queue.enqueue(ITEM, new Item(200, 0), EnqueueOptions.builder().uniqueKey("k").build());
      assertThat(queue.enqueue(ITEM, new Item(200, 0), EnqueueOptions.builder().uniqueKey("k").build()).duplicate()).isTrue();
      try (Connection c = pooled.getConnection()) {
        c.setAutoCommit(false);
        queue.enqueue(c, ITEM, new Item(201, 0));
        queue.enqueueAll(c, ITEM, List.of(new Item(202, 0)));
        c.commit();
      }
      JobId retried = queue.enqueue(ITEM, new Item(203, 2)).id();
      JobId discarded = queue.enqueue(ITEM, new Item(204, 5), EnqueueOptions.builder().maxAttempts(2).build()).id();

      await().atMost(Duration.ofSeconds(30)).until(() -> runs.size() == 205 && queue.counts().stream()
          .noneMatch(c -> c.state() != JobState.DISCARDED));
      assertThat(runs.get(203)).as("retried twice, then succeeded").hasValue(3);
      assertThat(queue.find(retried)).isEmpty();
      JobInfo d = queue.find(discarded).orElseThrow();
      assertThat(d.state()).isEqualTo(JobState.DISCARDED);
      assertThat(d.errors()).hasSize(2);

      // The control connection drops (as when the pooler restarts): it reconnects, probes again,
      // and must not warn a second time.
      long id = worker.workerId();
      control.get().abort(Runnable::run);
      await().atMost(Duration.ofSeconds(20)).until(() -> log.count("control connection (LISTEN, heartbeat) works again") > 0);
      await().during(Duration.ofMillis(ControlLoop.PROBE_TIMEOUT_MILLIS + 500)).atMost(Duration.ofSeconds(10))
          .until(() -> log.count("LISTEN/NOTIFY is not delivered") == 1);
      queue.enqueue(ITEM, new Item(300, 0));
      await().atMost(Duration.ofSeconds(20)).until(() -> runs.containsKey(300));
      await().atMost(Duration.ofSeconds(20)).until(worker::isHealthy);
      assertThat(worker.workerId()).as("a short disconnect does not cost the registration").isEqualTo(id);
      long sorted = pickupMillis.stream().sorted().skip(pickupMillis.size() / 2).findFirst().orElse(-1L);
      System.out.printf("PgBouncer, polling every 200 ms: %d runs, median pickup after run_at %d ms%n", pickupMillis.size(), sorted);
    } finally {
      worker.close();
    }
  }

  @Test
  void aDedicatedConnectionStraightToPostgresKeepsMillisecondPickupWhileClaimsGoThroughPgBouncer() throws Exception {
    JobQueue queue = JobQueue.create(pooled);
    List<Long> pickupMillis = new CopyOnWriteArrayList<>();
    Worker worker = Worker.builder(pooled)
        // A long poll: only NOTIFY can explain a fast pickup.
        .pollInterval(Duration.ofSeconds(10))
        .dedicatedConnection(() -> DriverManager.getConnection(db.jdbcUrl() + "?tcpKeepAlive=true", db.user(), null))
        .handle(ITEM, (item, ctx) -> pickupMillis.add(Duration.between(ctx.runAt(), java.time.Instant.now()).toMillis()))
        .build();
    worker.start();
    try {
      await().atMost(Duration.ofSeconds(20)).until(worker::isListening);
      for (int i = 0; i < 5; i++) {
        int before = pickupMillis.size();
        // Wait out the enqueuer's 10 ms NOTIFY rate limit and the worker's fast-poll window, so
        // each job is found by its own NOTIFY (sent through the pooler) and not by a poll.
        await().pollDelay(Duration.ofMillis(1_100)).atMost(Duration.ofSeconds(5)).until(() -> true);
        queue.enqueue(ITEM, new Item(i, 0));
        await().atMost(Duration.ofSeconds(5)).until(() -> pickupMillis.size() == before + 1);
      }
      System.out.printf("PgBouncer for claims, direct LISTEN: pickup after enqueue %s ms%n", pickupMillis);
      assertThat(pickupMillis).allMatch(ms -> ms < 1_000, "well under the 10 s poll interval");
      assertThat(log.count("LISTEN/NOTIFY is not delivered")).isZero();
    } finally {
      worker.close();
    }
  }

  /** Copies what is written to System.err (where slf4j-simple logs) so the test can read it. */
  static final class LogTap {
    private PrintStream original;
    private final ByteArrayOutputStream copy = new ByteArrayOutputStream();

    void start() {
      original = System.err;
      PrintStream orig = original;
      System.setErr(new PrintStream(new OutputStream() {
        @Override
        public void write(int b) {
          orig.write(b);
          synchronized (copy) {
            copy.write(b);
          }
        }

        @Override
        public void write(byte[] b, int off, int len) {
          orig.write(b, off, len);
          synchronized (copy) {
            copy.write(b, off, len);
          }
        }
      }, true, StandardCharsets.UTF_8));
    }

    void stop() {
      if (original != null) {
        System.setErr(original);
      }
    }

    String text() {
      synchronized (copy) {
        return copy.toString(StandardCharsets.UTF_8);
      }
    }

    long count(String needle) {
      return text().lines().filter(l -> l.contains(needle)).count();
    }
  }
}
