package io.github.pgqueue.cron;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;

/**
 * Runs the statements of {@link CronSql} on a given connection. It never opens, commits or closes
 * a connection: the transaction boundaries belong to {@link CronRunner}.
 */
final class ScheduleStore {

  /**
   * No statement of ours should take long; a row lock held by a stuck transaction elsewhere must
   * not hang the scheduler's only thread forever.
   */
  static final int QUERY_TIMEOUT_SECONDS = 30;

  /** A schedule's row as stored. */
  record Row(String definition, Instant origin, Instant lastFired) {}

  private final CronSql sql;

  ScheduleStore(CronSql sql) {
    this.sql = sql;
  }

  /** Inserts the name if it is new; returns the new row, or null if the name existed. */
  Row insertIfAbsent(Connection c, String name, String definition) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.insertIfAbsent)) {
      ps.setString(1, name);
      ps.setString(2, definition);
      return one(ps);
    }
  }

  /** The existing row, locked for the rest of the transaction; null if there is none. */
  Row lock(Connection c, String name) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.lock)) {
      ps.setString(1, name);
      return one(ps);
    }
  }

  /** Overwrites the definition and re-anchors at now; returns the new row. */
  Row redefine(Connection c, String name, String definition) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.redefine)) {
      ps.setString(1, definition);
      ps.setString(2, name);
      return one(ps);
    }
  }

  /** Claims the firing at {@code at}; true if this transaction now owns it. */
  boolean claim(Connection c, String name, Instant at, String definition, Instant origin)
      throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.claim)) {
      ps.setObject(1, timestamp(at));
      ps.setString(2, name);
      ps.setObject(3, timestamp(at));
      ps.setString(4, definition);
      ps.setObject(5, timestamp(origin));
      return ps.executeUpdate() == 1;
    }
  }

  /** The row as it is now; null if there is none. */
  Row read(Connection c, String name) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.read)) {
      ps.setString(1, name);
      return one(ps);
    }
  }

  private static PreparedStatement prepare(Connection c, String statement) throws SQLException {
    PreparedStatement ps = c.prepareStatement(statement);
    ps.setQueryTimeout(QUERY_TIMEOUT_SECONDS);
    return ps;
  }

  private static Row one(PreparedStatement ps) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      if (!rs.next()) {
        return null;
      }
      return new Row(
          rs.getString(1),
          rs.getObject(2, OffsetDateTime.class).toInstant(),
          rs.getObject(3, OffsetDateTime.class).toInstant());
    }
  }

  private static OffsetDateTime timestamp(Instant instant) {
    return OffsetDateTime.ofInstant(instant, ZoneOffset.UTC);
  }
}
