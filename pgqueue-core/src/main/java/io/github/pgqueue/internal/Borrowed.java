package io.github.pgqueue.internal;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How pgqueue uses a connection it borrows from the application's {@link DataSource}: the one
 * place that decides transaction boundaries, so every caller gets the same rules.
 *
 * <ul>
 *   <li>What pgqueue means to commit is committed, whatever the pool's autocommit default. A pool
 *       that hands out connections with autocommit off (HikariCP {@code autoCommit=false}, usual
 *       next to JPA) would otherwise roll a claim back on return, and the same jobs would be
 *       claimed and run again and again.
 *   <li>Every pgqueue transaction runs at READ COMMITTED, whatever the session's default. Under
 *       REPEATABLE READ or SERIALIZABLE a claim's {@code SKIP LOCKED} fails with serialization
 *       errors, and a migration's snapshot would predate its advisory lock.
 *   <li>The connection goes back as it came: autocommit restored, no session setting changed
 *       (isolation is set with {@code SET TRANSACTION}, which lasts one transaction).
 *   <li>A {@code close()} that throws after the work succeeded does not undo the result: the
 *       work is done (committed) and the caller must act on it, so the error is logged.
 *   <li>A connection that fails while its commit is in flight (the commit itself, or a statement
 *       run in autocommit) leaves the outcome unknown: PostgreSQL may have committed and the reply
 *       been lost. That failure is thrown as an {@link OutcomeUnknown}, with the driver's SQL state,
 *       so callers can say so instead of "nothing was written". A connection failure before the
 *       commit was sent is a plain rollback.
 * </ul>
 *
 * <p>A single statement on a connection in autocommit at READ COMMITTED runs as is: one round
 * trip, as before. Whether a session defaults to READ COMMITTED is asked once per physical
 * connection ({@link Connection#getTransactionIsolation()} costs a round trip in pgjdbc) and
 * remembered until a serialization failure says otherwise.
 *
 * <p>Every pgqueue module that borrows connections (core, cron) goes through this class.
 */
public final class Borrowed {

  private static final Logger log = LoggerFactory.getLogger(Borrowed.class);

  /** Physical connection -> whether its session defaults to READ COMMITTED. Weak: pools replace connections. */
  private static final Map<Object, Boolean> READ_COMMITTED = Collections.synchronizedMap(new WeakHashMap<>());

  private Borrowed() {}

  /**
   * The connection failed while a commit was in flight: the work may or may not be committed.
   * Keeps the SQL state of the driver's failure, which is its cause.
   */
  public static final class OutcomeUnknown extends SQLException {
    private static final long serialVersionUID = 1L;

    OutcomeUnknown(SQLException cause) {
      super("the connection failed while the commit was in flight; whether it committed is unknown: "
          + cause.getMessage(), cause.getSQLState(), cause.getErrorCode(), cause);
    }
  }

  /**
   * Whether {@code e} (or a cause of it) says the outcome of the work is unknown.
   *
   * @param e the failure
   * @return true if an {@link OutcomeUnknown} is in its cause chain
   */
  public static boolean outcomeUnknown(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof OutcomeUnknown) {
        return true;
      }
    }
    return false;
  }

  /**
   * A connection failure (SQL state class 08, or none at all, as pgjdbc reports some I/O errors).
   *
   * @param e the failure
   * @return true if the connection failed
   */
  public static boolean connectionFailure(SQLException e) {
    String state = e.getSQLState();
    return state == null || state.startsWith("08");
  }

  /**
   * Whether a transaction that failed with {@code e} may be retried at once: a deadlock (40P01) or
   * a serialization failure (40001). PostgreSQL rolled it back and nothing of it was written.
   *
   * @param e the failure
   * @return true if the transaction may be run again
   */
  public static boolean isTransient(SQLException e) {
    String state = e.getSQLState();
    return "40P01".equals(state) || "40001".equals(state);
  }

  /**
   * Work on a borrowed connection.
   *
   * @param <R> what the work returns
   */
  @FunctionalInterface
  public interface Work<R> {
    /**
     * Runs the work; it must not commit, roll back or close the connection.
     *
     * @param c the connection
     * @return the result
     * @throws SQLException as the statements throw it
     */
    R run(Connection c) throws SQLException;
  }

  /**
   * Borrows a connection, runs {@code work} in one READ COMMITTED transaction, commits, and returns
   * the connection as it came.
   *
   * @param dataSource where to borrow the connection
   * @param singleStatement true when the work is one statement, atomic on its own: on a connection
   *     in autocommit at READ COMMITTED it then runs without an explicit transaction
   * @param work the work
   * @param <R> what the work returns
   * @return what the work returned, once committed
   * @throws SQLException as the work, the commit or the connection throws it (an {@link
   *     OutcomeUnknown} when the commit's outcome is unknown)
   */
  public static <R> R transaction(DataSource dataSource, boolean singleStatement, Work<R> work) throws SQLException {
    Connection c = dataSource.getConnection();
    R result;
    try {
      result = transaction(c, singleStatement, work);
    } catch (SQLException | RuntimeException | Error e) {
      closeAfterFailure(c, e);
      throw e;
    }
    close(c);
    return result;
  }

  /**
   * As {@link #transaction(DataSource, boolean, Work)}, on a connection the caller holds and closes.
   *
   * @param c the connection, with no transaction open
   * @param singleStatement true when the work is one statement, atomic on its own
   * @param work the work
   * @param <R> what the work returns
   * @return what the work returned, once committed
   * @throws SQLException as the work, the commit or the connection throws it
   */
  public static <R> R transaction(Connection c, boolean singleStatement, Work<R> work) throws SQLException {
    boolean autoCommit = c.getAutoCommit();
    boolean readCommitted = readCommittedByDefault(c);
    if (autoCommit && singleStatement && readCommitted) {
      try {
        return work.run(c);
      } catch (SQLException e) {
        forgetOnSerializationFailure(c, e);
        // In autocommit the statement is its own commit.
        throw connectionFailure(e) && !(e instanceof OutcomeUnknown) ? new OutcomeUnknown(e) : e;
      }
    }
    if (autoCommit) {
      c.setAutoCommit(false);
    }
    try {
      if (!readCommitted) {
        try (Statement st = c.createStatement()) {
          st.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
        }
      }
      R result = work.run(c);
      try {
        c.commit();
      } catch (SQLException e) {
        throw connectionFailure(e) ? new OutcomeUnknown(e) : e;
      }
      return result;
    } catch (SQLException | RuntimeException | Error e) {
      if (e instanceof SQLException s) {
        forgetOnSerializationFailure(c, s);
      }
      rollbackQuietly(c, e);
      throw e;
    } finally {
      if (autoCommit) {
        try {
          c.setAutoCommit(true);
        } catch (SQLException e) {
          log.debug("pgqueue: could not restore autocommit on a borrowed connection", e);
        }
      }
    }
  }

  /**
   * Runs {@code work} with autocommit on (for statements that must not run in a transaction, such
   * as LISTEN on a dedicated connection or a NOTIFY probe), restoring the connection's setting.
   *
   * @param c the connection, with no transaction open
   * @param work the work
   * @param <R> what the work returns
   * @return what the work returned
   * @throws SQLException as the work or the connection throws it
   */
  public static <R> R autocommit(Connection c, Work<R> work) throws SQLException {
    boolean autoCommit = c.getAutoCommit();
    if (!autoCommit) {
      c.setAutoCommit(true); // commits nothing: a freshly borrowed connection has no open transaction
    }
    try {
      return work.run(c);
    } finally {
      if (!autoCommit) {
        c.setAutoCommit(false);
      }
    }
  }

  /**
   * Whether the session of {@code c} starts its transactions at READ COMMITTED (or below).
   *
   * @param c the connection
   * @return true if it does
   * @throws SQLException if the connection fails
   */
  public static boolean readCommittedByDefault(Connection c) throws SQLException {
    Object key = physical(c);
    Boolean known = READ_COMMITTED.get(key);
    if (known != null) {
      return known;
    }
    int level = c.getTransactionIsolation();
    boolean rc = level == Connection.TRANSACTION_READ_COMMITTED || level == Connection.TRANSACTION_READ_UNCOMMITTED;
    READ_COMMITTED.put(key, rc);
    return rc;
  }

  /**
   * Closes a connection whose work succeeded; a failing close is logged, not thrown.
   *
   * @param c the connection
   */
  public static void close(Connection c) {
    try {
      c.close();
    } catch (SQLException | RuntimeException e) {
      log.warn("pgqueue: closing a borrowed connection failed after its work was done; carrying on", e);
    }
  }

  private static void closeAfterFailure(Connection c, Throwable failure) {
    try {
      c.close();
    } catch (SQLException | RuntimeException e) {
      failure.addSuppressed(e);
    }
  }

  private static void rollbackQuietly(Connection c, Throwable failure) {
    try {
      c.rollback();
    } catch (SQLException | RuntimeException e) {
      failure.addSuppressed(e);
    }
  }

  private static void forgetOnSerializationFailure(Connection c, SQLException e) {
    if ("40001".equals(e.getSQLState())) {
      try {
        READ_COMMITTED.remove(physical(c));
      } catch (SQLException ignored) {
        // The connection is broken; nothing to forget.
      }
    }
  }

  private static Object physical(Connection c) throws SQLException {
    return c.isWrapperFor(PGConnection.class) ? c.unwrap(PGConnection.class) : c;
  }
}
