package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testsupport.LeastPrivilege;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;

/**
 * Each pillar under a role with only the grants docs/security.md lists: migrations as the owner
 * of the schema (which a DBA created; the owner has no CREATE on the database), enqueue as a web
 * role that cannot delete, update or read payloads, and a worker role that claims, completes,
 * retries, rescues and prunes but cannot enqueue or change the schema.
 *
 * <p>Roles are cluster-wide, so this runs on an embedded PostgreSQL of its own ({@link
 * LeastPrivilege}), with role names unique to the run, dropped afterwards. The cron role runs the
 * real scheduler in pgqueue-cron's {@code CronLeastPrivilegeTest}.
 */
@Tag("process")
class LeastPrivilegeTest {

  record Item(int n, boolean fail) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static LeastPrivilege roles;
  static TestDatabase db;
  static String owner;
  static String web;
  static String worker;

  @BeforeAll
  static void setUp() throws SQLException {
    roles = LeastPrivilege.start();
    db = roles.db();
    owner = roles.owner;
    web = roles.web;
    worker = roles.worker;
  }

  @AfterAll
  static void tearDown() throws SQLException {
    roles.close();
  }

  static void adminExecute(String... statements) throws SQLException {
    roles.adminExecute(statements);
  }

  static DataSource as(String role) {
    return roles.as(role);
  }

  static void executeAs(String role, String sql) throws SQLException {
    roles.executeAs(role, sql);
  }

  static void migrateAndGrant() throws SQLException {
    roles.migrateAndGrant();
  }

  @Test
  void theOwnerMigratesInTheSchemaItWasGivenWithoutCreateOnTheDatabase() throws SQLException {
    assertThatThrownBy(() -> executeAs(owner, "CREATE SCHEMA other"))
        .as("the owner really has no CREATE on the database").hasMessageContaining("permission denied");
    migrateAndGrant();
    assertThat(Migrator.create(as(owner)).installedVersion()).isEqualTo(Migrator.latestVersion());
    assertThat(Migrator.create(as(owner)).migrate()).as("idempotent").isEmpty();
    assertThat(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'pgqueue' AND tableowner = '" + owner + "'"))
        .as("every table, cron_schedules, job_progress, queue_controls, job_rollups and key_rate_buckets included").isEqualTo(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'pgqueue'"))
        .isEqualTo(8);
    // Neither the web nor the worker role can migrate.
    assertThat(Migrator.create(as(web)).installedVersion()).isEqualTo(Migrator.latestVersion());
  }

  @Test
  void theWebRoleEnqueuesButCannotDeleteUpdateOrReadPayloads() throws SQLException {
    migrateAndGrant();
    JobQueue queue = JobQueue.create(as(web));
    queue.verifySchema();
    EnqueueResult one = queue.enqueue(ITEM, new Item(1, false));
    EnqueueResult keyed = queue.enqueue(ITEM, new Item(2, false), EnqueueOptions.builder().uniqueKey("k2").build());
    EnqueueResult again = queue.enqueue(ITEM, new Item(2, false), EnqueueOptions.builder().uniqueKey("k2").build());
    assertThat(again.duplicate()).isTrue();
    assertThat(again.id()).isEqualTo(keyed.id());
    List<EnqueueResult> bulk = queue.enqueueAll(ITEM, List.of(new Item(3, false), new Item(4, false)));
    List<EnqueueResult> bulkKeyed = queue.enqueueAll(List.of(
        NewJob.of(ITEM, new Item(5, false), EnqueueOptions.builder().uniqueKey("k5").build()),
        NewJob.of(ITEM, new Item(2, false), EnqueueOptions.builder().uniqueKey("k2").build())));
    assertThat(bulkKeyed.get(1).duplicate()).isTrue();
    try (Connection c = as(web).getConnection()) {
      c.setAutoCommit(false);
      queue.enqueue(c, ITEM, new Item(6, false), EnqueueOptions.builder().delay(Duration.ofHours(1)).build());
      c.commit();
    }
    assertThat(one.id()).isNotNull();
    assertThat(bulk).hasSize(2);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(6);

    for (String forbidden : new String[] {
        "DELETE FROM pgqueue.jobs",
        "UPDATE pgqueue.jobs SET priority = 5",
        "SELECT payload FROM pgqueue.jobs",
        "TRUNCATE pgqueue.jobs",
        "DELETE FROM pgqueue.workers",
        "INSERT INTO pgqueue.schema_migrations (version, name) VALUES (99, 'x')",
        "DROP TABLE pgqueue.jobs",
        "CREATE TABLE pgqueue.evil (x int)",
    }) {
      assertThatThrownBy(() -> executeAs(web, forbidden)).as(forbidden)
          .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).isIn("42501", "42P01"));
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).as("nothing deleted").isEqualTo(6);
    db.execute("TRUNCATE pgqueue.jobs");
  }

