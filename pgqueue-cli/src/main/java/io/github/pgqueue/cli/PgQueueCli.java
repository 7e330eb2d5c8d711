package io.github.pgqueue.cli;

import io.github.pgqueue.Migrator;
import java.io.PrintStream;
import java.util.List;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * pgqueue's command line, for operators and release scripts:
 *
 * <pre>
 * java -jar pgqueue-cli-VERSION-all.jar print [--schema S] [--from N]
 * java -jar pgqueue-cli-VERSION-all.jar migrate --url JDBC_URL [--user U] [--password P] [--schema S]
 * </pre>
 *
 * <p>{@code print} writes {@link Migrator#script(String, int)} to standard output (for teams that
 * manage DDL with Flyway or Liquibase); {@code migrate} applies the migrations with {@link
 * Migrator#migrate()}. The password may also come from the {@code PGPASSWORD} environment
 * variable. Exit status 0 on success, 2 on a usage error, 1 when the database fails.
 */
public final class PgQueueCli {

  private PgQueueCli() {}

  /**
   * Runs the command line and exits with its status.
   *
   * @param args the arguments
   */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /**
   * Runs the command line without exiting.
   *
   * @param args the arguments
   * @param out where {@code print} writes the script and {@code migrate} its result
   * @param err where usage errors and failures go
   * @return the exit status: 0 on success, 2 on a usage error, 1 when the database fails
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o;
    try {
      o = Options.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("pgqueue: " + e.getMessage());
      err.println(USAGE);
      return 2;
    }
    try {
      if (o.command.equals("print")) {
        out.print(Migrator.script(o.schema, o.from));
        return 0;
      }
      PGSimpleDataSource ds = new PGSimpleDataSource();
      ds.setURL(o.url);
      if (o.user != null) {
        ds.setUser(o.user);
      }
      if (o.password != null) {
        ds.setPassword(o.password);
      }
      List<Integer> applied = Migrator.create(ds, o.schema).migrate();
      out.println(applied.isEmpty()
          ? "pgqueue schema \"" + o.schema + "\" is up to date at version " + Migrator.latestVersion()
          : "pgqueue schema \"" + o.schema + "\": applied " + applied);
      return 0;
    } catch (IllegalArgumentException e) {
      err.println("pgqueue: " + e.getMessage());
      return 2;
    } catch (RuntimeException e) {
      err.println("pgqueue: " + o.command + " failed: " + e);
      return 1;
    }
  }

  static final String USAGE =
      "usage: pgqueue print [--schema S] [--from N]\n"
          + "       pgqueue migrate --url JDBC_URL [--user U] [--password P] [--schema S]";

  /** The parsed arguments. */
  private record Options(String command, String schema, int from, String url, String user, String password) {

    static Options parse(String[] args) {
      if (args.length == 0 || !(args[0].equals("print") || args[0].equals("migrate"))) {
        throw new IllegalArgumentException(args.length == 0 ? "no command given" : "unknown command: " + args[0]);
      }
      String schema = Migrator.DEFAULT_SCHEMA;
      int from = 0;
      String url = null;
      String user = null;
      String password = System.getenv("PGPASSWORD");
      for (int i = 1; i < args.length; i += 2) {
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("missing value after " + args[i]);
        }
        String value = args[i + 1];
        switch (args[i]) {
          case "--schema" -> schema = value;
          case "--from" -> from = parseVersion(value);
          case "--url" -> url = value;
          case "--user" -> user = value;
          case "--password" -> password = value;
          default -> throw new IllegalArgumentException("unknown option: " + args[i]);
        }
      }
      if (args[0].equals("migrate") && url == null) {
        throw new IllegalArgumentException("migrate needs --url");
      }
      return new Options(args[0], schema, from, url, user, password);
    }

    private static int parseVersion(String value) {
      try {
        return Integer.parseInt(value);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("--from must be a migration number, got: " + value);
      }
    }
  }
}
