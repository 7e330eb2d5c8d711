package io.github.pgqueue.testing.postgres;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * One test database: its connection details, a {@link DataSource} that opens a new physical
 * connection per call (no pool, so tests see real connection behaviour; wrap it in a pool if a
 * test needs one), and a few conveniences for tests.
 */
public final class TestDatabase {

  private final TestPostgres server;
  private final String name;
  private final String schema;
  private final DataSource dataSource;

  TestDatabase(TestPostgres server, String name, String schema) {
    this.server = server;
    this.name = name;
    this.schema = schema;
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(server.jdbcUrl(name));
    ds.setUser(server.user());
    if (server.password() != null) {
      ds.setPassword(server.password());
    }
    this.dataSource = ds;
  }

  /**
   * A data source for this database; each {@code getConnection()} opens a new connection.
   *
   * @return the data source
   */
  public DataSource dataSource() {
    return dataSource;
  }

  /**
   * The JDBC URL of this database, without credentials.
   *
   * @return the URL
   */
  public String jdbcUrl() {
    return server.jdbcUrl(name);
  }

  /**
   * The JDBC URL with the user (and password, if any) as parameters: enough on its own for a
   * child process.
   *
   * @return the URL with credentials
   */
  public String jdbcUrlWithCredentials() {
    String url = jdbcUrl();
    String sep = url.contains("?") ? "&" : "?";
    url += sep + "user=" + server.user();
    if (server.password() != null) {
      url += "&password=" + server.password();
    }
    return url;
  }

  /**
   * The user name to connect as.
   *
   * @return the user
   */
  public String user() {
    return server.user();
  }

  /**
   * The password, or null for none.
   *
   * @return the password
   */
  public String password() {
    return server.password();
  }

  /**
   * The database name (random, {@code pgq_test_...}).
   *
   * @return the name
   */
  public String name() {
    return name;
  }

  /**
   * The pgqueue schema migrated into this database.
   *
   * @return the schema
   */
  public String schema() {
    return schema;
  }

  /**
   * The server hosting this database.
   *
   * @return the server
   */
  public TestPostgres server() {
    return server;
  }

  /**
   * Empties every pgqueue table in {@link #schema()} except the migration history, so one test's
   * jobs cannot leak into the next test of the same class.
   */
  public void truncate() {
    try (Connection c = dataSource.getConnection();
        Statement st = c.createStatement()) {
      List<String> tables = new ArrayList<>();
      try (ResultSet rs =
          st.executeQuery(
              "SELECT tablename FROM pg_tables WHERE schemaname = '" + schema
                  + "' AND tablename <> 'schema_migrations'")) {
        while (rs.next()) {
          tables.add(schema + "." + rs.getString(1));
        }
      }
      if (!tables.isEmpty()) {
        st.execute("TRUNCATE " + String.join(", ", tables));
      }
    } catch (SQLException e) {
      throw new IllegalStateException("truncating the pgqueue tables failed", e);
    }
  }

  /**
   * Runs one SQL statement (or several separated by semicolons) in autocommit.
   *
   * @param sql the SQL
   */
  public void execute(String sql) {
    try (Connection c = dataSource.getConnection();
        Statement st = c.createStatement()) {
      st.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException("SQL failed: " + sql, e);
    }
  }

  /**
   * Runs a query that returns one number in the first column of its first row, e.g. a count.
   *
   * @param sql the query
   * @return the number; 0 if the value is SQL NULL
   */
  public long queryLong(String sql) {
    try (Connection c = dataSource.getConnection();
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      if (!rs.next()) {
        throw new IllegalStateException("query returned no row: " + sql);
      }
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new IllegalStateException("SQL failed: " + sql, e);
    }
  }

  /** Drops the database, closing any connection still open to it. */
  public void drop() {
    server.dropDatabase(name);
  }

  @Override
  public String toString() {
    return "TestDatabase[" + jdbcUrl() + ", schema " + schema + "]";
  }
}
