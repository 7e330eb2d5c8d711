package io.github.pgqueue.spring;

import io.github.pgqueue.ConnectionSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Objects;
import javax.sql.DataSource;
import org.springframework.jdbc.datasource.DataSourceUtils;

/**
 * A {@link ConnectionSource} that takes each connection the way Spring's JDBC support does
 * ({@link DataSourceUtils}), so that {@link io.github.pgqueue.JobQueue#enqueue} inside a
 * Spring-managed transaction ({@code @Transactional}, {@code TransactionTemplate}, with a {@code
 * DataSourceTransactionManager} or a {@code JpaTransactionManager} on the same DataSource) runs on
 * that transaction's connection: the job exists exactly when the caller's transaction commits, and
 * disappears with its rollback.
 *
 * <ul>
 *   <li>Inside a Spring transaction on {@code dataSource}, the queue joins it and never commits,
 *       rolls back, or reconfigures the connection; the connection stays with its transaction.
 *   <li>Outside one (or in a transaction scope that holds a connection in autocommit, such as
 *       {@code PROPAGATION_SUPPORTS}), the queue owns its transaction and commits its own work, as
 *       it does without Spring.
 * </ul>
 *
 * <p>{@code dataSource} must be the DataSource the transaction manager manages (the application's
 * pool, not a {@code TransactionAwareDataSourceProxy} around it). Thread-safe.
 */
public final class SpringConnectionSource implements ConnectionSource {

  private final DataSource dataSource;

  /**
   * A source on {@code dataSource}.
   *
   * @param dataSource the DataSource the application's transaction manager manages
   * @throws NullPointerException if it is null
   */
  public SpringConnectionSource(DataSource dataSource) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
  }

  /**
   * The connection of the current Spring transaction on the DataSource, or a new one.
   *
   * @return an open connection
   * @throws SQLException if none can be had
   */
  @Override
  public Connection getConnection() throws SQLException {
    try {
      return DataSourceUtils.doGetConnection(dataSource);
    } catch (IllegalStateException e) {
      // Thrown by doGetConnection when the DataSource hands out null.
      throw new SQLException("the DataSource returned no connection: " + e.getMessage(), "08001", e);
    }
  }

  /**
   * True when {@code connection} is the one bound to the current Spring transaction and that
   * transaction is real (autocommit off). A bound connection in autocommit (a transaction scope
   * without a transaction) is not joined: the queue commits its own work on it.
   *
   * @param connection a connection from {@link #getConnection()}
   * @return whether to join the caller's transaction
   * @throws SQLException if autocommit cannot be read
   */
  @Override
  public boolean joinsTransaction(Connection connection) throws SQLException {
    return DataSourceUtils.isConnectionTransactional(connection, dataSource) && !connection.getAutoCommit();
  }

  /**
   * Closes a connection the queue took for itself; leaves a transaction's connection open for its
   * owner.
   *
   * @param connection the connection from {@link #getConnection()}
   * @throws SQLException if closing fails
   */
  @Override
  public void release(Connection connection) throws SQLException {
    DataSourceUtils.doReleaseConnection(connection, dataSource);
  }

  @Override
  public String toString() {
    return "SpringConnectionSource(" + dataSource + ")";
  }
}
