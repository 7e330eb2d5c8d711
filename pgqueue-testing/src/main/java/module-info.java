/**
 * pgqueue-testing: {@link io.github.pgqueue.testing.PgQueueTest} gives each JUnit 5 test class a
 * fresh, migrated PostgreSQL database; {@link io.github.pgqueue.testing.JobTester} runs jobs
 * inline.
 */
module io.github.pgqueue.testing {
  requires transitive io.github.pgqueue;
  // TestDatabase is in this module's API. pgqueue-testing-postgres is an automatic module (its
  // jar names itself in its manifest): its own dependencies have no stable module names.
  requires transitive io.github.pgqueue.testing.postgres;
  requires transitive org.junit.jupiter.api;
  requires org.junit.platform.commons;
  requires java.sql;

  exports io.github.pgqueue.testing;
}