  /**
   * A job with a concurrency key takes its rank from the key's and the queue's waiting jobs, so its
   * enqueue reads three more columns (docs/security.md); enqueues without a key need only the
   * grant above (the test before this one).
   */
  @Test
  void theWebRoleEnqueuesWithAConcurrencyKeyGivenTheRankColumns() throws SQLException {
    migrateAndGrant();
    JobQueue queue = JobQueue.create(as(web));
    EnqueueOptions tenant = EnqueueOptions.builder().concurrencyKey("tenant-1").build();
    assertThatThrownBy(() -> queue.enqueue(ITEM, new Item(1, false), tenant))
        .as("without the rank columns").isInstanceOf(PgQueueException.class);
    adminExecute("GRANT SELECT (queue, concurrency_key, key_rank) ON pgqueue.jobs TO " + web);
    try {
      queue.enqueue(ITEM, new Item(1, false), tenant);
      queue.enqueueAll(List.of(
          NewJob.of(ITEM, new Item(2, false), tenant),
          NewJob.of(ITEM, new Item(3, false), EnqueueOptions.builder().concurrencyKey("tenant-1").uniqueKey("k3").build())));
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE concurrency_key = 'tenant-1'")).isEqualTo(3);
      assertThat(db.queryLong("SELECT max(key_rank) FROM pgqueue.jobs")).isEqualTo(2);
    } finally {
      adminExecute("REVOKE SELECT (queue, concurrency_key, key_rank) ON pgqueue.jobs FROM " + web);
      db.execute("TRUNCATE pgqueue.jobs");
    }
  }

