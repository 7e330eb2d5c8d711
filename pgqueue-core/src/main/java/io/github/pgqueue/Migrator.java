package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import io.github.pgqueue.internal.Identifiers;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Installs and upgrades the pgqueue schema.
 *
 * <p>Migrations are numbered SQL files shipped in this jar. {@link #migrate()} applies the missing
 * ones in order, each in its own transaction under a transaction-scoped advisory lock, and records
 * each in {@code <schema>.schema_migrations}. It is idempotent and safe when many processes start
 * at once (one applies, the others wait and then find nothing to do), and safe through PgBouncer
 * in transaction mode (the lock lives exactly as long as the transaction).
 *
 * <p>Neither {@link JobQueue} nor the worker migrate on their own: run {@code migrate()} as a
 * release step (or at start-up if you prefer). They check the installed version instead, and fail
 * with a {@link SchemaVersionException} naming this class when the schema is missing or older than
 * the code. Within a major version migrations only add, so processes of the previous release keep
 * working while a rolling deploy runs.
 *
 * <p>Teams that manage DDL with Flyway or Liquibase can take the SQL from {@link #script(String,
 * int)} (or {@code java -jar pgqueue-cli-VERSION-all.jar print}, from {@code pgqueue-cli}) instead: it
 * includes the bookkeeping rows, so the version check passes afterwards.
 *
 * <p>Migrations never use {@code CREATE INDEX CONCURRENTLY}, which cannot run in a transaction.
 */
public final class Migrator {

  /** The schema pgqueue uses unless told otherwise. */
  public static final String DEFAULT_SCHEMA = "pgqueue";

  private static final Logger log = LoggerFactory.getLogger(Migrator.class);

  /** The migrations, in order; version i is MIGRATIONS.get(i - 1). */
  private static final List<String> MIGRATIONS =
      List.of(
          "V001__jobs_and_workers.sql",
          "V002__cron.sql",
          "V003__claim_tokens_and_worker_settings.sql",
          "V004__trace_context.sql",
          "V005__job_progress.sql",
          "V006__flow_control.sql",
          "V007__rollups_and_cron_admin.sql",
          "V008__concurrency_keys.sql",
          "V009__worker_concurrency.sql",
          "V010__hot_path_functions.sql",
          "V011__key_rate_limits.sql",
          "V012__enqueue_v2.sql",
          "V013__claim_by_name.sql",
          "V014__claim_controlled_v2.sql",
          "V015__claim_v2.sql",
          "V016__claim_plans.sql",
          "V017__queue_name_statistics.sql");

  /** First half of the advisory lock key: "pgqu" in ASCII. The second half is the schema's hash. */
  private static final int LOCK_CLASS = 0x70677175;

  private final DataSource dataSource;
  private final String schema;

