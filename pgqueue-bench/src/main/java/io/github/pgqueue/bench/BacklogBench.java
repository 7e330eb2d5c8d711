package io.github.pgqueue.bench;

import io.github.pgqueue.Migrator;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Claim and enqueue cost on big, old tables ({@code --backlog N}; docs/performance.md, "Big
 * tables"): pgqueue's own claim statement (20 jobs of a handled name on one queue) and its single
 * insert, each timed 30 times and rolled back, first on a table holding only 1,000 handled due jobs,
 * then with each of these added in turn (and removed again):
 *
 * <ul>
 *   <li>{@code unhandled}: N due jobs of a name no worker handles, ahead of the handled ones in claim
 *       order, on the same queue;
 *   <li>{@code discarded}: 10 N discarded jobs awaiting pruning;
 *   <li>{@code many_queues}: 10 N due jobs spread across 100 other queues and 200 names.
 * </ul>
 *
 * <p>Each condition's table is vacuumed and analyzed before timing, as autovacuum would leave it.
 * Asserts nothing; it measures.
 */
final class BacklogBench {

  private static final int HANDLED = 1_000;
  private static final int TIMES = 30;

  private BacklogBench() {}

  static Map<String, Object> run(String url, String user, String password, int n) throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(url);
    ds.setUser(user);
    ds.setPassword(password);
    Migrator.create(ds, Migrator.DEFAULT_SCHEMA).migrate();
    BenchAccess.Raw raw = SharedSecrets.benchAccess().raw(Migrator.DEFAULT_SCHEMA);
    Map<String, Object> out = new LinkedHashMap<>();
    try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement()) {
      st.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
          + " SELECT 'noop', 'bq', '{}', now() - interval '1 hour' + i * interval '1 millisecond'"
          + " FROM generate_series(1, " + HANDLED + ") i");
      long owner = raw.registerWorker(c, "noop");
      String[][] conditions = {
        {"empty", null, null},
        {"unhandled", "INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
            + " SELECT 'ghost', 'bq', '{}', now() - interval '2 hours' + i * interval '1 microsecond'"
            + " FROM generate_series(1, " + n + ") i", "DELETE FROM pgqueue.jobs WHERE name = 'ghost'"},
        {"discarded", "INSERT INTO pgqueue.jobs (name, queue, payload, state, discarded_at)"
            + " SELECT 'noop', 'bq', '{}', 'discarded', now() - i * interval '1 millisecond'"
            + " FROM generate_series(1, " + (10L * n) + ") i", "DELETE FROM pgqueue.jobs WHERE state = 'discarded'"},
        {"many_queues", "INSERT INTO pgqueue.jobs (name, queue, payload)"
            + " SELECT 'n' || (i % 200), 'q' || (i % 100), '{}' FROM generate_series(1, " + (10L * n) + ") i",
            "DELETE FROM pgqueue.jobs WHERE queue LIKE 'q%'"},
      };
      for (String[] cond : conditions) {
        if (cond[1] != null) {
          st.execute(cond[1]);
        }
        st.execute("VACUUM ANALYZE pgqueue.jobs");
        List<Double> claim = new ArrayList<>();
        List<Double> insert = new ArrayList<>();
        c.setAutoCommit(false);
        for (int i = 0; i < TIMES + 3; i++) {
          long t0 = System.nanoTime();
          int got = raw.claim(c, "bq", "noop", 20, owner).size();
          long t1 = System.nanoTime();
          c.rollback();
          if (got != 20) {
            throw new IllegalStateException(cond[0] + ": the claim took " + got + " of 20 handled jobs");
          }
          long t2 = System.nanoTime();
          raw.insert(c, "noop", i, false);
          long t3 = System.nanoTime();
          c.rollback();
          if (i >= 3) {
            claim.add((t1 - t0) / 1e6);
            insert.add((t3 - t2) / 1e6);
          }
        }
        c.setAutoCommit(true);
        out.put("backlog_" + cond[0] + "_claim_ms", Workload.median(claim));
        out.put("backlog_" + cond[0] + "_insert_ms", Workload.median(insert));
        if (cond[2] != null) {
          st.execute(cond[2]);
        }
      }
      raw.deregisterWorker(c, owner);
    }
    return out;
  }
}
