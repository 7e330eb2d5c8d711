package io.github.pgqueue.example.spring;

import org.springframework.beans.factory.InitializingBean;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * The example's own tables, next to pgqueue's (which {@code pgqueue.migrate=true} applies). Every
 * role creates them at start-up, under a transaction-scoped advisory lock, so processes that start
 * together do not race on {@code CREATE TABLE IF NOT EXISTS}. A real application would use Flyway.
 */
@Component
class ExampleSchema implements InitializingBean {

  private final JdbcTemplate jdbc;
  private final TransactionTemplate tx;

  ExampleSchema(JdbcTemplate jdbc, TransactionTemplate tx) {
    this.jdbc = jdbc;
    this.tx = tx;
  }

  @Override
  public void afterPropertiesSet() {
    tx.executeWithoutResult(status -> {
      jdbc.queryForList("SELECT pg_advisory_xact_lock(hashtext('pgqueue-example-spring schema'))");
      jdbc.execute("""
          CREATE TABLE IF NOT EXISTS users (
              id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              email       text        NOT NULL UNIQUE,
              created_at  timestamptz NOT NULL DEFAULT now(),
              welcomed_at timestamptz
          )""");
      jdbc.execute("""
          CREATE TABLE IF NOT EXISTS activity (
              id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              kind   text        NOT NULL,
              detail text        NOT NULL,
              at     timestamptz NOT NULL DEFAULT now()
          )""");
    });
  }
}
