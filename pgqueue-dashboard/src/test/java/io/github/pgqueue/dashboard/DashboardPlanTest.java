package io.github.pgqueue.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Every statement behind every dashboard page, JSON read and action, on 1,000,000 available jobs
 * in 20 queues and 200,000 discarded ones, is EXPLAINed with its real parameters and default
 * planner settings: none may read {@code jobs} with a sequential scan. Timings are printed, not
 * asserted (the machine is shared); pgqueue-bench prints them on a quiet one.
 */
@PgQueueTest
@Tag("sql")
class DashboardPlanTest {

  static final Pattern SEQ_SCAN_ON_JOBS = Pattern.compile("Seq Scan on (\\w+\\.)?jobs\\b");

  /** Loads the data set (the benchmark loads the same one). */
  static void load(DataSource ds, String schema) throws Exception {
    try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
      String s = schema;
      st.execute("INSERT INTO " + s + ".workers (host, pid, queues, job_names) SELECT 'host-' || g, 1000 + g,"
          + " ARRAY(SELECT 'q' || q FROM generate_series(0, 19) q), ARRAY(SELECT 'job_' || n FROM generate_series(0, 8) n)"
          + " FROM generate_series(1, 8) g");
      // Bulk load: the secondary indexes are dropped and rebuilt from their own definitions
      // (pg_indexes), several times faster than maintaining them row by row.
      List<String> indexes = new ArrayList<>();
      try (ResultSet rs = st.executeQuery("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '" + s
          + "' AND tablename = 'jobs' AND indexname <> 'jobs_pkey'")) {
        while (rs.next()) {
          indexes.add(rs.getString(2));
          st.addBatch("DROP INDEX " + s + "." + rs.getString(1));
        }
      }
      st.executeBatch();
      st.execute("SET synchronous_commit = off");
      // 200,000 discarded with an error history: the older ids, as failures pile up over time.
      st.execute("INSERT INTO " + s + ".jobs (name, queue, payload, state, attempt, max_attempts, errors, discarded_at)"
          + " SELECT 'job_' || (g % 10), 'q' || (g % 20), '{}', 'discarded', 1, 1, jsonb_build_array(jsonb_build_object("
          + "'at', now(), 'attempt', 1, 'kind', 'failed', 'class', 'java.lang.IllegalStateException',"
          + " 'message', 'upstream said ' || (g % 1000), 'trace', 'at x')), now() - (200000 - g) * interval '1 second'"
          + " FROM generate_series(1, 200000) g");
      // 1,000,000 available: 990,000 due, 10,000 scheduled, every 100th with a unique key; 800 of
      // them running, spread over the workers.
      st.execute("INSERT INTO " + s + ".jobs (name, queue, payload, run_at, created_at, unique_key, state, attempt,"
          + " locked_at, locked_by)"
          + " SELECT 'job_' || (g % 10), 'q' || (g % 20), jsonb_build_object('n', g),"
          + " CASE WHEN g % 100 = 0 THEN now() + interval '1 hour' ELSE now() - (g % 3600) * interval '1 second' END,"
          + " now() - interval '2 hours' + g * interval '1 millisecond',"
          + " CASE WHEN g % 100 = 1 THEN 'key-' || g END,"
          + " CASE WHEN g <= 800 THEN 'running' ELSE 'available' END, CASE WHEN g <= 800 THEN 1 ELSE 0 END,"
          + " CASE WHEN g <= 800 THEN now() END,"
          + " CASE WHEN g <= 800 THEN (SELECT min(id) FROM " + s + ".workers) + g % 8 END"
          + " FROM generate_series(1, 1000000) g");
      for (String def : indexes) {
        st.execute(def);
      }
      st.execute("INSERT INTO " + s + ".cron_schedules (name, definition, origin, last_fired)"
          + " VALUES ('nightly', 'cron 0 3 * * * UTC', now(), now())");
      // A day of rollups: per minute, 20 queues, 2 names, 2 outcomes, one worker.
      st.execute("INSERT INTO " + s + ".job_rollups (minute, queue, name, outcome, worker, count)"
          + " SELECT date_trunc('minute', now()) - m * interval '1 minute', 'q' || q, 'job_' || n, o, 'w' || w, 1 + m % 7"
          + " FROM generate_series(0, 1439) m, generate_series(0, 19) q, generate_series(0, 1) n,"
          + " unnest(ARRAY['succeeded', 'retried']) o, generate_series(1, 1) w");
      st.execute("ANALYZE " + s + ".job_rollups");
      // Statistics only, no VACUUM: without a visibility map no index-only scan looks cheap, so the
      // plans hold before autovacuum has been by as well (they also held after VACUUM ANALYZE).
      st.execute("ANALYZE " + s + ".jobs");
      st.execute("ANALYZE " + s + ".workers");
    }
  }

  @Test
  void noDashboardStatementScansJobsSequentially(TestDatabase db) throws Exception {
    long t0 = System.nanoTime();
    load(db.dataSource(), db.schema());
    System.out.printf("loaded 1,200,000 jobs in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    t0 = System.nanoTime();
    // A pool, as every deployment has: the printed timings then measure the reads, not connecting.
    com.zaxxer.hikari.HikariConfig hc = new com.zaxxer.hikari.HikariConfig();
    hc.setDataSource(db.dataSource());
    hc.setMaximumPoolSize(4);
    com.zaxxer.hikari.HikariDataSource pool = new com.zaxxer.hikari.HikariDataSource(hc);
    RecordingDataSource rec = new RecordingDataSource(pool);
    Dashboard d = Dashboard.builder(rec.dataSource).schema(db.schema())
        .authorizer((p, h) -> DashboardAuthorizer.Access.ACT).build();
    Map<String, Long> timings;
    try {
      timings = exercise(d, db);
    } finally {
      pool.close();
    }
    timings.forEach((k, v) -> System.out.printf("%6d ms  %s%n", v, k));

    Set<String> checked = new LinkedHashSet<>();
    List<String> offenders = new ArrayList<>();
    try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
      int n = 0;
      for (RecordingDataSource.Executed e : List.copyOf(rec.executed)) {
        String key = e.sql() + e.literals();
        if (!checked.add(key)) {
          continue;
        }
        String plan = explain(st, "p" + n++, e);
        assertThat(e.sql()).doesNotContainIgnoringCase(" OFFSET ");
        if (SEQ_SCAN_ON_JOBS.matcher(plan).find()) {
          offenders.add(e.sql() + "\n" + e.literals() + "\n" + plan);
        }
      }
    }
    System.out.printf("exercised and explained %d statements in %d ms%n", checked.size(), (System.nanoTime() - t0) / 1_000_000);
    assertThat(checked).hasSizeGreaterThan(20);
    assertThat(offenders).as("statements with a sequential scan of jobs").isEmpty();
  }

  /** Requests every page and JSON read, follows a next-page link, and runs each kind of action. */
  static Map<String, Long> exercise(Dashboard d, TestDatabase db) {
    Map<String, Long> timings = new LinkedHashMap<>();
    DashboardTest.Client c = new DashboardTest.Client(d, null);
    long running = db.queryLong("SELECT min(id) FROM " + db.schema() + ".jobs WHERE state = 'running'");
    long available = db.queryLong("SELECT max(id) FROM " + db.schema() + ".jobs WHERE state = 'available'");
    long discarded = db.queryLong("SELECT max(id) FROM " + db.schema() + ".jobs WHERE state = 'discarded'");
    List<String> pages = new ArrayList<>(List.of("/", "/queues", "/workers", "/cron", "/api/throughput", "/jobs", "/jobs?queue=q3",
        "/jobs?name=job_4", "/jobs?state=available", "/jobs?state=available&queue=q7",
        "/jobs?state=available&name=job_1&key=key-501", "/jobs?state=running", "/jobs?state=running&queue=q2",
        "/jobs?state=discarded", "/jobs?state=discarded&queue=q5&name=job_5",
        "/jobs?state=discarded&from=2026-01-01T00:00:00Z", "/jobs?error=upstream+said+17",
        "/jobs?error=no+such+text", "/jobs?state=discarded&error=said+9&queue=q9",
        "/jobs/" + running, "/jobs/" + available, "/jobs/" + discarded));
    for (String p : List.copyOf(pages)) {
      if (!p.startsWith("/api")) {
        pages.add("/api" + (p.equals("/") ? "" : p));
      }
    }
    for (String p : pages) {
      long t = System.nanoTime();
      Response r = c.get(p);
      timings.put("GET " + p, (System.nanoTime() - t) / 1_000_000);
      assertThat(r.status()).as(p).isEqualTo(200);
      Matcher next = Pattern.compile("rel=\"next\" href=\"([^\"]+)\"").matcher(DashboardTest.body(r));
      if (next.find()) {
        String href = next.group(1).replace("&amp;", "&");
        t = System.nanoTime();
        assertThat(c.get(href).status()).as(href).isEqualTo(200);
        timings.put("GET " + href.replaceAll("after=[^&]+", "after=CURSOR") + " (next page)", (System.nanoTime() - t) / 1_000_000);
      }
    }
    long t = System.nanoTime();
    assertThat(c.post("/api/jobs/" + discarded + "/retry", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(c.post("/api/jobs/" + discarded + "/cancel", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(c.post("/api/jobs/" + available + "/run", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(c.post("/api/jobs/" + discarded + "/delete", "_csrf", c.token()).status()).isEqualTo(200);
    timings.put("POST retry, cancel, run now, delete (4 actions)", (System.nanoTime() - t) / 1_000_000);
    t = System.nanoTime();
    assertThat(c.post("/api/jobs/bulk", "_csrf", c.token(), "action", "retry", "all", "true", "confirm", "yes",
        "error", "upstream said 42").status()).isEqualTo(200);
    timings.put("POST bulk retry of all matching an error text", (System.nanoTime() - t) / 1_000_000);
    t = System.nanoTime();
    assertThat(c.post("/api/queues/q1/pause", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(c.post("/api/queues/q1/resume", "_csrf", c.token()).status()).isEqualTo(200);
    timings.put("POST pause, resume", (System.nanoTime() - t) / 1_000_000);
    t = System.nanoTime();
    assertThat(c.post("/api/cron/nightly/trigger", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(c.post("/api/cron/nightly/disable", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(c.post("/api/cron/nightly/enable", "_csrf", c.token()).status()).isEqualTo(200);
    timings.put("POST cron trigger, disable, enable", (System.nanoTime() - t) / 1_000_000);
    return timings;
  }

  private static String explain(Statement st, String name, RecordingDataSource.Executed e) throws Exception {
    StringBuilder sql = new StringBuilder();
    int n = 0;
    for (char ch : e.sql().toCharArray()) {
      if (ch == '?') {
        sql.append('$').append(++n);
      } else {
        sql.append(ch);
      }
    }
    if (!e.sql().stripLeading().toUpperCase(java.util.Locale.ROOT).matches("(?s)(SELECT|WITH|UPDATE|DELETE|INSERT).*")) {
      return "";
    }
    st.execute("PREPARE " + name + " AS " + sql);
    StringBuilder plan = new StringBuilder();
    try {
      // A write is explained without ANALYZE, so it changes nothing.
      try (ResultSet rs = st.executeQuery("EXPLAIN EXECUTE " + name
          + (e.literals().isEmpty() ? "" : "(" + String.join(", ", e.literals()) + ")"))) {
        while (rs.next()) {
          plan.append(rs.getString(1)).append('\n');
        }
      }
    } finally {
      st.execute("DEALLOCATE " + name);
    }
    return plan.toString();
  }
}
