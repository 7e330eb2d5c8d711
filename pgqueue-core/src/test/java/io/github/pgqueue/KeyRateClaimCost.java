package io.github.pgqueue;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Not a test: measures a claim's cost under a per-key rate limit on a queue with many keys that
 * have buckets, against the same claim without the limit (docs/flow-control.md, "Rate limits per
 * key"). Each claim takes 50 jobs through {@link JobStore#claimControlled} in a transaction that
 * is rolled back (so every sample sees the same rows); the cases are interleaved and each line is
 * the median of the samples. Runs on embedded PostgreSQL (or PGQUEUE_TEST_JDBC_URL):
 *
 * <pre>
 * java -cp pgqueue-core/target/test-classes:pgqueue-core/target/classes:$(cat /tmp/keyrate-test.cp) \
 *     io.github.pgqueue.KeyRateClaimCost [keys] [samples]
 * </pre>
 */
public final class KeyRateClaimCost {
  private KeyRateClaimCost() {}

  static final String Q = "costq";

  public static void main(String[] args) throws Exception {
    int keys = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
    int samples = args.length > 1 ? Integer.parseInt(args[1]) : 30;
    TestPostgres server = TestPostgres.server();
    TestDatabase db = server.createDatabase("pgqueue");
    Migrator.create(db.dataSource()).migrate();
    JobQueue queue = JobQueue.create(db.dataSource());
    JobStore store = new JobStore(new Sql("pgqueue"));
    String[] names = {"task"};
    // Four queues, one per case, each with one due keyed job per key (rank 0, as the enqueue gives
    // one job per key). A per-key rate of 10 per hour (interval 6 min) keeps the buckets as they
    // are while measuring. Set up once; every claim is rolled back, so each sees the same rows.
    String[] cases = {"fair, no per-key rate", "fair, per-key rate, no bucket rows",
        "fair, per-key rate, " + keys + " buckets with tokens",
        "fair, per-key rate, " + keys + " buckets, half without a token"};
    RateLimit limit = new RateLimit(10, java.time.Duration.ofHours(1), 10);
    for (int k = 0; k < cases.length; k++) {
      String q = Q + k;
      db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, concurrency_key, key_rank)"
          + " SELECT 'task', '" + q + "', '{}', 'k' || g, 0 FROM generate_series(1, " + keys + ") g");
      queue.setKeyFairness(q, true);
      if (k > 0) {
        queue.setKeyRateLimit(q, limit);
      }
      if (k >= 2) {
        // 5 tokens of 10 (empty_at 5 intervals ago); in case 3 every other key has none.
        db.execute("INSERT INTO pgqueue.key_rate_buckets SELECT '" + q + "', 'k' || g, CASE WHEN "
            + (k == 3 ? "g % 2 = 1" : "false") + " THEN now() ELSE now() - interval '30 minutes' END"
            + " FROM generate_series(1, " + keys + ") g");
      }
    }
    db.execute("VACUUM ANALYZE pgqueue.jobs");
    db.execute("VACUUM ANALYZE pgqueue.key_rate_buckets");
    long owner;
    try (Connection c = db.dataSource().getConnection()) {
      String[] qs = {Q + 0, Q + 1, Q + 2, Q + 3};
      owner = store.registerWorker(c, "cost", 1, qs, new Integer[] {100, 100, 100, 100}, names, 1_000, 3_600_000);
    }
    List<List<Long>> times = new ArrayList<>();
    // One connection per case, kept (its statements prepared after the first few claims, as a
    // worker's are); the first 5 samples of each are warm-up and not counted.
    Connection[] conns = new Connection[cases.length];
    for (int k = 0; k < cases.length; k++) {
      times.add(new ArrayList<>());
      conns[k] = db.dataSource().getConnection();
      conns[k].setAutoCommit(false);
    }
    for (int s = 0; s < samples + 5; s++) {
      for (int k = 0; k < cases.length; k++) {
        Connection c = System.getProperty("durations") != null && s >= 5 ? timed(conns[k], "case" + k) : conns[k];
        long t0 = System.nanoTime();
        JobStore.ControlledClaim r = store.claimControlled(c, Q + k, names, 50, owner, s + 1, k > 0, false);
        long t = System.nanoTime() - t0;
        c.rollback();
        if (r.jobs().size() != 50) {
          throw new IllegalStateException(cases[k] + ": claimed " + r.jobs().size() + " (" + r.held() + ")");
        }
        if (s >= 5) {
          times.get(k).add(t);
        }
      }
    }
    if (System.getProperty("explain") != null) {
      Sql sql = new Sql("pgqueue");
      for (String[] st : new String[][] {{"unrated", sql.claimKeyedFair}, {"rated", sql.claimKeyedFairRated}}) {
        try (Connection c = db.dataSource().getConnection()) {
          c.setAutoCommit(false);
          try (java.sql.PreparedStatement ps = c.prepareStatement("EXPLAIN (ANALYZE, BUFFERS) " + st[1])) {
            int i = 1;
            ps.setString(i++, Q + 3);
            ps.setString(i++, Q + 3);
            ps.setArray(i++, c.createArrayOf("text", names));
            ps.setInt(i++, Integer.MAX_VALUE);
            if (st[0].equals("rated")) {
              ps.setObject(i++, java.time.OffsetDateTime.now());
              ps.setLong(i++, 360_000_000L);
            }
            ps.setInt(i++, 100);
            ps.setInt(i++, Integer.MAX_VALUE);
            if (st[0].equals("rated")) {
              ps.setInt(i++, 10);
              ps.setObject(i++, java.time.OffsetDateTime.now());
              ps.setLong(i++, 360_000_000L);
              ps.setString(i++, Q + 3);
              ps.setInt(i++, 10);
            }
            ps.setInt(i++, 50);
            ps.setLong(i++, owner);
            ps.setLong(i++, owner);
            ps.setLong(i, 999);
            System.out.println("==== " + st[0]);
            try (java.sql.ResultSet rs = ps.executeQuery()) {
              while (rs.next()) {
                System.out.println(rs.getString(1));
              }
            }
          }
          c.rollback();
        }
      }
    }
    STATEMENTS.forEach((key, ts) -> System.out.printf("  %7.2f ms  %s%n", median(ts) / 1e6, key));
    System.out.printf("claims of 50 jobs on a queue with %,d keyed due jobs (one per key), median of %d, interleaved:%n",
        keys, samples);
    double base = median(times.get(0));
    for (int k = 0; k < cases.length; k++) {
      double m = median(times.get(k));
      System.out.printf("  %-55s %7.2f ms (%.2fx)%n", cases[k], m / 1e6, m / base);
    }

  }

  static final java.util.Map<String, List<Long>> STATEMENTS = new java.util.TreeMap<>();

  /** {@code c} whose prepared statements record their execution times under {@code label}. */
  static Connection timed(Connection c, String label) {
    return (Connection) java.lang.reflect.Proxy.newProxyInstance(KeyRateClaimCost.class.getClassLoader(),
        new Class<?>[] {Connection.class}, (proxy, m, a) -> {
          Object r;
          try {
            r = m.invoke(c, a);
          } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
          }
          if (m.getName().equals("prepareStatement")) {
            java.sql.PreparedStatement ps = (java.sql.PreparedStatement) r;
            String sqlText = ((String) a[0]).replaceAll("\\s+", " ");
            String key = label + " " + sqlText.substring(0, Math.min(70, sqlText.length()));
            return java.lang.reflect.Proxy.newProxyInstance(KeyRateClaimCost.class.getClassLoader(),
                new Class<?>[] {java.sql.PreparedStatement.class}, (p2, m2, a2) -> {
                  long t0 = System.nanoTime();
                  Object r2;
                  try {
                    r2 = m2.invoke(ps, a2);
                  } catch (java.lang.reflect.InvocationTargetException e) {
                    throw e.getCause();
                  }
                  if (m2.getName().startsWith("execute")) {
                    STATEMENTS.computeIfAbsent(key, x -> new ArrayList<>()).add(System.nanoTime() - t0);
                  }
                  return r2;
                });
          }
          return r;
        });
  }

  static double median(List<Long> xs) {
    long[] a = xs.stream().mapToLong(Long::longValue).toArray();
    Arrays.sort(a);
    return a[a.length / 2];
  }
}