  private Migrator(DataSource dataSource, String schema) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    this.schema = Identifiers.schema(schema);
  }

  /**
   * A migrator for the default schema {@value #DEFAULT_SCHEMA}.
   *
   * @param dataSource where to connect; the role needs CREATE on the database (or an existing
   *     schema it owns)
   * @return the migrator
   */
  public static Migrator create(DataSource dataSource) {
    return new Migrator(dataSource, DEFAULT_SCHEMA);
  }

  /**
   * A migrator for the given schema.
   *
   * @param dataSource where to connect
   * @param schema a lowercase SQL identifier (a-z, 0-9, _), at most 48 characters
   * @return the migrator
   * @throws IllegalArgumentException if the schema name is invalid; the message names it
   */
  public static Migrator create(DataSource dataSource, String schema) {
    return new Migrator(dataSource, schema);
  }

  /**
   * The schema version this code ships and needs.
   *
   * @return the number of the newest migration in this jar
   */
  public static int latestVersion() {
    return MIGRATIONS.size();
  }

  /**
   * The schema this migrator manages.
   *
   * @return the schema name
   */
  public String schema() {
    return schema;
  }

  /**
   * Applies every migration newer than the installed version, in order, each in one transaction
   * under the advisory lock. Does nothing (and takes no lock) when the schema is up to date.
   *
   * <p>Before applying anything it checks that each version already recorded was recorded under
   * the name this jar gives it, and refuses to run (naming both) if not: a schema migrated by
   * another build, or by hand, must not be taken for this one because its numbers match.
   *
   * @return the versions applied by this call, in order; empty when there was nothing to do
   * @throws PgQueueException if a migration fails (earlier ones stay applied, the failing one is
   *     rolled back whole), or if a recorded version has another name than this jar's
   */
  public List<Integer> migrate() {
    List<Integer> applied = new ArrayList<>();
    try {
      // Each transaction through Borrowed: committed whatever the pool's autocommit default, and at
      // READ COMMITTED whatever the session's isolation. Under REPEATABLE READ the snapshot would be
      // taken by the lock statement before it waits, so a migrator that waited for another would
      // not see its work and fail with "already exists".
      if (Borrowed.transaction(dataSource, true, this::checkedVersion) >= latestVersion()) {
        return applied;
      }
      while (true) {
        int next = Borrowed.transaction(dataSource, false, this::applyNext);
        if (next == 0) {
          break;
        }
        applied.add(next);
      }
    } catch (SQLException e) {
      throw new PgQueueException(
          "migrating pgqueue schema \"" + schema + "\" failed after applying " + applied, e);
    }
    return applied;
  }

  /**
   * The version installed in the database: 0 when pgqueue is not installed in this schema.
   *
   * @return the installed version
   * @throws PgQueueException if the database cannot be read
   */
  public int installedVersion() {
    try {
      return Borrowed.transaction(dataSource, true, this::installedVersion);
    } catch (SQLException e) {
      throw new PgQueueException("reading the pgqueue schema version failed", e);
    }
  }

  /** One transaction: lock, read the version, apply the next migration if any. Returns it or 0. */
  private int applyNext(Connection c) throws SQLException {
    try (Statement st = c.createStatement()) {
      try (PreparedStatement lock = c.prepareStatement("SELECT pg_advisory_xact_lock(?, ?)")) {
        lock.setInt(1, LOCK_CLASS);
        lock.setInt(2, schema.hashCode());
        lock.execute();
      }
      // Under the lock, so concurrent migrators cannot race on the catalog.
      st.execute(bootstrapSql(schema));
      int current = checkedVersion(c);
      if (current >= latestVersion()) {
        return 0;
      }
      int next = current + 1;
      String name = MIGRATIONS.get(next - 1);
      st.execute(migrationSql(name, schema));
      try (PreparedStatement rec =
          c.prepareStatement(
              "INSERT INTO " + schema + ".schema_migrations (version, name) VALUES (?, ?)")) {
        rec.setInt(1, next);
        rec.setString(2, name);
        rec.executeUpdate();
      }
      log.info("pgqueue: applied migration {} ({}) to schema \"{}\"", next, name, schema);
      return next;
    }
  }

  /**
   * The installed version, after checking that every recorded version this jar knows was recorded
   * under this jar's name for it.
   *
   * @throws PgQueueException naming both names if one differs
   */
  private int checkedVersion(Connection c) throws SQLException {
    if (installedVersion(c) == 0) {
      return 0;
    }
    int max = 0;
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT version, name FROM " + schema + ".schema_migrations ORDER BY version")) {
      while (rs.next()) {
        int version = rs.getInt(1);
        String recorded = rs.getString(2);
        max = Math.max(max, version);
        if (version >= 1 && version <= latestVersion() && !MIGRATIONS.get(version - 1).equals(recorded)) {
          throw new PgQueueException(
              "pgqueue schema \"" + schema + "\": version " + version + " is recorded as migration \""
                  + recorded + "\", but this pgqueue's version " + version + " is \""
                  + MIGRATIONS.get(version - 1) + "\". The schema was not installed by this"
                  + " pgqueue's migrations; refusing to migrate it. Check which release or tool"
                  + " installed it before changing anything.");
        }
      }
    }
    return max;
  }

  static int installedVersion(Connection c, String schema) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
      ps.setString(1, schema + ".schema_migrations");
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        if (!rs.getBoolean(1)) {
          return 0;
        }
      }
    }
    try (Statement st = c.createStatement();
        ResultSet rs =
            st.executeQuery("SELECT coalesce(max(version), 0) FROM " + schema + ".schema_migrations")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private int installedVersion(Connection c) throws SQLException {
    return installedVersion(c, schema);
  }

  private static String bootstrapSql(String schema) {
    // Not CREATE SCHEMA IF NOT EXISTS: PostgreSQL checks CREATE on the database before it looks
    // for the schema, so an owner given an existing schema (and no CREATE on the database, as
    // least privilege has it) could not migrate. Create it only when it is missing.
    return "DO $pgqueue$ BEGIN\n"
        + "  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '" + schema + "') THEN\n"
        + "    CREATE SCHEMA " + schema + ";\n"
        + "  END IF;\n"
        + "END $pgqueue$;\n"
        + "CREATE TABLE IF NOT EXISTS " + schema + ".schema_migrations (\n"
        + "    version    integer     PRIMARY KEY,\n"
        + "    name       text        NOT NULL,\n"
        + "    applied_at timestamptz NOT NULL DEFAULT now()\n"
        + ");\n";
  }

  private static String migrationSql(String resource, String schema) {
    String path = "migrations/" + resource;
    try (InputStream in = Migrator.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalStateException("migration resource missing from the jar: " + path);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("${schema}", schema);
    } catch (IOException e) {
      throw new UncheckedIOException("reading migration " + path, e);
    }
  }

  /**
   * The full SQL that installs the schema from nothing, for migration tools such as Flyway or
   * Liquibase. Same as {@code script(schema, 0)}.
   *
   * @param schema the schema name
   * @return SQL text; run it in one transaction
   * @throws IllegalArgumentException if the schema name is invalid
   */
  public static String script(String schema) {
    return script(schema, 0);
  }

  /**
   * The SQL that upgrades the schema from {@code fromVersion} to {@link #latestVersion()}: the
   * migrations after {@code fromVersion} plus the rows that record them in {@code
   * schema_migrations}, so that {@link JobQueue} and the worker accept the schema afterwards. Run
   * it in one transaction.
   *
   * @param schema the schema name
   * @param fromVersion the version already installed (0 for none)
   * @return SQL text, empty of migrations when {@code fromVersion} is already the latest
   * @throws IllegalArgumentException if the schema name is invalid or {@code fromVersion} is out of
   *     range
   */
  public static String script(String schema, int fromVersion) {
    Identifiers.schema(schema);
    if (fromVersion < 0 || fromVersion > latestVersion()) {
      throw new IllegalArgumentException(
          "fromVersion must be between 0 and " + latestVersion() + ", got: " + fromVersion);
    }
    StringBuilder sb = new StringBuilder();
    sb.append("-- pgqueue schema \"").append(schema).append("\" from version ").append(fromVersion)
        .append(" to ").append(latestVersion()).append("\n\n");
    sb.append(bootstrapSql(schema)).append('\n');
    for (int v = fromVersion + 1; v <= latestVersion(); v++) {
      String name = MIGRATIONS.get(v - 1);
      sb.append("-- migration ").append(v).append(": ").append(name).append('\n');
      sb.append(migrationSql(name, schema)).append('\n');
      sb.append("INSERT INTO ").append(schema).append(".schema_migrations (version, name) VALUES (")
          .append(v).append(", '").append(name).append("') ON CONFLICT (version) DO NOTHING;\n\n");
    }
    return sb.toString();
  }
}
