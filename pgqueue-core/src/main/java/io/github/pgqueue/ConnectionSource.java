package io.github.pgqueue;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * How a {@link JobQueue} obtains the connection for one operation, and whether that connection
 * belongs to a transaction someone else manages. Set with {@link JobQueue.Builder#connectionSource};
 * the default is {@link #of(DataSource)} on the queue's DataSource.
 *
 * <p>For each operation (enqueue, bulk enqueue, reads, administration, the schema check) the queue
 * calls {@link #getConnection()}, asks {@link #joinsTransaction(Connection)}, does its work, and
 * calls {@link #release(Connection)} once, whatever happened:
 *
 * <ul>
 *   <li><b>Not joined</b>: the queue owns the transaction. It runs its work in one READ COMMITTED
 *       transaction, commits it whatever the connection's autocommit default, and gives the
 *       connection back as it came (autocommit restored). When the operation returns, the job is
 *       durable.
 *   <li><b>Joined</b>: the connection is already in the caller's transaction (what a Spring
 *       transaction-aware DataSource hands out inside {@code @Transactional}). The queue runs its
 *       statements on it and never commits, rolls back, or changes its autocommit or isolation: the
 *       job exists exactly when the caller's transaction commits. A failed statement leaves that
 *       transaction aborted, and the exception says so; deadlocks are not retried. A joined
 *       connection must not be in autocommit (there would be no transaction to join): the queue
 *       refuses it with an {@link IllegalStateException} before running anything.
 * </ul>
 *
 * <p>{@link #release(Connection)} decides whether the connection is closed: a joined source
 * typically leaves it open for the transaction's owner. A release that fails after the work
 * succeeded is logged, not thrown (the work is done).
 *
 * <p>Implementations must be thread-safe. Workers do not use a connection source: they own their
 * transactions and take connections from the DataSource given to them.
 */
public interface ConnectionSource {

  /**
   * A connection for one operation.
   *
   * @return an open connection
   * @throws SQLException if none can be obtained
   */
  Connection getConnection() throws SQLException;

  /**
   * Whether {@code connection} (just returned by {@link #getConnection()}) is part of a transaction
   * the queue must join rather than own.
   *
   * @param connection the connection
   * @return true to join (never commit, roll back or reconfigure it)
   * @throws SQLException if it cannot be told
   */
  boolean joinsTransaction(Connection connection) throws SQLException;

  /**
   * Gives the connection back after the operation. The default closes it (returning it to a pool).
   *
   * @param connection the connection from {@link #getConnection()}
   * @throws SQLException if releasing fails
   */
  default void release(Connection connection) throws SQLException {
    connection.close();
  }

  /**
   * The default source: a connection from {@code dataSource} per operation, never joined, closed
   * afterwards.
   *
   * @param dataSource where to connect
   * @return the source
   */
  static ConnectionSource of(DataSource dataSource) {
    Objects.requireNonNull(dataSource, "dataSource");
    return new ConnectionSource() {
      @Override
      public Connection getConnection() throws SQLException {
        return dataSource.getConnection();
      }

      @Override
      public boolean joinsTransaction(Connection connection) {
        return false;
      }

      @Override
      public String toString() {
        return "ConnectionSource.of(" + dataSource + ")";
      }
    };
  }
}
