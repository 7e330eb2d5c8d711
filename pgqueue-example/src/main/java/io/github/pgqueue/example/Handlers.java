package io.github.pgqueue.example;

import io.github.pgqueue.JobContext;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the worker does with each job. Each handler is idempotent: a job may run twice. */
final class Handlers {

  private static final Logger log = LoggerFactory.getLogger(Handlers.class);

  private final DataSource db;
  private final double flakyFailureRate;

  Handlers(DataSource db, double flakyFailureRate) {
    this.db = db;
    this.flakyFailureRate = flakyFailureRate;
  }

  void welcomeEmail(Jobs.WelcomeEmail email, JobContext ctx) throws SQLException {
    // A real app calls its mail provider here, passing ctx.id() as the idempotency key.
    log.info("sending the welcome email to {} (job {})", email.email(), ctx.id());
    update("UPDATE users SET welcomed_at = coalesce(welcomed_at, now()) WHERE id = ?", email.userId());
    activity("welcome_email", "sent to " + email.email());
  }

  void syncCrm(Jobs.SyncCrm sync, JobContext ctx) throws SQLException {
    if (ThreadLocalRandom.current().nextDouble() < flakyFailureRate) {
      throw new IllegalStateException("CRM unavailable (simulated), attempt " + ctx.attempt() + " of " + ctx.maxAttempts());
    }
    update("UPDATE users SET crm_synced_at = coalesce(crm_synced_at, now()) WHERE id = ?", sync.userId());
  }

  void cleanup(Jobs.Cleanup cleanup, JobContext ctx) throws SQLException {
    int deleted;
    try (Connection c = db.getConnection();
        PreparedStatement ps = c.prepareStatement("DELETE FROM activity WHERE at < now() - interval '7 days'")) {
      deleted = ps.executeUpdate();
    }
    activity("cron", "nightly_cleanup for " + cleanup.scheduledFor() + ": deleted " + deleted + " old activity rows");
  }

  void report(Jobs.Report report, JobContext ctx) throws SQLException {
    long users;
    try (Connection c = db.getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM users");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      users = rs.getLong(1);
    }
    activity("cron", "report for " + report.scheduledFor() + ": " + users + " users");
  }

  private void update(String sql, long id) throws SQLException {
    try (Connection c = db.getConnection();
        PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setLong(1, id);
      ps.executeUpdate();
    }
  }

  private void activity(String kind, String detail) throws SQLException {
    try (Connection c = db.getConnection();
        PreparedStatement ps = c.prepareStatement("INSERT INTO activity (kind, detail) VALUES (?, ?)")) {
      ps.setString(1, kind);
      ps.setString(2, detail);
      ps.executeUpdate();
    }
  }
}
