package io.github.pgqueue.dashboard;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Timestamp;
import java.time.temporal.TemporalAccessor;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import javax.sql.DataSource;

/**
 * A DataSource that records every prepared statement executed through it, with its parameters as
 * SQL literals, so a test can EXPLAIN exactly what the dashboard (and the core calls it makes) ran.
 * Everything else passes through to the real connection.
 */
final class RecordingDataSource {

  record Executed(String sql, List<String> literals) {}

  final List<Executed> executed = java.util.Collections.synchronizedList(new ArrayList<>());
  final DataSource dataSource;

  RecordingDataSource(DataSource target) {
    this.dataSource = proxy(DataSource.class, target, (method, args, result) -> {
      if (method.getName().equals("getConnection")) {
        return connection((Connection) result);
      }
      return result;
    });
  }

  private Connection connection(Connection c) {
    return proxy(Connection.class, c, (method, args, result) -> {
      if (method.getName().equals("prepareStatement") && result instanceof PreparedStatement ps) {
        return statement(ps, (String) args[0]);
      }
      return result;
    });
  }

  private PreparedStatement statement(PreparedStatement ps, String sql) {
    TreeMap<Integer, String> params = new TreeMap<>();
    return proxy(PreparedStatement.class, ps, (method, args, result) -> {
      String n = method.getName();
      if (n.startsWith("set") && args != null && args.length >= 2 && args[0] instanceof Integer i) {
        params.put(i, literal(args[1]));
      }
      if (n.equals("executeQuery") || n.equals("execute") || n.equals("executeUpdate")) {
        if (args == null || args.length == 0) {
          executed.add(new Executed(sql, new ArrayList<>(params.values())));
        }
      }
      return result;
    });
  }

  static String literal(Object v) {
    if (v == null) {
      return "NULL";
    }
    String s;
    if (v instanceof Timestamp t) {
      s = t.toInstant().toString();
    } else if (v instanceof TemporalAccessor || v instanceof Number || v instanceof Boolean || v instanceof String) {
      s = v.toString();
    } else if (v instanceof java.sql.Array a) {
      s = a.toString();
    } else {
      s = v.toString();
    }
    return "'" + s.replace("'", "''") + "'";
  }

  interface After {
    Object apply(Method method, Object[] args, Object result) throws Exception;
  }

  @SuppressWarnings("unchecked")
  private static <T> T proxy(Class<T> type, T target, After after) {
    InvocationHandler h = (p, method, args) -> {
      Object result;
      try {
        result = method.invoke(target, args);
      } catch (InvocationTargetException e) {
        throw e.getCause();
      }
      return after.apply(method, args, result);
    };
    return (T) Proxy.newProxyInstance(RecordingDataSource.class.getClassLoader(), new Class<?>[] {type}, h);
  }
}
