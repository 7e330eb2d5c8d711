package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.sql.Statement;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.postgresql.core.BaseConnection;
import org.postgresql.core.TransactionState;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The connection pools users run pgqueue on, for tests that must hold under each: what pgqueue
 * borrows it must commit whatever the pool's autocommit default, run at READ COMMITTED whatever the
 * session's isolation, and hand back as it found it.
 *
 * <p>{@link NaivePool} resets nothing when a connection comes back (HikariCP resets autocommit,
 * isolation and network timeout it saw changed through its proxy, which would hide a connection
 * pgqueue left changed), so {@link #assertReturnedAsFound} on it sees exactly what pgqueue left.
 */
final class Pools {

  private Pools() {}

  /** The pool matrix. */
  enum Kind {
    /** HikariCP with its defaults (autocommit on, the server's isolation). */
    HIKARI(true, "read committed", false),
    /** HikariCP with {@code autoCommit=false}, the usual setting next to JPA. */
    HIKARI_AUTOCOMMIT_OFF(false, "read committed", false),
    /** A plain PGSimpleDataSource: a new physical connection per borrow. */
    PLAIN(true, "read committed", false),
    /** A pool (that resets nothing) whose sessions default to REPEATABLE READ. */
    REPEATABLE_READ(true, "repeatable read", false),
    /** A pool (that resets nothing) with autocommit off whose sessions default to SERIALIZABLE. */
    SERIALIZABLE(false, "serializable", false),
    /** HikariCP logging in as a role with a statement_timeout of a few seconds. */
    STATEMENT_TIMEOUT(true, "read committed", true);

    final boolean autoCommit;
    final String isolation;
    final boolean timeoutRole;

    Kind(boolean autoCommit, String isolation, boolean timeoutRole) {
      this.autoCommit = autoCommit;
      this.isolation = isolation;
      this.timeoutRole = timeoutRole;
    }
  }

  /** The statement_timeout of the {@link Kind#STATEMENT_TIMEOUT} role. */
  static final String ROLE_STATEMENT_TIMEOUT = "3s";

  /** A login role with a statement_timeout, named per run (roles are cluster-wide), and dropped by {@link #close}. */
  static final class TimeoutRole implements AutoCloseable {
    final String name =
        "pgq_timeout_" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL).toLowerCase(Locale.ROOT);
    private final TestDatabase db;

    TimeoutRole(TestDatabase db) {
      this.db = db;
      String password = db.password() == null ? "" : " PASSWORD '" + db.password().replace("'", "''") + "'";
      db.execute("CREATE ROLE " + name + " LOGIN" + password);
      db.execute("ALTER ROLE " + name + " SET statement_timeout = '" + ROLE_STATEMENT_TIMEOUT + "'");
      db.execute("GRANT ALL ON DATABASE \"" + db.name() + "\" TO " + name);
      grantSchema(db.schema());
    }

    /** Lets the role use a schema created after the role (call again after migrating a new one). */
    void grantSchema(String schema) {
      db.execute("GRANT ALL ON SCHEMA " + schema + " TO " + name);
      db.execute("GRANT ALL ON ALL TABLES IN SCHEMA " + schema + " TO " + name);
      db.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + name);
    }

    @Override
    public void close() {
      db.execute("DROP OWNED BY " + name);
      db.execute("DROP ROLE " + name);
    }
  }

  /** A pool of the given kind with at most {@code size} connections. */
  static DataSource open(Kind kind, TestDatabase db, TimeoutRole role, int size) {
    switch (kind) {
      case PLAIN:
        return db.dataSource();
      case REPEATABLE_READ:
        return new NaivePool(db, size, true, Connection.TRANSACTION_REPEATABLE_READ);
      case SERIALIZABLE:
        return new NaivePool(db, size, false, Connection.TRANSACTION_SERIALIZABLE);
      default:
        HikariConfig c = new HikariConfig();
        c.setJdbcUrl(db.jdbcUrl());
        if (kind.timeoutRole) {
          c.setUsername(role.name);
        } else {
          c.setUsername(db.user());
        }
        if (db.password() != null) {
          c.setPassword(db.password());
        }
        c.setAutoCommit(kind.autoCommit);
        c.setMaximumPoolSize(size);
        c.setConnectionTimeout(10_000);
        return new HikariDataSource(c);
    }
  }

  static void close(DataSource ds) {
    if (ds instanceof AutoCloseable a) {
      try {
        a.close();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /**
   * Borrows every connection of the pool at once (so each physical connection is seen) and checks
   * each is as the pool hands it out: no open transaction, autocommit and isolation as configured,
   * no LISTEN active, network timeout 0, statement_timeout as the role has it.
   */
  static void assertReturnedAsFound(Kind kind, DataSource ds, int size) throws SQLException {
    if (kind == Kind.PLAIN) {
      return; // every borrow is a new physical connection
    }
    List<Connection> all = new ArrayList<>();
    try {
      if (ds instanceof NaivePool p) {
        all.addAll(p.idlePhysical());
        assertThat(p.inUse()).as("connections still borrowed").isZero();
      } else {
        for (int i = 0; i < size; i++) {
          all.add(ds.getConnection());
        }
      }
      for (Connection c : all) {
        assertThat(c.unwrap(BaseConnection.class).getTransactionState())
            .as("transaction state of a returned connection").isEqualTo(TransactionState.IDLE);
        assertThat(c.getAutoCommit()).as("autocommit of a returned connection").isEqualTo(kind.autoCommit);
        assertThat(c.getNetworkTimeout()).as("network timeout of a returned connection").isZero();
        try (Statement st = c.createStatement();
            ResultSet rs = st.executeQuery(
                "SELECT current_setting('transaction_isolation'), current_setting('statement_timeout'),"
                    + " (SELECT count(*) FROM pg_listening_channels())")) {
          rs.next();
          assertThat(rs.getString(1)).as("session isolation of a returned connection").isEqualTo(kind.isolation);
          assertThat(rs.getString(2)).as("statement_timeout of a returned connection")
              .isEqualTo(kind.timeoutRole ? ROLE_STATEMENT_TIMEOUT : "0");
          assertThat(rs.getLong(3)).as("channels a returned connection listens on").isZero();
        }
        if (!c.getAutoCommit()) {
          c.rollback();
        }
      }
    } finally {
      if (!(ds instanceof NaivePool)) {
        for (Connection c : all) {
          c.close();
        }
      }
    }
  }

  /**
   * The simplest pool there is: connections opened on demand up to {@code size}, configured once
   * (autocommit, session isolation), handed back and out again untouched. It resets nothing, so
   * whatever a borrower leaves on a connection the next borrower gets.
   */
  static final class NaivePool implements DataSource, AutoCloseable {
    private final PGSimpleDataSource target;
    private final int size;
    private final boolean autoCommit;
    private final int isolation;
    private final ArrayDeque<Connection> idle = new ArrayDeque<>();
    private final List<Connection> physical = new ArrayList<>();
    private int inUse;

    NaivePool(TestDatabase db, int size, boolean autoCommit, int isolation) {
      this.target = new PGSimpleDataSource();
      target.setURL(db.jdbcUrl());
      target.setUser(db.user());
      if (db.password() != null) {
        target.setPassword(db.password());
      }
      this.size = size;
      this.autoCommit = autoCommit;
      this.isolation = isolation;
    }

    @Override
    public synchronized Connection getConnection() throws SQLException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (idle.isEmpty() && physical.size() >= size) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new SQLTimeoutException("NaivePool: no connection within 10 s", "08001");
        }
        try {
          wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new SQLException("interrupted", "08001", e);
        }
      }
      Connection c = idle.poll();
      if (c == null || c.isClosed()) {
        if (c != null) {
          physical.remove(c);
        }
        c = target.getConnection();
        c.setAutoCommit(autoCommit);
        c.setTransactionIsolation(isolation);
        if (!autoCommit) {
          c.commit();
        }
        physical.add(c);
      }
      inUse++;
      return lease(c);
    }

    private Connection lease(Connection c) {
      boolean[] returned = {false};
      return (Connection) Proxy.newProxyInstance(
          Connection.class.getClassLoader(), new Class<?>[] {Connection.class}, (proxy, m, args) -> {
            switch (m.getName()) {
              case "close":
                synchronized (this) {
                  if (!returned[0]) {
                    returned[0] = true;
                    inUse--;
                    idle.push(c);
                    notifyAll();
                  }
                }
                return null;
              case "isClosed":
                return returned[0] || c.isClosed();
              default:
                if (returned[0]) {
                  throw new SQLException("NaivePool: connection used after close()", "08003");
                }
                try {
                  return m.invoke(c, args);
                } catch (InvocationTargetException e) {
                  throw e.getCause();
                }
            }
          });
    }

    synchronized int inUse() {
      return inUse;
    }

    synchronized List<Connection> idlePhysical() {
      return new ArrayList<>(idle);
    }

    @Override
    public synchronized void close() throws SQLException {
      for (Connection c : physical) {
        c.close();
      }
      physical.clear();
      idle.clear();
    }

    @Override
    public Connection getConnection(String user, String password) {
      throw new UnsupportedOperationException();
    }

    @Override
    public PrintWriter getLogWriter() {
      return null;
    }

    @Override
    public void setLogWriter(PrintWriter out) {}

    @Override
    public void setLoginTimeout(int seconds) {}

    @Override
    public int getLoginTimeout() {
      return 0;
    }

    @Override
    public Logger getParentLogger() {
      return Logger.getGlobal();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
      throw new SQLException("not a wrapper");
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
      return false;
    }
  }
}
