package io.github.pgqueue.testsupport;

import io.github.pgqueue.Migrator;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A database set up as docs/security.md tells a DBA to: schema {@code pgqueue} created for an
 * owner role that has no CREATE on the database, and a web, a worker and a cron role with only the
 * grants listed there. Roles are cluster-wide, so it runs on an embedded PostgreSQL of its own,
 * with role names unique to the run, dropped by {@link #close()}.
 *
 * <p>Shared by core's {@code LeastPrivilegeTest} and pgqueue-cron's tests through core's test jar.
 */
public final class LeastPrivilege implements AutoCloseable {

  private final TestPostgres server;
  private final TestDatabase db;
  /** Owns schema pgqueue; runs the migrations and the grants. */
  public final String owner;
  /** Enqueues. */
  public final String web;
  /** Runs workers. */
  public final String worker;
  /** Runs the cron scheduler. */
  public final String cron;

  private LeastPrivilege(TestPostgres server, TestDatabase db, String run) {
    this.server = server;
    this.db = db;
    this.owner = "pgq_owner_" + run;
    this.web = "pgq_web_" + run;
    this.worker = "pgq_worker_" + run;
    this.cron = "pgq_cron_" + run;
  }

  /** The grants of docs/security.md, as the schema owner runs them after migrating. */
  public static String grants(String web, String worker, String cron) {
    return """
        GRANT USAGE ON SCHEMA pgqueue TO %1$s, %2$s, %3$s;
        GRANT SELECT ON pgqueue.schema_migrations TO %1$s, %2$s, %3$s;
        -- web: enqueue (RETURNING id, ON CONFLICT on (name, unique_key), the duplicate's lookup)
        GRANT INSERT ON pgqueue.jobs TO %1$s;
        GRANT SELECT (id, name, unique_key, state) ON pgqueue.jobs TO %1$s;
        -- worker: claim, complete, retry, rescue, prune; its registry row and heartbeat
        GRANT SELECT, UPDATE, DELETE ON pgqueue.jobs TO %2$s;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.workers TO %2$s;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.job_progress TO %2$s;
        GRANT SELECT, UPDATE ON pgqueue.queue_controls TO %2$s;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.key_rate_buckets TO %2$s;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pgqueue.job_rollups TO %2$s;
        -- cron: register, lock (FOR UPDATE) and claim firings; enqueue their jobs like web
        GRANT SELECT, INSERT, UPDATE ON pgqueue.cron_schedules TO %3$s;
        GRANT INSERT ON pgqueue.jobs TO %3$s;
        GRANT SELECT (id, name, unique_key, state) ON pgqueue.jobs TO %3$s;
        """.formatted(web, worker, cron);
  }

  /** Starts a server, creates the database, the roles and the owner's schema (not migrated yet). */
  public static LeastPrivilege start() throws SQLException {
    TestPostgres server = TestPostgres.startEmbedded();
    try {
      TestDatabase db = server.createDatabase("pgqueue");
      String run = Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL).toLowerCase(Locale.ROOT);
      LeastPrivilege roles = new LeastPrivilege(server, db, run);
      roles.adminExecute(
          "CREATE ROLE " + roles.owner + " LOGIN",
          "CREATE ROLE " + roles.web + " LOGIN",
          "CREATE ROLE " + roles.worker + " LOGIN",
          "CREATE ROLE " + roles.cron + " LOGIN",
          // The DBA creates the schema for its owner; the owner gets no CREATE on the database.
          "REVOKE CREATE, TEMPORARY ON DATABASE " + db.name() + " FROM PUBLIC",
          "CREATE SCHEMA pgqueue AUTHORIZATION " + roles.owner);
      return roles;
    } catch (SQLException | RuntimeException e) {
      server.close();
      throw e;
    }
  }

  /** The database, for the test's own (superuser) checks. */
  public TestDatabase db() {
    return db;
  }

  /** Runs statements as the database's superuser. */
  public void adminExecute(String... statements) throws SQLException {
    try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
      for (String s : statements) {
        st.execute(s);
      }
    }
  }

  /** Connections as {@code role}. */
  public DataSource as(String role) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(db.jdbcUrl());
    ds.setUser(role);
    return ds;
  }

  /** Runs one statement as {@code role}. */
  public void executeAs(String role, String sql) throws SQLException {
    try (Connection c = as(role).getConnection(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  /** Migrates as the owner and runs the grants, once. */
  public void migrateAndGrant() throws SQLException {
    if (Migrator.create(as(owner)).installedVersion() == 0) {
      Migrator.create(as(owner)).migrate();
      try (Connection c = as(owner).getConnection(); Statement st = c.createStatement()) {
        st.execute(grants(web, worker, cron));
      }
    }
  }

  /** Drops the database and the roles, and stops the server. */
  @Override
  public void close() throws SQLException {
    try {
      db.drop();
      try (Connection c = server.adminConnection(); Statement st = c.createStatement()) {
        for (String role : new String[] {web, worker, cron, owner}) {
          st.execute("DROP ROLE IF EXISTS " + role);
        }
      }
    } finally {
      server.close();
    }
  }
}
