package io.github.pgqueue.spring.boot;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;

/** One database for the tests that share a Spring context (one per test JVM). */
final class SharedDb {
  static final TestDatabase DB = TestPostgres.server().createDatabase("pgqueue");

  private SharedDb() {}

  static long count(String sql) {
    return DB.queryLong(sql);
  }
}
