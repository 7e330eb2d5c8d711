package io.github.pgqueue;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Opens a new physical connection. Used for the worker's dedicated connection (LISTEN and
 * heartbeat), which must not come from a pool and, behind PgBouncer, should point at PostgreSQL
 * directly. For example:
 *
 * <pre>{@code
 * ConnectionFactory direct = () -> DriverManager.getConnection(
 *     "jdbc:postgresql://db:5432/app?tcpKeepAlive=true", user, password);
 * }</pre>
 */
@FunctionalInterface
public interface ConnectionFactory {

  /**
   * Opens a connection; the caller closes it.
   *
   * @return a new connection
   * @throws SQLException if the database cannot be reached
   */
  Connection connect() throws SQLException;
}
