package io.github.pgqueue.micrometer;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;

/**
 * Wraps a real DataSource and records the text of every statement prepared on its connections, so
 * a test can count how often a statement ran (pg_stat_statements may not be loaded in the test
 * server). Everything else passes through to PostgreSQL.
 */
final class CountingDataSource {

  final List<String> prepared = new CopyOnWriteArrayList<>();
  final DataSource dataSource;
  /** While true, getConnection fails as if the database were unreachable. */
  volatile boolean down;

  CountingDataSource(DataSource real) {
    this.dataSource = (DataSource) Proxy.newProxyInstance(
        getClass().getClassLoader(), new Class<?>[] {DataSource.class}, (proxy, m, args) -> {
          if (down && m.getName().equals("getConnection")) {
            throw new java.sql.SQLTransientConnectionException("test: the database is down", "08001");
          }
          Object r = invoke(real, m, args);
          return r instanceof Connection c ? connection(c) : r;
        });
  }

  private Connection connection(Connection real) {
    InvocationHandler h = (proxy, m, args) -> {
      if (m.getName().equals("prepareStatement") && args != null && args[0] instanceof String sql) {
        prepared.add(sql);
      }
      return invoke(real, m, args);
    };
    return (Connection) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {Connection.class}, h);
  }

  long count(String fragment) {
    return prepared.stream().filter(s -> s.contains(fragment)).count();
  }

  private static Object invoke(Object target, Method m, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
