package io.github.pgqueue.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Partitioning the jobs table, weighed (docs/scaling.md): the same claim-then-delete loop and the
 * same VACUUM on pgqueue's {@code jobs} table and on a copy list-partitioned by state (available
 * and running in one partition, discarded in another), both holding a cold backlog of discarded
 * jobs. An experiment in its own database: the product schema is unchanged.
 *
 * <p>Two schemas, {@code plain} and {@code part}, each migrated by the {@link Migrator}; in
 * {@code part}, {@code jobs} is then replaced by a partitioned table with the same columns,
 * defaults, CHECKs and identity, the primary key {@code (id, state)} (a partitioned table's unique
 * indexes must hold the partition key, so {@code jobs_unique_idx} becomes {@code (name,
 * unique_key, state)}: deduplication would then no longer span available and running), and the
 * other indexes as they are. Autovacuum is off on both, so every VACUUM is one this class runs
 * and times. Each round inserts {@code perRound} available jobs into both (the enqueue's bulk
 * statement), runs pgqueue's own claim-then-delete loop at batch 50 on each (the order alternates
 * by round), then VACUUMs each (alternating too). Last, the claim alone: {@link #CLAIMS} claims of
 * {@link #BATCH} on each table in turn, each rolled back, from a backlog of {@link #CLAIM_BACKLOG}.
 * Prints the medians; asserts nothing.
 */
final class PartitionBench {
  private PartitionBench() {}

  static final int BATCH = 50;
  /** Claims timed on each table in the interleaved comparison, and the backlog they claim from. */
  static final int CLAIMS = 200;
  static final int CLAIM_BACKLOG = 5_000;

  static Map<String, Object> run(String url, String user, String password, int discarded, int perRound, int rounds)
      throws Exception {
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(url);
    hc.setUsername(user);
    hc.setPassword(password);
    hc.setMaximumPoolSize(4);
    hc.setPoolName("partition-bench");
    try (HikariDataSource pool = new HikariDataSource(hc)) {
      Migrator.create(pool, "plain").migrate();
      Migrator.create(pool, "part").migrate();
      try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
        partition(st);
        for (String t : new String[] {"plain.jobs", "part.jobs_live", "part.jobs_discarded"}) {
          st.execute("ALTER TABLE " + t + " SET (autovacuum_enabled = false)");
        }
        for (String s : new String[] {"plain", "part"}) {
          st.execute("INSERT INTO " + s + ".jobs (name, payload, state, attempt, max_attempts, discarded_at, errors)"
              + " SELECT 'noop', jsonb_build_object('n', i), 'discarded', 1, 1, now(),"
              + " '[{\"kind\": \"error\", \"message\": \"upstream said no\"}]'"
              + " FROM generate_series(1, " + discarded + ") i");
          st.execute("VACUUM (FREEZE, ANALYZE) " + s + ".jobs");
        }
      }
      Map<String, List<Double>> rates = Map.of("plain", new ArrayList<>(), "part", new ArrayList<>());
      Map<String, List<Double>> vacuums = Map.of("plain", new ArrayList<>(), "part", new ArrayList<>());
      Map<String, BenchAccess.Raw> raw = Map.of(
          "plain", SharedSecrets.benchAccess().raw("plain"), "part", SharedSecrets.benchAccess().raw("part"));
      Map<String, Long> owners = new LinkedHashMap<>();
      try (Connection c = pool.getConnection()) {
        for (String s : raw.keySet()) {
          owners.put(s, raw.get(s).registerWorker(c, "noop"));
        }
      }
      for (int round = 0; round < rounds; round++) {
        String[] order = round % 2 == 0 ? new String[] {"plain", "part"} : new String[] {"part", "plain"};
        try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
          for (String s : order) {
            raw.get(s).insertAll(c, "noop", round * perRound, perRound);
            st.execute("VACUUM ANALYZE " + s + ".jobs"); // the inserts' own vacuum: untimed
          }
          st.execute("CHECKPOINT");
          for (String s : order) {
            long t0 = System.nanoTime();
            int done = 0;
            int got;
            while ((got = raw.get(s).claimAndComplete(c, "noop", BATCH, owners.get(s))) > 0) {
              done += got;
            }
            rates.get(s).add(done / ((System.nanoTime() - t0) / 1e9));
          }
          for (String s : order) {
            long t0 = System.nanoTime();
            st.execute("VACUUM " + s + ".jobs");
            vacuums.get(s).add((System.nanoTime() - t0) / 1e6);
          }
        }
      }
      // The claim alone, interleaved: one claim of BATCH on each table in turn (the order
      // alternating), each rolled back so every claim sees the same backlog; medians.
      Map<String, List<Double>> claims = Map.of("plain", new ArrayList<>(), "part", new ArrayList<>());
      try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
        for (String s : raw.keySet()) {
          raw.get(s).insertAll(c, "noop", 0, CLAIM_BACKLOG);
          st.execute("VACUUM ANALYZE " + s + ".jobs");
        }
        c.setAutoCommit(false);
        for (int i = 0; i < CLAIMS + 10; i++) {
          String[] order = i % 2 == 0 ? new String[] {"plain", "part"} : new String[] {"part", "plain"};
          for (String s : order) {
            long t0 = System.nanoTime();
            raw.get(s).claim(c, "default", "noop", BATCH, owners.get(s));
            double ms = (System.nanoTime() - t0) / 1e6;
            c.rollback();
            if (i >= 10) { // the first ten warm the plan cache
              claims.get(s).add(ms);
            }
          }
        }
        c.setAutoCommit(true);
      }
      Map<String, Object> r = new LinkedHashMap<>();
      for (String s : new String[] {"plain", "part"}) {
        r.put(s + "_claim_delete_b" + BATCH, Math.round(median(rates.get(s))));
        r.put(s + "_claim_ms", Math.round(median(claims.get(s)) * 1000) / 1000.0);
        r.put(s + "_vacuum_ms", Math.round(median(vacuums.get(s)) * 10) / 10.0);
      }
      try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
        r.put("plain_index_kb", sizeKb(st, "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index"
            + " WHERE indrelid = 'plain.jobs'::regclass"));
        r.put("part_live_index_kb", sizeKb(st, "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index"
            + " WHERE indrelid = 'part.jobs_live'::regclass"));
        r.put("part_discarded_index_kb", sizeKb(st, "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index"
            + " WHERE indrelid = 'part.jobs_discarded'::regclass"));
        for (String s : raw.keySet()) {
          raw.get(s).deregisterWorker(c, owners.get(s));
        }
      }
      System.out.printf(Locale.ROOT,
          "%nPARTITIONING: %d discarded jobs, %d rounds of %d available jobs, claim-then-delete at batch %d,"
              + " then %d claims of %d interleaved (rolled back, %d available), medians:%n"
              + "| table | claim-then-delete jobs/s | one claim, ms | VACUUM after a round, ms | index size, kB |%n"
              + "|---|---|---|---|---|%n| jobs (as shipped) | %d | %.3f | %.1f | %d |%n"
              + "| jobs by state (available+running / discarded) | %d | %.3f | %.1f | %d + %d |%n",
          discarded, rounds, perRound, BATCH, CLAIMS, BATCH, CLAIM_BACKLOG,
          r.get("plain_claim_delete_b" + BATCH), r.get("plain_claim_ms"), r.get("plain_vacuum_ms"),
          r.get("plain_index_kb"), r.get("part_claim_delete_b" + BATCH), r.get("part_claim_ms"), r.get("part_vacuum_ms"),
          r.get("part_live_index_kb"), r.get("part_discarded_index_kb"));
      return r;
    }
  }

  /** Replaces part.jobs by a copy list-partitioned by state, with the same indexes. */
  private static void partition(Statement st) throws SQLException {
    List<String> indexes = new ArrayList<>();
    try (ResultSet rs = st.executeQuery("SELECT indexdef FROM pg_indexes WHERE schemaname = 'part'"
        + " AND tablename = 'jobs' AND indexname <> 'jobs_pkey'")) {
      while (rs.next()) {
        indexes.add(rs.getString(1));
      }
    }
    st.execute("CREATE TABLE part.jobs_by_state (LIKE part.jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
        + " INCLUDING IDENTITY INCLUDING STORAGE) PARTITION BY LIST (state)");
    st.execute("DROP TABLE part.jobs");
    st.execute("ALTER TABLE part.jobs_by_state RENAME TO jobs");
    st.execute("ALTER TABLE part.jobs ADD CONSTRAINT jobs_pkey PRIMARY KEY (id, state)");
    st.execute("CREATE TABLE part.jobs_live PARTITION OF part.jobs FOR VALUES IN ('available', 'running')");
    st.execute("CREATE TABLE part.jobs_discarded PARTITION OF part.jobs FOR VALUES IN ('discarded')");
    for (String def : indexes) {
      if (def.startsWith("CREATE UNIQUE INDEX")) {
        // A unique index of a partitioned table must hold the partition key.
        int close = def.indexOf(')');
        def = def.substring(0, close) + ", state" + def.substring(close);
      }
      st.execute(def);
    }
  }

  private static long sizeKb(Statement st, String sql) throws SQLException {
    try (ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1) / 1024;
    }
  }

  private static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    return s.get(s.size() / 2);
  }
}
