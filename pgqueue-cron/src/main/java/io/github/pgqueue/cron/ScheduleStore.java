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
  record Row(String definition, Instant origin, Instant lastFired, boolean enabled) {}

  /** A row as the poll reads it: the schedule row and its pending trigger request, if any. */
  record Polled(String name, Row row, Instant triggerRequestedAt) {}

  private final CronSql sql;

  ScheduleStore(CronSql sql) {
    this.sql = sql;
  }

  /** Inserts the name if it is new; returns the new row, or null if the name existed. */
  Row insertIfAbsent(Connection c, String name, String definition, Description d) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.insertIfAbsent)) {
      ps.setString(1, name);
      ps.setString(2, definition);
      ps.setString(3, d.catchUp());
      ps.setString(4, d.jobName());
      ps.setString(5, d.jobQueue());
      return one(ps);
    }
  }

  /** What a process would enqueue for a schedule, stored for {@code CronAdmin}. */
  record Description(String catchUp, String jobName, String jobQueue) {}

  /** Stores the description if the stored definition is {@code definition} and it differs. */
  void describe(Connection c, String name, String definition, Description d) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.describe)) {
      ps.setString(1, d.catchUp());
      ps.setString(2, d.jobName());
      ps.setString(3, d.jobQueue());
      ps.setString(4, name);
      ps.setString(5, definition);
      ps.setString(6, d.catchUp());
      ps.setString(7, d.jobName());
      ps.setString(8, d.jobQueue());
      ps.executeUpdate();
    }
  }

  /** The rows of these names, with their pending trigger requests. */
  java.util.List<Polled> poll(Connection c, String[] names) throws SQLException {
    java.util.List<Polled> out = new java.util.ArrayList<>();
    try (PreparedStatement ps = prepare(c, sql.poll)) {
      ps.setArray(1, c.createArrayOf("text", names));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          OffsetDateTime trigger = rs.getObject(6, OffsetDateTime.class);
          out.add(new Polled(rs.getString(1),
              new Row(rs.getString(2), rs.getObject(3, OffsetDateTime.class).toInstant(),
                  rs.getObject(4, OffsetDateTime.class).toInstant(), rs.getBoolean(5)),
              trigger == null ? null : trigger.toInstant()));
        }
      }
    }
    return out;
  }

  /** Takes the trigger request made at {@code requestedAt}; true if this transaction owns it. */
  boolean takeTrigger(Connection c, String name, Instant requestedAt, String definition) throws SQLException {
    try (PreparedStatement ps = prepare(c, sql.takeTrigger)) {
      ps.setString(1, name);
      ps.setObject(2, timestamp(requestedAt));
      ps.setString(3, definition);
      return ps.executeUpdate() == 1;
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
          rs.getObject(3, OffsetDateTime.class).toInstant(),
          rs.getBoolean(4));
    }
  }

  private static OffsetDateTime timestamp(Instant instant) {
    return OffsetDateTime.ofInstant(instant, ZoneOffset.UTC);
  }
}
