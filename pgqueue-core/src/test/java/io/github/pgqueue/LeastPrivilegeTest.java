package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;
import org.postgresql.util.PSQLException;

/**
 * Each pillar under a role with only the grants docs/security.md lists: migrations as the owner
 * of the schema (which a DBA created; the owner has no CREATE on the database), enqueue as a web
 * role that cannot delete, update or read payloads, and a worker role that claims, completes,
 * retries, rescues and prunes but cannot enqueue or change the schema.
 *
 * <p>Roles are cluster-wide, so this runs on an embedded PostgreSQL of its own, with role names
 * unique to the run, dropped afterwards.
 */
@Tag("process")
class LeastPrivilegeTest {

  record Item(int n, boolean fail) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static TestPostgres server;
  static TestDatabase db;
  static String owner;
  static String web;
  static String worker;
  static String cron;

  /** The grants of docs/security.md, as the schema owner runs them after migrating. */
  static String grants(String web, String worker, String cron) {
    return """
        GRANT USAGE ON SCHEMA pgqueue TO %1$s, %2$s, %3$s;
        GRANT SELECT ON pgqueue.schema_migrations TO %1$s, %2$s, %3$s;
        -- web: enqueue (RETURNING id, ON CONFLICT on (name, unique_key), the duplicate's lookup)
        GRANT INSERT ON pgqueue.jobs TO %1$s;
        GRANT SELECT (id, name, unique_key, state) ON pgqueue.jobs TO %1$s;
        -- worker: claim, complete, retry, rescue, prune; its registry row and heartbeat
        GRANT SELECT, UPDATE, DELETE ON pgqueue.jobs TO %2$s;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.workers TO %2$s;
        -- cron: register, lock (FOR UPDATE) and claim firings; enqueue their jobs like web
        GRANT SELECT, INSERT, UPDATE ON pgqueue.cron_schedules TO %3$s;
        GRANT INSERT ON pgqueue.jobs TO %3$s;
        GRANT SELECT (id, name, unique_key, state) ON pgqueue.jobs TO %3$s;
        """.formatted(web, worker, cron);
  }

  @BeforeAll
  static void setUp() throws SQLException {
    server = TestPostgres.startEmbedded();
    db = server.createDatabase("pgqueue");
    String run = Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL).toLowerCase(Locale.ROOT);
    owner = "pgq_owner_" + run;
    web = "pgq_web_" + run;
    worker = "pgq_worker_" + run;
    cron = "pgq_cron_" + run;
    adminExecute(
        "CREATE ROLE " + owner + " LOGIN",
        "CREATE ROLE " + web + " LOGIN",
        "CREATE ROLE " + worker + " LOGIN",
        "CREATE ROLE " + cron + " LOGIN",
        // The DBA creates the schema for its owner; the owner gets no CREATE on the database.
        "REVOKE CREATE, TEMPORARY ON DATABASE " + db.name() + " FROM PUBLIC",
        "CREATE SCHEMA pgqueue AUTHORIZATION " + owner);
  }

  @AfterAll
  static void tearDown() throws SQLException {
    try {
      db.drop();
      try (Connection c = server.adminConnection(); Statement st = c.createStatement()) {
        for (String role : new String[] {web, worker, cron, owner}) {
          st.execute("DROP ROLE IF EXISTS " + role);
        }
      }
    } finally {
      server.close();
    }
  }

  static void adminExecute(String... statements) throws SQLException {
    try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
      for (String s : statements) {
        st.execute(s);
      }
    }
  }

  static DataSource as(String role) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(db.jdbcUrl());
    ds.setUser(role);
    return ds;
  }

  static void executeAs(String role, String sql) throws SQLException {
    try (Connection c = as(role).getConnection(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  static void migrateAndGrant() throws SQLException {
    if (Migrator.create(as(owner)).installedVersion() == 0) {
      Migrator.create(as(owner)).migrate();
      try (Connection c = as(owner).getConnection(); Statement st = c.createStatement()) {
        st.execute(grants(web, worker, cron));
      }
    }
  }

  @Test
  void theOwnerMigratesInTheSchemaItWasGivenWithoutCreateOnTheDatabase() throws SQLException {
    assertThatThrownBy(() -> executeAs(owner, "CREATE SCHEMA other"))
        .as("the owner really has no CREATE on the database").hasMessageContaining("permission denied");
    migrateAndGrant();
    assertThat(Migrator.create(as(owner)).installedVersion()).isEqualTo(Migrator.latestVersion());
    assertThat(Migrator.create(as(owner)).migrate()).as("idempotent").isEmpty();
    assertThat(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'pgqueue' AND tableowner = '" + owner + "'"))
        .as("every table, cron_schedules included").isEqualTo(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'pgqueue'"))
        .isEqualTo(4);
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
   * The cron scheduler's statements (see {@link CronStatements}; pgqueue-cron cannot be a
   * dependency here) as the cron role: register a schedule, redefine it, claim a firing and
   * enqueue its job in one transaction, see a second claim of the same firing refused.
   */
  @Test
  void theCronRoleRegistersClaimsFiringsAndEnqueuesButCannotDeleteJobsOrSchedules() throws SQLException {
    migrateAndGrant();
    JobQueue queue = JobQueue.create(as(cron));
    try (Connection c = as(cron).getConnection()) {
      CronStatements.Row row = CronStatements.register(c, "pgqueue", "nightly", "cron 0 3 * * * UTC");
      assertThat(CronStatements.register(c, "pgqueue", "nightly", "cron 0 3 * * * UTC")).isEqualTo(row);
      row = CronStatements.register(c, "pgqueue", "nightly", "cron 0 4 * * * UTC");
      java.time.Instant at = row.lastFired().plusSeconds(60);
      JobId id = CronStatements.fire(c, "pgqueue", queue, "nightly", row, at, ITEM, new Item(1, false));
      assertThat(id).isNotNull();
      assertThat(CronStatements.fire(c, "pgqueue", queue, "nightly", row, at, ITEM, new Item(1, false)))
          .as("the same firing is claimed once").isNull();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE context = 'cron:nightly'")).isEqualTo(1);
    for (String forbidden : new String[] {
        "DELETE FROM pgqueue.cron_schedules",
        "DELETE FROM pgqueue.jobs",
        "UPDATE pgqueue.jobs SET priority = 1",
        "TRUNCATE pgqueue.cron_schedules",
    }) {
      assertThatThrownBy(() -> executeAs(cron, forbidden)).as(forbidden)
          .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"));
    }
    db.execute("TRUNCATE pgqueue.jobs");
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
            + " VALUES ('item', '{\"n\": 100, \"fail\": false}', 'running', 1, 999999, now())");
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
}
