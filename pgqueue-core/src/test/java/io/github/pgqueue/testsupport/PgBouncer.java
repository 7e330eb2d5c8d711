package io.github.pgqueue.testsupport;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * A real PgBouncer (Debian's package, {@code apt-get install -y pgbouncer}) in transaction mode on a
 * free loopback port, in front of a test server, started and stopped by the test. PgBouncer refuses
 * to run as root, so as root it runs as {@code postgres} (or {@code nobody}) through {@code
 * runuser}, with a temporary directory of its own for its configuration, log and pid file.
 *
 * <p>Shared with pgqueue-cron's tests through core's test jar.
 */
public final class PgBouncer implements AutoCloseable {

  /** Where Debian installs it. */
  public static final String BINARY = "/usr/sbin/pgbouncer";

  /** The loopback port it listens on. */
  public final int port;
  private final Path dir;
  private final Process process;

  private PgBouncer(int port, Path dir, Process process) {
    this.port = port;
    this.dir = dir;
    this.process = process;
  }

  /**
   * The tests' usual setup: an embedded PostgreSQL with one database (schema {@code pgqueue}),
   * behind a PgBouncer.
   *
   * @param server the server
   * @param db its database
   * @param bouncer the PgBouncer in front of it
   */
  public record Setup(TestPostgres server, TestDatabase db, PgBouncer bouncer) {

    /** Starts all three, or skips the calling test class (a JUnit assumption) where PgBouncer cannot run. */
    public static Setup startOrSkip(String poolMode) throws Exception {
      String reason = unavailableReason();
      Assumptions.assumeTrue(reason == null, () -> "PgBouncer tests skipped: " + reason);
      TestPostgres server = TestPostgres.startEmbedded();
      try {
        TestDatabase db = server.createDatabase("pgqueue");
        return new Setup(server, db, start(server, poolMode));
      } catch (Exception | Error e) {
        server.close();
        throw e;
      }
    }

    /** Stops PgBouncer and the server; returns PgBouncer's log, for the caller to check. */
    public String stop() throws InterruptedException {
      try {
        String log = bouncer.log();
        bouncer.close();
        return log;
      } finally {
        server.close();
      }
    }
  }

  /** Why PgBouncer cannot run here, or null if it can. */
  public static String unavailableReason() {
    if (!new File(BINARY).canExecute()) {
      return BINARY + " not found: install Debian's PgBouncer with `apt-get install -y pgbouncer` (.ci/run does)";
    }
    if (isRoot() && runAsUser() == null) {
      return "running as root, and neither user postgres nor nobody exists to run PgBouncer as";
    }
    return null;
  }

  /** Starts one in front of {@code server} in {@code poolMode} ("transaction", "session"). */
  public static PgBouncer start(TestPostgres server, String poolMode) throws Exception {
    return start("127.0.0.1", server.port(), server.user(), poolMode, 8);
  }

  /**
   * Starts one in front of the PostgreSQL at {@code host:serverPort}, trusting {@code user}, in
   * {@code poolMode} ("transaction", "session") with {@code poolSize} server connections per
   * database, and waits (up to 20 s) until it answers. The benchmark's {@code --pgbouncer} uses it
   * too.
   *
   * @throws IllegalStateException naming the binary when PgBouncer is not installed, or with its
   *     log when it exits or does not answer
   */
  public static PgBouncer start(String host, int serverPort, String user, String poolMode, int poolSize)
      throws Exception {
    String unavailable = unavailableReason();
    if (unavailable != null) {
      throw new IllegalStateException(unavailable);
    }
    Path dir = Files.createTempDirectory("pgqueue-pgbouncer");
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    String ini = """
        [databases]
        * = host=%s port=%d
        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = %d
        unix_socket_dir =
        auth_type = trust
        auth_file = %s/userlist.txt
        pool_mode = %s
        max_client_conn = 200
        default_pool_size = %d
        ignore_startup_parameters = extra_float_digits,options
        logfile = %s/pgbouncer.log
        pidfile = %s/pgbouncer.pid
        """.formatted(host, serverPort, port, dir, poolMode, poolSize, dir, dir);
    Files.writeString(dir.resolve("pgbouncer.ini"), ini, StandardCharsets.UTF_8);
    Files.writeString(dir.resolve("userlist.txt"), "\"" + user + "\" \"\"\n", StandardCharsets.UTF_8);
    List<String> cmd = new ArrayList<>();
    if (isRoot()) {
      String runAs = runAsUser();
      UserPrincipal owner = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(runAs);
      try (Stream<Path> files = Files.list(dir)) {
        for (Path p : files.toList()) {
          Files.setOwner(p, owner);
        }
      }
      Files.setOwner(dir, owner);
      cmd.addAll(List.of("runuser", "-u", runAs, "--"));
    }
    cmd.addAll(List.of(BINARY, dir.resolve("pgbouncer.ini").toString()));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("stdout.txt").toFile()).start();
    PgBouncer b = new PgBouncer(port, dir, p);
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
    while (true) {
      if (!p.isAlive()) {
        b.close();
        throw new IllegalStateException("pgbouncer exited: " + b.log());
      }
      try (Connection c = DriverManager.getConnection(b.jdbcUrl("postgres", "prepareThreshold=0"), user, null)) {
        if (c.isValid(2)) {
          return b;
        }
      } catch (java.sql.SQLException e) {
        if (System.nanoTime() > deadline) {
          b.close();
          throw new IllegalStateException("pgbouncer did not answer within 20 s: " + e + "\n" + b.log(), e);
        }
      }
      Thread.sleep(100);
    }
  }

  /** A JDBC URL to {@code database} through this PgBouncer, with URL parameters {@code params}. */
  public String jdbcUrl(String database, String params) {
    return "jdbc:postgresql://127.0.0.1:" + port + "/" + database + (params.isEmpty() ? "" : "?" + params);
  }

  /** PgBouncer's own log, for assertions and failure messages. */
  public String log() {
    try {
      Path log = dir.resolve("pgbouncer.log");
      Path out = dir.resolve("stdout.txt");
      return (Files.exists(log) ? Files.readString(log) : "") + (Files.exists(out) ? Files.readString(out) : "");
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  @Override
  public void close() throws InterruptedException {
    process.toHandle().descendants().forEach(ProcessHandle::destroy);
    process.destroy();
    if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
      process.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly().waitFor();
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException ignored) {
      // a temporary directory; the OS cleans it eventually
    }
  }

  private static boolean isRoot() {
    return "root".equals(System.getProperty("user.name"));
  }

  private static String runAsUser() {
    for (String user : new String[] {"postgres", "nobody"}) {
      try {
        Process id = new ProcessBuilder("id", "-u", user).redirectErrorStream(true).start();
        if (id.waitFor() == 0) {
          return user;
        }
      } catch (IOException | InterruptedException e) {
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
      }
    }
    return null;
  }
}