  @Test
  void theWorkerRoleRunsRetriesDiscardsRescuesAndPrunes() throws SQLException {
    migrateAndGrant();
    JobQueue webQueue = JobQueue.create(as(web));
    webQueue.enqueueAll(ITEM, IntStream.range(0, 20).mapToObj(n -> new Item(n, n % 5 == 0)).toList(),
        EnqueueOptions.builder().maxAttempts(2).build());
    // A job held by a worker that died: the rescuer (worker role) must be able to return it.
    // (Judged by its own threshold, 300 ms; a row without one would count as 30 s.)
    adminExecute("INSERT INTO pgqueue.workers (id, heartbeat_at, heartbeat_ms, stale_after_ms) OVERRIDING SYSTEM VALUE"
        + " VALUES (999999, now() - interval '1 hour', 100, 300)",
        "INSERT INTO pgqueue.jobs (name, payload, state, attempt, locked_by, locked_at)"
            + " VALUES ('item', '{\"n\": 100, \"fail\": false}', 'running', 1, 999999, now())",
        // A throughput rollup row past its 8 days: the worker role prunes it.
        "INSERT INTO pgqueue.job_rollups VALUES (now() - interval '9 days', 'default', 'item', 'succeeded', '1', 5)");
    List<Integer> done = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(as(worker))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofMillis(300))
        .pollInterval(Duration.ofMillis(50)).backoff(Backoff.fixed(Duration.ofMillis(10)))
        .discardedRetention(Duration.ofMillis(500))
        .handle(ITEM, (item, ctx) -> {
          if (item.fail()) {
            throw new IllegalStateException("planned");
          }
          done.add(item.n());
        })
        .build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> done.size() == 17);
      assertThat(done).contains(100);
      // The 4 failing jobs were retried, discarded, and then pruned after the retention.
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(w.isHealthy()).isTrue();
      assertThat(w.isListening()).as("pg_notify and LISTEN need no grant").isTrue();
    } finally {
      w.close();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers WHERE id <> 999999")).as("deregistered").isZero();
    // The rollup was written (upsert) and pruned by the worker role.
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_rollups WHERE minute < now() - interval '8 days'")).isZero();
    assertThat(db.queryLong("SELECT sum(count) FROM pgqueue.job_rollups WHERE outcome = 'succeeded'")).isEqualTo(17);
    assertThat(db.queryLong("SELECT sum(count) FROM pgqueue.job_rollups WHERE outcome = 'retried'")).isEqualTo(4);
    assertThat(db.queryLong("SELECT sum(count) FROM pgqueue.job_rollups WHERE outcome = 'discarded'")).isEqualTo(4);
    assertThat(db.queryLong("SELECT sum(count) FROM pgqueue.job_rollups WHERE outcome = 'rescued'")).isEqualTo(1);

    for (String forbidden : new String[] {
        "INSERT INTO pgqueue.jobs (name, payload) VALUES ('x', '{}')",
        "TRUNCATE pgqueue.jobs",
        "DROP TABLE pgqueue.jobs",
        "UPDATE pgqueue.schema_migrations SET version = 0",
        "ALTER TABLE pgqueue.jobs DROP CONSTRAINT jobs_state_check",
    }) {
      assertThatThrownBy(() -> executeAs(worker, forbidden)).as(forbidden)
          .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"));
    }
  }

  /**
   * On connections that do not keep prepared statements ({@code prepareThreshold=0}) pgqueue calls
   * the functions of migration 10 (docs/schema.md, "Functions"): SECURITY INVOKER, executable by
   * PUBLIC, so the same grants cover them.
   */
  @Test
  void theWebAndWorkerRolesNeedNoMoreGrantsForTheFunctionsCalledWithoutPreparedStatements() throws SQLException {
    migrateAndGrant();
    JobQueue webQueue = JobQueue.create(unprepared(web));
    EnqueueResult keyed = webQueue.enqueue(ITEM, new Item(1, false), EnqueueOptions.builder().uniqueKey("f1").build());
    assertThat(webQueue.enqueue(ITEM, new Item(1, false), EnqueueOptions.builder().uniqueKey("f1").build()).id())
        .isEqualTo(keyed.id());
    webQueue.enqueue(ITEM, new Item(2, true), EnqueueOptions.builder().maxAttempts(2).build());
    webQueue.enqueueAll(ITEM, IntStream.range(3, 10).mapToObj(n -> new Item(n, false)).toList());
    List<Integer> done = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(unprepared(worker))
        .pollInterval(Duration.ofMillis(50)).backoff(Backoff.fixed(Duration.ofMillis(10)))
        .handle(ITEM, (item, ctx) -> {
          if (item.fail()) {
            throw new IllegalStateException("planned");
          }
          done.add(item.n());
        })
        .build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> done.size() == 8
          && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state <> 'discarded'") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded' AND attempt = 2"))
          .as("retried (settle_v1), then discarded").isEqualTo(1);
    } finally {
      w.close();
    }
    db.execute("TRUNCATE pgqueue.jobs");
  }

  static DataSource unprepared(String role) {
    org.postgresql.ds.PGSimpleDataSource ds = (org.postgresql.ds.PGSimpleDataSource) as(role);
    ds.setPrepareThreshold(0);
    return ds;
  }
}
