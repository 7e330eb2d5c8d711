package io.github.pgqueue.bench;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
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
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code --pgbouncer}: a real PgBouncer ({@value #BINARY}, Debian's package) in transaction mode
 * on a free loopback port in front of the benchmark's server, for the workload's pool and the
 * ceiling's connections. PgBouncer refuses to run as root, so as root it runs as {@code postgres}
 * (or {@code nobody}) through {@code runuser}, from a temporary directory of its own (configuration, log, pid file).
 */
final class BenchPgBouncer implements AutoCloseable {

  static final String BINARY = "/usr/sbin/pgbouncer";

  final int port;
  private final Path dir;
  private final Process process;

  private BenchPgBouncer(int port, Path dir, Process process) {
    this.port = port;
    this.dir = dir;
    this.process = process;
  }

  /**
   * Starts one in front of PostgreSQL at {@code host:serverPort}, trusting {@code user}, and waits
   * until it answers.
   *
   * @throws IllegalStateException naming the binary when PgBouncer is not installed
   */
  static BenchPgBouncer start(String host, int serverPort, String user) throws Exception {
    if (!new File(BINARY).canExecute()) {
      throw new IllegalStateException("--pgbouncer needs " + BINARY + " (apt-get install -y pgbouncer)");
    }
    Path dir = Files.createTempDirectory("pgqueue-bench-pgbouncer");
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    // Pool of 20 server connections per database: above the workload's 16 client connections, so
    // clients never queue in PgBouncer for a server connection.
    String ini = String.join("\n",
        "[databases]",
        "* = host=" + host + " port=" + serverPort,
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        "listen_port = " + port,
        "unix_socket_dir =",
        "auth_type = trust",
        "auth_file = " + dir.resolve("userlist.txt"),
        "pool_mode = transaction",
        "max_client_conn = 200",
        "default_pool_size = 20",
        "ignore_startup_parameters = extra_float_digits,options",
        "logfile = " + dir.resolve("pgbouncer.log"),
        "pidfile = " + dir.resolve("pgbouncer.pid"),
        "");
    Files.writeString(dir.resolve("pgbouncer.ini"), ini, StandardCharsets.UTF_8);
    Files.writeString(dir.resolve("userlist.txt"), "\"" + user + "\" \"\"\n", StandardCharsets.UTF_8);
    List<String> cmd = new ArrayList<>();
    if ("root".equals(System.getProperty("user.name"))) {
      String runAs = userExists("postgres") ? "postgres" : "nobody";
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
    BenchPgBouncer b = new BenchPgBouncer(port, dir, p);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (true) {
      try (Connection c = DriverManager.getConnection(b.jdbcUrl("postgres", "user=" + user + "&prepareThreshold=0"))) {
        if (c.isValid(2)) {
          return b;
        }
      } catch (Exception e) {
        if (!p.isAlive() || System.nanoTime() > deadline) {
          b.close();
          throw new IllegalStateException("PgBouncer did not start: " + b.log(), e);
        }
        Thread.sleep(100);
      }
    }
  }

  private static boolean userExists(String user) throws IOException, InterruptedException {
    return new ProcessBuilder("id", "-u", user).redirectErrorStream(true).start().waitFor() == 0;
  }

  /** A JDBC URL to {@code database} through this PgBouncer, with URL parameters {@code params}. */
  String jdbcUrl(String database, String params) {
    return "jdbc:postgresql://127.0.0.1:" + port + "/" + database + (params.isEmpty() ? "" : "?" + params);
  }

  String log() {
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
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly().waitFor();
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException ignored) {
      // a temporary directory; the OS cleans it eventually
    }
  }
}
