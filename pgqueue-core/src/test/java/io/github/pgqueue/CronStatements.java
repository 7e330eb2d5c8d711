package io.github.pgqueue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

/**
 * The cron scheduler's database work, statement for statement (pgqueue-cron's {@code CronSql}
 * and the transactions of its {@code CronRunner}), for tests in pgqueue-core that cannot depend on
 * pgqueue-cron (it depends on this module): registering a schedule, and firing it by claiming the
 * firing and enqueueing its job in one transaction. The scheduler itself is tested in pgqueue-cron;
 * these tests check what the database and the middle boxes let a cron process do. Keep the SQL in
 * step with CronSql.
 */
final class CronStatements {
  private CronStatements() {}

  private static final String ROW = "definition, origin, last_fired";

  /** A schedule's row. */
  record Row(String definition, Instant origin, Instant lastFired) {}

  /** Registers a schedule as CronRunner does: insert if absent, else lock and redefine if changed. */
  static Row register(Connection c, String schema, String name, String definition) throws SQLException {
    c.setAutoCommit(false);
    try {
      Row row = one(c, "INSERT INTO " + schema + ".cron_schedules (name, definition, origin, last_fired)"
          + " VALUES (?, ?, now(), now()) ON CONFLICT (name) DO NOTHING RETURNING " + ROW, name, definition);
      if (row == null) {
        row = one(c, "SELECT " + ROW + " FROM " + schema + ".cron_schedules WHERE name = ? FOR UPDATE", name);
        if (!row.definition().equals(definition)) {
          row = one(c, "UPDATE " + schema + ".cron_schedules SET definition = ?, origin = now(),"
              + " last_fired = greatest(last_fired, now()), updated_at = now() WHERE name = ? RETURNING " + ROW,
              definition, name);
        }
      }
      c.commit();
      return row;
    } catch (SQLException | RuntimeException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(true);
    }
  }

  /**
   * Fires {@code at} as CronRunner does: the guarded claim, then the job enqueued on the same
   * connection with run_at = at, committed together. Returns the job id, or null when another
   * process had claimed the firing already.
   */
  static <T> JobId fire(Connection c, String schema, JobQueue queue, String name, Row row, Instant at,
      JobType<T> type, T payload) throws SQLException {
    c.setAutoCommit(false);
    try {
      int claimed;
      try (PreparedStatement ps = c.prepareStatement("UPDATE " + schema + ".cron_schedules"
          + " SET last_fired = ?, updated_at = now()"
          + " WHERE name = ? AND last_fired < ? AND definition = ? AND origin = ?")) {
        ps.setObject(1, OffsetDateTime.ofInstant(at, ZoneOffset.UTC));
        ps.setString(2, name);
        ps.setObject(3, OffsetDateTime.ofInstant(at, ZoneOffset.UTC));
        ps.setString(4, row.definition());
        ps.setObject(5, OffsetDateTime.ofInstant(row.origin(), ZoneOffset.UTC));
        claimed = ps.executeUpdate();
      }
      if (claimed == 0) {
        c.rollback();
        return null;
      }
      JobId id = queue.enqueue(c, type, payload,
          EnqueueOptions.builder().runAt(at).context("cron:" + name).build()).id();
      c.commit();
      return id;
    } catch (SQLException | RuntimeException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(true);
    }
  }

  private static Row one(Connection c, String sql, String... params) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setString(i + 1, params[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        return new Row(rs.getString(1), rs.getObject(2, OffsetDateTime.class).toInstant(),
            rs.getObject(3, OffsetDateTime.class).toInstant());
      }
    }
  }
}
