package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.ConnectionFactory;
import io.github.pgqueue.Migrator;
import java.net.URI;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Connections for the example's processes: a HikariCP pool per process, sized for its pillar. */
final class Database {

  private static final Logger log = LoggerFactory.getLogger(Database.class);

  private Database() {}

  /**
   * A database URL in either form: {@code postgres://user:pass@host:port/db?sslmode=require} (what
   * fly.io and Heroku set) or {@code jdbc:postgresql://host:port/db?user=...}.
   */
  record Url(String jdbcUrl, String user, String password, boolean dev) {

    static Url parse(String value, boolean dev) {
      String v = value.trim();
      if (v.startsWith("jdbc:postgresql://")) {
        Config.uri("DATABASE_URL", v.substring("jdbc:".length())); // validates the shape
        return new Url(v, null, null, dev);
      }
      if (!(v.startsWith("postgres://") || v.startsWith("postgresql://"))) {
        throw new IllegalArgumentException(
            "DATABASE_URL must start with postgres://, postgresql:// or jdbc:postgresql://, got: \""
                + redact(v) + "\"");
      }
      URI u = Config.uri("DATABASE_URL", v);
      if (u.getHost() == null || u.getHost().isBlank()) {
        throw new IllegalArgumentException("DATABASE_URL has no host: \"" + redact(v) + "\"");
      }
      String path = u.getRawPath();
      if (path == null || path.length() <= 1) {
        throw new IllegalArgumentException("DATABASE_URL names no database (…/dbname): \"" + redact(v) + "\"");
      }
      String user = null;
      String password = null;
      if (u.getRawUserInfo() != null) {
        String[] up = u.getRawUserInfo().split(":", 2);
        user = Config.decode(up[0]);
        password = up.length > 1 ? Config.decode(up[1]) : null;
      }
      int port = u.getPort() > 0 ? u.getPort() : 5432;
      String query = u.getRawQuery() == null ? "" : "?" + u.getRawQuery();
      return new Url("jdbc:postgresql://" + u.getHost() + ":" + port + path + query, user, password, dev);
    }

    /** Never print a password. */
    static String redact(String url) {
      return url.replaceAll("://([^:/@]*):[^@]*@", "://$1:***@");
    }

    @Override
    public String toString() {
      return redact(jdbcUrl) + (user != null ? " as " + user : "");
    }
  }

  static HikariDataSource pool(Url url, String name, int size) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(url.jdbcUrl());
    if (url.user() != null) {
      c.setUsername(url.user());
    }
    if (url.password() != null) {
      c.setPassword(url.password());
    }
    c.setPoolName(name);
    c.setMaximumPoolSize(size);
    c.setMinimumIdle(1);
    // Fail fast during an outage: pgqueue retries on its own.
    c.setConnectionTimeout(5_000);
    // Start even while the database is still coming up (the Procfile starts everything at once).
    c.setInitializationFailTimeout(-1);
    return new HikariDataSource(c);
  }

  /** A direct connection outside the pool, for the worker's LISTEN and heartbeat. */
  static ConnectionFactory direct(Url url) {
    String sep = url.jdbcUrl().contains("?") ? "&" : "?";
    String jdbc = url.jdbcUrl() + sep + "tcpKeepAlive=true";
    return () -> DriverManager.getConnection(jdbc, url.user(), url.password());
  }

  /** The example's own tables, next to pgqueue's. */
  static void migrate(DataSource ds) {
    List<Integer> applied = Migrator.create(ds).migrate();
    try (Connection c = ds.getConnection();
        Statement st = c.createStatement()) {
      st.execute(
          """
          CREATE TABLE IF NOT EXISTS users (
              id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              email       text        NOT NULL UNIQUE,
              created_at  timestamptz NOT NULL DEFAULT now(),
              welcomed_at timestamptz,
              crm_synced_at timestamptz
          );
          CREATE TABLE IF NOT EXISTS activity (
              id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              kind   text        NOT NULL,
              detail text        NOT NULL,
              at     timestamptz NOT NULL DEFAULT now()
          );
          """);
    } catch (SQLException e) {
      throw new IllegalStateException("creating the example's tables failed", e);
    }
    log.info("migrated: pgqueue {} (applied {}), example tables ready",
        Migrator.latestVersion(), applied);
  }

  /**
   * Waits until the schema is migrated: processes started together by a Procfile come up before
   * the release step or the dev database has finished. Gives up after {@code timeout}.
   */
  static void awaitSchema(DataSource ds, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    boolean logged = false;
    while (true) {
      try (Connection c = ds.getConnection();
          Statement st = c.createStatement()) {
        st.execute("SELECT 1 FROM users LIMIT 1");
        if (Migrator.create(ds).installedVersion() >= Migrator.latestVersion()) {
          return;
        }
      } catch (SQLException | RuntimeException e) {
        if (System.nanoTime() > deadline) {
          throw new SchemaVersionWaitTimeout(timeout, e);
        }
      }
      if (!logged) {
        log.info("waiting for the database and its schema (run the migrate process)...");
        logged = true;
      }
      Thread.sleep(500);
    }
  }

  /** The schema did not appear in time. */
  static final class SchemaVersionWaitTimeout extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    SchemaVersionWaitTimeout(Duration timeout, Exception last) {
      super("the database schema was not ready after " + timeout + " (is the migrate process running?); last error: "
          + last.getMessage(), last);
    }
  }
}
