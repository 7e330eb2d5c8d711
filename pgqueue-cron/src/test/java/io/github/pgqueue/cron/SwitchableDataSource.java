package io.github.pgqueue.cron;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A data source whose connections can be refused, as when the database is down or unreachable:
 * while down, getConnection fails the way the driver does for a refused TCP connection.
 */
final class SwitchableDataSource implements DataSource {

  private final DataSource real;
  private volatile boolean down;
  private final AtomicInteger refused = new AtomicInteger();
  private final AtomicInteger served = new AtomicInteger();

  SwitchableDataSource(DataSource real) {
    this.real = real;
  }

  void down(boolean down) {
    this.down = down;
  }

  /** How many connections were handed out so far. */
  int served() {
    return served.get();
  }

  /** How many connections were refused so far. */
  int refused() {
    return refused.get();
  }

  @Override
  public Connection getConnection() throws SQLException {
    if (down) {
      refused.incrementAndGet();
      throw new SQLException("Connection to 127.0.0.1:1 refused (test: database down)", "08001");
    }
    Connection c = real.getConnection();
    served.incrementAndGet();
    return c;
  }

  @Override
  public Connection getConnection(String user, String password) throws SQLException {
    return getConnection();
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
  public Logger getParentLogger() throws SQLFeatureNotSupportedException {
    throw new SQLFeatureNotSupportedException();
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
