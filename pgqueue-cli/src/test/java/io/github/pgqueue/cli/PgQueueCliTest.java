package io.github.pgqueue.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.Migrator;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

@PgQueueTest(migrate = false)
class PgQueueCliTest {

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return PgQueueCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void printWritesTheMigrationScript() {
    assertThat(run("print", "--schema", "jobs_x")).isEqualTo(0);
    assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo(Migrator.script("jobs_x", 0));
  }

  @Test
  void migrateAppliesEverythingOnceThenReportsUpToDate(TestDatabase db) {
    assertThat(run("migrate", "--url", db.jdbcUrlWithCredentials(), "--schema", "cli_schema")).isEqualTo(0);
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("applied [1");
    assertThat(db.queryLong("SELECT max(version) FROM cli_schema.schema_migrations")).isEqualTo(Migrator.latestVersion());
    out.reset();
    assertThat(run("migrate", "--url", db.jdbcUrlWithCredentials(), "--schema", "cli_schema")).isEqualTo(0);
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("is up to date at version " + Migrator.latestVersion());
  }

  @Test
  void usageErrorsExitWithTwoAndNameTheProblem() {
    assertThat(run()).isEqualTo(2);
    assertThat(run("drop")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("unknown command: drop").contains("usage:");
    err.reset();
    assertThat(run("migrate")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("migrate needs --url");
    err.reset();
    assertThat(run("print", "--from", "x")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("--from must be a migration number, got: x");
    err.reset();
    assertThat(run("print", "--schema", "Bad-Name")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("Bad-Name");
  }

  @Test
  void anUnreachableDatabaseExitsWithOne() {
    assertThat(run("migrate", "--url", "jdbc:postgresql://127.0.0.1:1/none?connectTimeout=2")).isEqualTo(1);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("migrate failed");
  }
}
