import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.*;
import java.util.stream.IntStream;
import javax.sql.DataSource;

/**
 * Interleaved A/B of two pgqueue-core jars in one JVM, one class loader each, on one server and one
 * Hikari pool of 4, alternating which goes first in each round after a warm-up round: on a shared,
 * noisy machine a neighbour's load then hits both sides alike, which back-to-back workload runs
 * cannot promise. Not part of the build; a single-file program:
 *
 * <pre>
 * java -cp "$(deps without pgqueue jars)" scripts/AbCoreJars.java JDBC_URL OLD_CORE_JAR NEW_CORE_JAR ROUNDS MODE PT
 * </pre>
 *
 * MODE bulk: per variant and round, 5 enqueueAll calls of 1,000 noop jobs (NOTIFY on, as the
 * workload's enqueue_bulk), then 5 batches of 1,000 through core's own bulk insert without NOTIFY
 * (BenchAccess.Raw.insertAll, the workload's raw_enqueue_bulk), the table truncated (untimed)
 * before each. MODE single: 400 single enqueues by one producer. PT: the pool's prepareThreshold
 * (-1: the driver's default). The database must hold a pgqueue schema both jars accept (migrate it
 * with the newer). Prints medians over the rounds, jobs/s.
 */
public class AbCoreJars {
  public record Noop(long n) {}

  static final class Variant {
    final String label; final Object queue; final Object type; final Method enqueueAll; final Method enqueue; final Object raw; final Method rawInsertAll;
    Variant(String label, ClassLoader cl, DataSource ds) throws Exception {
      this.label = label;
      Class<?> jq = cl.loadClass("io.github.pgqueue.JobQueue");
      Class<?> jt = cl.loadClass("io.github.pgqueue.JobType");
      queue = jq.getMethod("create", DataSource.class).invoke(null, ds);
      type = jt.getMethod("of", String.class, Class.class).invoke(null, "noop", Noop.class);
      enqueueAll = jq.getMethod("enqueueAll", jt, Collection.class);
      enqueue = jq.getMethod("enqueue", jt, Object.class);
      Object access = cl.loadClass("io.github.pgqueue.internal.SharedSecrets").getMethod("benchAccess").invoke(null);
      raw = cl.loadClass("io.github.pgqueue.internal.BenchAccess").getMethod("raw", String.class).invoke(access, "pgqueue");
      rawInsertAll = cl.loadClass("io.github.pgqueue.internal.BenchAccess$Raw")
          .getMethod("insertAll", Connection.class, String.class, int.class, int.class);
    }
  }

  static long counter = 0;

  public static void main(String[] a) throws Exception {
    String url = a[0];
    int rounds = Integer.parseInt(a[3]);
    String mode = a[4];
    int pt = Integer.parseInt(a[5]);
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(url + (pt >= 0 ? "&prepareThreshold=" + pt : ""));
    hc.setMaximumPoolSize(4);
    HikariDataSource ds = new HikariDataSource(hc);
    ClassLoader parent = AbCoreJars.class.getClassLoader();
    Variant old = new Variant("old", new URLClassLoader(new URL[] {Path.of(a[1]).toUri().toURL()}, parent), ds);
    Variant neu = new Variant("new", new URLClassLoader(new URL[] {Path.of(a[2]).toUri().toURL()}, parent), ds);
    Map<String, List<Double>> res = new TreeMap<>();
    for (int r = -1; r < rounds; r++) {
      List<Variant> order = r % 2 == 0 ? List.of(old, neu) : List.of(neu, old);
      for (Variant v : order) {
        if (mode.equals("bulk")) {
          truncate(ds);
          double lib = bulkLib(v, 5);
          truncate(ds);
          double raw = bulkRaw(v, ds, 5);
          if (r >= 0) {
            res.computeIfAbsent(v.label + " enqueue_bulk", k -> new ArrayList<>()).add(lib);
            res.computeIfAbsent(v.label + " raw_enqueue_bulk", k -> new ArrayList<>()).add(raw);
          }
        } else {
          truncate(ds);
          double s = single(v, 400);
          if (r >= 0) res.computeIfAbsent(v.label + " enqueue_single", k -> new ArrayList<>()).add(s);
        }
      }
    }
    for (var e : res.entrySet()) {
      List<Double> xs = new ArrayList<>(e.getValue()); Collections.sort(xs);
      System.out.printf(Locale.ROOT, "%-22s median %8.0f  min %8.0f  max %8.0f  (n=%d)%n", e.getKey(), xs.get(xs.size() / 2), xs.get(0), xs.get(xs.size() - 1), xs.size());
    }
    ds.close();
  }

  static void truncate(DataSource ds) throws Exception {
    try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
      st.execute("TRUNCATE pgqueue.jobs");
    }
  }

  static double bulkLib(Variant v, int batches) throws Exception {
    long t0 = System.nanoTime();
    for (int b = 0; b < batches; b++) {
      long base = counter; counter += 1000;
      v.enqueueAll.invoke(v.queue, v.type, IntStream.range(0, 1000).mapToObj(i -> new Noop(base + i)).toList());
    }
    return batches * 1000 / ((System.nanoTime() - t0) / 1e9);
  }

  static double bulkRaw(Variant v, DataSource ds, int batches) throws Exception {
    try (Connection c = ds.getConnection()) {
      long t0 = System.nanoTime();
      for (int b = 0; b < batches; b++) {
        v.rawInsertAll.invoke(v.raw, c, "noop_raw", (int) (counter), 1000);
        counter += 1000;
      }
      return batches * 1000 / ((System.nanoTime() - t0) / 1e9);
    }
  }

  static double single(Variant v, int n) throws Exception {
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      v.enqueue.invoke(v.queue, v.type, new Noop(counter++));
    }
    return n / ((System.nanoTime() - t0) / 1e9);
  }
}
