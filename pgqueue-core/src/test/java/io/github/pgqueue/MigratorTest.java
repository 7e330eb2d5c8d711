package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

@PgQueueTest(migrate = false)
class MigratorTest {

  @Test
  void migratesFromNothingThenDoesNothing(TestDatabase db) {
    Migrator m = Migrator.create(db.dataSource(), "fresh");
    assertThat(m.installedVersion()).isZero();

    assertThat(m.migrate()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
    assertThat(m.installedVersion()).isEqualTo(Migrator.latestVersion());
    assertThat(m.migrate()).isEmpty();
    assertThat(db.queryLong("SELECT count(*) FROM fresh.schema_migrations"))
        .isEqualTo(Migrator.latestVersion());
    assertThat(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'fresh'"))
        .as("jobs, workers, cron_schedules, job_progress, queue_controls, job_rollups, key_rate_buckets, schema_migrations")
        .isEqualTo(8);
    assertThat(db.queryLong(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'fresh'"))
        .as("claim_v1, claim_controlled_v1, complete_v1, settle_v1, enqueue_v1, enqueue_all_v1, enqueue_v2,"
            + " claim_controlled_v2, claim_v2, claim_controlled_v3, claim_after_v1, claim_by_name_v1")
        .isEqualTo(12);
  }

  @Test
  void eightConcurrentMigratorsApplyOneSetWithoutError(TestDatabase db) throws Exception {
    int n = 8;
    ExecutorService pool = Executors.newFixedThreadPool(n);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<List<Integer>>> results = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Callable<List<Integer>> task =
          () -> {
            start.await();
            return Migrator.create(db.dataSource(), "racing").migrate();
          };
      results.add(pool.submit(task));
    }
    start.countDown();
    List<Integer> appliedByAll = new ArrayList<>();
    for (Future<List<Integer>> f : results) {
      appliedByAll.addAll(f.get()); // rethrows any migrator's failure
    }
    pool.shutdown();

    assertThat(appliedByAll).as("each migration applied by exactly one migrator")
        .containsExactlyInAnyOrder(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
    assertThat(db.queryLong("SELECT count(*) FROM racing.schema_migrations"))
        .isEqualTo(Migrator.latestVersion());
  }

  /**
   * A schema whose version 2 was recorded under another name (another build's migration, or one
   * written by hand) is not this jar's version 2: migrate() refuses, naming both, and changes
   * nothing, whether or not there is anything left to apply.
   */
  @Test
  void refusesAVersionRecordedUnderAnotherName(TestDatabase db) {
    Migrator m = Migrator.create(db.dataSource(), "renamed");
    m.migrate();
    db.execute("UPDATE renamed.schema_migrations SET name = 'V002__our_own_cron.sql' WHERE version = 2");

    assertThatThrownBy(m::migrate)
        .isInstanceOf(PgQueueException.class)
        .hasMessageContaining("version 2")
        .hasMessageContaining("V002__our_own_cron.sql")
        .hasMessageContaining("V002__cron.sql");

    // With a migration still to apply, it refuses before applying it.
    db.execute("DELETE FROM renamed.schema_migrations WHERE version = 2");
    db.execute("UPDATE renamed.schema_migrations SET name = 'V001__something_else.sql' WHERE version = 1");
    db.execute("DROP TABLE renamed.cron_schedules");
    assertThatThrownBy(m::migrate)
        .isInstanceOf(PgQueueException.class)
        .hasMessageContaining("V001__something_else.sql")
        .hasMessageContaining("V001__jobs_and_workers.sql");
    assertThat(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'renamed' AND tablename = 'cron_schedules'"))
        .as("version 2 not applied on top of a foreign version 1").isZero();
  }

  @Test
  void printedScriptInstallsAWorkingSchema(TestDatabase db) throws Exception {
    String script = Migrator.script("flyway_managed");
    assertThat(script).contains("CREATE TABLE flyway_managed.jobs").doesNotContain("${schema}");

    try (Connection c = db.dataSource().getConnection();
        Statement st = c.createStatement()) {
      c.setAutoCommit(false);
      st.execute(script);
      c.commit();
    }
    Migrator m = Migrator.create(db.dataSource(), "flyway_managed");
    assertThat(m.installedVersion()).isEqualTo(Migrator.latestVersion());
    assertThat(m.migrate()).isEmpty();

    JobQueue queue = JobQueue.builder(db.dataSource()).schema("flyway_managed").build();
    JobId id = queue.enqueue(JobType.of("ping", String.class), "hello").id();
    assertThat(queue.find(id)).isPresent();
  }

  @Test
  void upgradeScriptFromTheLatestVersionHasNoMigrations() {
    assertThat(Migrator.script("pgqueue", Migrator.latestVersion())).doesNotContain("-- migration");
    assertThatThrownBy(() -> Migrator.script("pgqueue", Migrator.latestVersion() + 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("fromVersion");
  }

  @Test
  void entryPointsRefuseAMissingSchemaAndNameTheMigrator(TestDatabase db) {
    JobQueue queue = JobQueue.builder(db.dataSource()).schema("never_installed").build();
    assertThatThrownBy(() -> queue.enqueue(JobType.of("ping", String.class), "x"))
        .isInstanceOf(SchemaVersionException.class)
        .hasMessageContaining("\"never_installed\" is not installed")
        .hasMessageContaining("Migrator.create(dataSource, \"never_installed\").migrate()");
    assertThatThrownBy(queue::verifySchema).isInstanceOf(SchemaVersionException.class);
  }

  @Test
  void entryPointsRefuseAnOlderSchema(TestDatabase db) {
    Migrator.create(db.dataSource(), "older").migrate();
    // Pretend the newest migration was never applied, as on a database of an older release.
    db.execute(
        "DELETE FROM older.schema_migrations WHERE version = " + Migrator.latestVersion());
    JobQueue queue = JobQueue.builder(db.dataSource()).schema("older").build();
    assertThatThrownBy(queue::verifySchema)
        .isInstanceOf(SchemaVersionException.class)
        .hasMessageContaining("Migrator")
        .satisfies(
            e -> {
              SchemaVersionException sve = (SchemaVersionException) e;
              assertThat(sve.installedVersion()).isEqualTo(Migrator.latestVersion() - 1);
              assertThat(sve.requiredVersion()).isEqualTo(Migrator.latestVersion());
            });
  }

  @Test
  void olderVersionMessageSaysBothVersions() {
    assertThat(new SchemaVersionException("pgqueue", 1, 3).getMessage())
        .contains("is at version 1 but this pgqueue needs version 3")
        .contains("Migrator.create(dataSource).migrate()")
        .contains("Migrator.script(\"pgqueue\", 1)");
  }

  @Test
  void rejectsSchemaNamesThatAreNotPlainIdentifiers(TestDatabase db) {
    for (String bad :
        new String[] {
          "x; DROP TABLE jobs", "Pgqueue", "1abc", "pg_catalog", "", "a-b", "a\"b", "x".repeat(49)
        }) {
      assertThatThrownBy(() -> Migrator.create(db.dataSource(), bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("schema must be a lowercase SQL identifier");
      assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).schema(bad))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> Migrator.script(bad)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void everyShippedMigrationFileIsListedInOrder() throws IOException, URISyntaxException {
    Path dir =
        Path.of(Migrator.class.getResource("migrations/V001__jobs_and_workers.sql").toURI())
            .getParent();
    List<String> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.map(p -> p.getFileName().toString()).sorted().toList();
    }
    assertThat(files).hasSize(Migrator.latestVersion());
    for (int i = 0; i < files.size(); i++) {
      assertThat(files.get(i)).startsWith(String.format("V%03d__", i + 1));
      assertThat(Migrator.script("pgqueue", i)).contains("-- migration " + (i + 1) + ": " + files.get(i));
    }
  }
}
