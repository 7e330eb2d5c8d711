package io.github.pgqueue.cron;

import io.github.pgqueue.JobType;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

/** What the scheduler tests read from the database, and the job type they enqueue. */
final class CronDb {

  private CronDb() {}

  /** The payload of every test job: who fired it, and for which scheduled instant. */
  record Fired(String by, Instant at) {}

  static final JobType<Fired> FIRED = JobType.of("cron_fired", Fired.class);

  /** One job as stored. */
  record Job(String name, Instant runAt, String by, Instant payloadAt, String context) {}

  /** A cron_schedules row. */
  record Row(String definition, Instant origin, Instant lastFired, Instant updatedAt) {}

  static List<Job> jobs(TestDatabase db) {
    return query(db, "SELECT name, run_at, payload->>'by', payload->>'at', context FROM "
        + db.schema() + ".jobs ORDER BY run_at, id", false);
  }

  /** Deletes every job and returns them, as a fast worker would. */
  static List<Job> takeJobs(TestDatabase db) {
    return query(db, "DELETE FROM " + db.schema()
        + ".jobs RETURNING name, run_at, payload->>'by', payload->>'at', context", true);
  }

  private static List<Job> query(TestDatabase db, String sql, boolean sort) {
    List<Job> out = new ArrayList<>();
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.add(new Job(rs.getString(1), rs.getObject(2, OffsetDateTime.class).toInstant(),
            rs.getString(3), Instant.parse(rs.getString(4)), rs.getString(5)));
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
    if (sort) {
      out.sort((a, b) -> a.runAt().compareTo(b.runAt()));
    }
    return out;
  }

  static List<Instant> runAts(List<Job> jobs) {
    return jobs.stream().map(Job::runAt).toList();
  }

  /** The schedule's row, or null. */
  static Row row(TestDatabase db, String name) {
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT definition, origin, last_fired, updated_at FROM "
            + db.schema() + ".cron_schedules WHERE name = ?")) {
      ps.setString(1, name);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        return new Row(rs.getString(1), rs.getObject(2, OffsetDateTime.class).toInstant(),
            rs.getObject(3, OffsetDateTime.class).toInstant(),
            rs.getObject(4, OffsetDateTime.class).toInstant());
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The stored last_fired, or null if the name has no row. */
  static Instant lastFired(TestDatabase db, String name) {
    Row row = row(db, name);
    return row == null ? null : row.lastFired();
  }

  /** The database clock. */
  static Instant dbNow(TestDatabase db) {
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT clock_timestamp()");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getObject(1, OffsetDateTime.class).toInstant();
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }
}
