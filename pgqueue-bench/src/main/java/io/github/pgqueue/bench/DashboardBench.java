package io.github.pgqueue.bench;

import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.dashboard.Dashboard;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code Bench --dashboard}: loads 1,000,000 available jobs in 20 queues (800 running, 10,000
 * scheduled) and 200,000 discarded ones, then requests each dashboard page and JSON read over HTTP
 * (the JDK handler on a local port, a Hikari pool of 4) and prints the median and the worst of 7
 * requests after one warm-up. The target is under 200 ms each. Reads only: actions change the data.
 */
final class DashboardBench {

  private DashboardBench() {}

  static void main(String url) throws Exception {
    TestPostgres embedded = null;
    String adminUrl = url;
    if (adminUrl == null) {
      embedded = TestPostgres.startEmbedded();
      adminUrl = embedded.jdbcUrl("postgres") + "?user=" + embedded.user();
    }
    String db = "pgqueue_dash_" + System.currentTimeMillis();
    try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + db);
    }
    HttpServer http = null;
    try {
      String[] cred = Bench.credentials(adminUrl);
      HikariConfig hc = new HikariConfig();
      hc.setJdbcUrl(Bench.withDatabase(adminUrl, db));
      if (cred[0] != null) {
        hc.setUsername(cred[0]);
      }
      if (cred[1] != null) {
        hc.setPassword(cred[1]);
      }
      hc.setMaximumPoolSize(4);
      try (HikariDataSource ds = new HikariDataSource(hc)) {
        Migrator.create(ds, Migrator.DEFAULT_SCHEMA).migrate();
        long t0 = System.nanoTime();
        load(ds);
        System.err.printf("loaded 1,200,000 jobs in %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        http.createContext("/pgqueue", Dashboard.builder(ds).mountPath("/pgqueue").build().httpHandler());
        http.start();
        String base = "http://127.0.0.1:" + http.getAddress().getPort() + "/pgqueue";
        HttpClient client = HttpClient.newHttpClient();
        long discarded;
        long available;
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
            ResultSet rs = st.executeQuery("SELECT (SELECT max(id) FROM pgqueue.jobs WHERE state = 'discarded'),"
                + " (SELECT max(id) FROM pgqueue.jobs WHERE state = 'available')")) {
          rs.next();
          discarded = rs.getLong(1);
          available = rs.getLong(2);
        }
        List<String> pages = new ArrayList<>(List.of("", "/queues", "/workers", "/cron", "/jobs", "/jobs?queue=q3",
            "/jobs?state=available&queue=q7", "/jobs?state=available&name=job_1&key=key-501", "/jobs?state=running",
            "/jobs?state=discarded", "/jobs?state=discarded&queue=q5&name=job_5", "/jobs?error=upstream+said+17",
            "/jobs?error=no+such+text", "/jobs/" + available, "/jobs/" + discarded));
        for (String p : List.copyOf(pages)) {
          pages.add("/api" + p);
        }
        StringBuilder out = new StringBuilder("\n## dashboard on 1,000,000 available + 200,000 discarded jobs\n\n"
            + "| request | median ms | max ms |\n|---|---|---|\n");
        Pattern next = Pattern.compile("rel=\"next\" href=\"([^\"]+)\"");
        for (String p : pages) {
          String body = time(client, base + p, out, p);
          Matcher m = next.matcher(body);
          if (m.find()) {
            String href = m.group(1).replace("&amp;", "&");
            time(client, "http://127.0.0.1:" + http.getAddress().getPort() + href, out, p + " (next page)");
          }
        }
        System.out.println(out);
      }
    } finally {
      if (http != null) {
        http.stop(0);
      }
      try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
        st.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
      }
      if (embedded != null) {
        embedded.close();
      }
    }
  }

  private static String time(HttpClient client, String url, StringBuilder out, String label) throws Exception {
    HttpRequest req = HttpRequest.newBuilder(URI.create(url)).build();
    String body = client.send(req, HttpResponse.BodyHandlers.ofString()).body();
    long[] ms = new long[7];
    for (int i = 0; i < ms.length; i++) {
      long t = System.nanoTime();
      HttpResponse<String> r = client.send(req, HttpResponse.BodyHandlers.ofString());
      ms[i] = (System.nanoTime() - t) / 1_000_000;
      if (r.statusCode() != 200) {
        throw new IllegalStateException(url + " answered " + r.statusCode() + ": " + r.body());
      }
    }
    Arrays.sort(ms);
    out.append("| `GET ").append(label.isEmpty() ? "/" : label).append("` | ").append(ms[3]).append(" | ")
        .append(ms[6]).append(" |\n");
    return body;
  }

  /** The data set of pgqueue-dashboard's DashboardPlanTest. */
  static void load(HikariDataSource ds) throws Exception {
    try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
      String s = "pgqueue";
      st.execute("INSERT INTO " + s + ".workers (host, pid, queues, job_names) SELECT 'host-' || g, 1000 + g,"
          + " ARRAY(SELECT 'q' || q FROM generate_series(0, 19) q), ARRAY(SELECT 'job_' || n FROM generate_series(0, 8) n)"
          + " FROM generate_series(1, 8) g");
      List<String> indexes = new ArrayList<>();
      try (ResultSet rs = st.executeQuery("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '" + s
          + "' AND tablename = 'jobs' AND indexname <> 'jobs_pkey'")) {
        while (rs.next()) {
          indexes.add(rs.getString(2));
          st.addBatch("DROP INDEX " + s + "." + rs.getString(1));
        }
      }
      st.executeBatch();
      st.execute("INSERT INTO " + s + ".jobs (name, queue, payload, state, attempt, max_attempts, errors, discarded_at)"
          + " SELECT 'job_' || (g % 10), 'q' || (g % 20), '{}', 'discarded', 1, 1, jsonb_build_array(jsonb_build_object("
          + "'at', now(), 'attempt', 1, 'kind', 'failed', 'class', 'java.lang.IllegalStateException',"
          + " 'message', 'upstream said ' || (g % 1000), 'trace', 'at x')), now() - (200000 - g) * interval '1 second'"
          + " FROM generate_series(1, 200000) g");
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
      st.execute("VACUUM ANALYZE " + s + ".jobs");
      st.execute("ANALYZE " + s + ".workers");
    }
  }
}
