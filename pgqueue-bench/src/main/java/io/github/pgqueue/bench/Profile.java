package io.github.pgqueue.bench;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where the database spends a phase: {@code pg_stat_activity} sampled every 25 ms on a
 * connection of its own (each backend that is running a statement or holds a transaction open,
 * counted by wait event; a backend with no wait event is on a CPU or waiting for one; a
 * heavyweight lock wait is labelled with its statement and its first blocker's), the WAL the
 * phase wrote (the difference of {@code pg_current_wal_lsn()}, so the whole server's), and, if
 * the server loads {@code pg_stat_statements} ({@code shared_preload_libraries}), the statements
 * by total execution time; and where the machine's CPU went ({@link CpuProfile}). Prints a short
 * text block; it measures, it asserts nothing.
 */
final class Profile implements AutoCloseable {

  static final long SAMPLE_MILLIS = 25;

  private final Connection c;
  private final boolean statements;
  private final Map<String, Long> waits = new TreeMap<>();
  private volatile boolean running;
  private Thread sampler;
  private long samples;
  private long startNanos;
  private String startLsn;
  private CpuProfile.Snapshot cpuStart;
  private CpuProfile.Snapshot cpuEnd;
  private long cpuEndNanos;

  private Profile(Connection c, boolean statements) {
    this.c = c;
    this.statements = statements;
  }

  /** A profiler on its own connection; whether statements are profiled depends on the server. */
  static Profile open(String url, String user, String password) throws SQLException {
    Connection c = DriverManager.getConnection(url, user, password);
    boolean statements = false;
    try (Statement st = c.createStatement()) {
      try (ResultSet rs = st.executeQuery("SHOW shared_preload_libraries")) {
        rs.next();
        if (rs.getString(1).contains("pg_stat_statements")) {
          st.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
          statements = true;
        }
      }
    }
    return new Profile(c, statements);
  }

  boolean statements() {
    return statements;
  }

  /** Resets the server's counters and starts sampling. */
  void start() throws SQLException {
    try (Statement st = c.createStatement()) {
      if (statements) {
        st.execute("SELECT pg_stat_statements_reset()");
      }
    }
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_current_wal_lsn()::text")) {
      rs.next();
      startLsn = rs.getString(1);
    }
    waits.clear();
    samples = 0;
    running = true;
    cpuEnd = null;
    cpuStart = CpuProfile.take();
    startNanos = System.nanoTime();
    sampler = new Thread(this::sample, "profile-sampler");
    sampler.setDaemon(true);
    sampler.start();
  }

  private void sample() {
    String q = "SELECT CASE WHEN backend_type = 'client backend' THEN '' ELSE backend_type || ' ' END"
        + " || CASE WHEN state = 'idle in transaction' THEN 'idle in transaction'"
        + " ELSE coalesce(wait_event_type || ':' || wait_event, 'CPU') END"
        // A heavyweight lock wait names its statement and the first blocker's: who waits for whom
        // is the finding.
        + " || CASE WHEN wait_event_type = 'Lock' THEN ' (' || left(regexp_replace(query, '\\s+', ' ', 'g'), 40)"
        + " || ' waits for ' || coalesce((SELECT left(regexp_replace(b.query, '\\s+', ' ', 'g'), 40)"
        + " || CASE WHEN b.state = 'active' THEN '' ELSE ' [' || b.state || ']' END"
        + " FROM pg_stat_activity b WHERE b.pid = (pg_blocking_pids(a.pid))[1]), 'a backend gone')"
        + " || ')' ELSE '' END, count(*)"
        + " FROM pg_stat_activity a WHERE pid <> pg_backend_pid()"
        + " AND ((datname = current_database() AND state IN ('active', 'idle in transaction'))"
        + " OR (backend_type NOT IN ('client backend', 'autovacuum launcher', 'logical replication launcher')"
        + " AND wait_event_type IS DISTINCT FROM 'Activity'))"
        + " GROUP BY 1";
    try (Statement st = c.createStatement()) {
      while (running) {
        try (ResultSet rs = st.executeQuery(q)) {
          synchronized (waits) {
            while (rs.next()) {
              waits.merge(rs.getString(1), rs.getLong(2), Long::sum);
            }
            samples++;
          }
        }
        Thread.sleep(SAMPLE_MILLIS);
      }
    } catch (SQLException | InterruptedException e) {
      // the phase ended under us, or the connection failed: keep what was sampled
    }
  }

  /**
   * Takes the end of the phase's CPU figures now, before the phase's other JVMs stop (a process
   * that has ended can no longer be read); without this call {@link #stop} takes them.
   */
  void markEnd() {
    cpuEndNanos = System.nanoTime();
    cpuEnd = CpuProfile.take();
  }

  /**
   * Stops sampling and returns the profile as text.
   *
   * @param phase the phase's name, for the heading
   * @param jobs jobs the phase processed, for per-job figures
   */
  String stop(String phase, long jobs) throws Exception {
    if (cpuEnd == null) {
      markEnd();
    }
    running = false;
    sampler.join(5_000);
    double wallMs = (System.nanoTime() - startNanos) / 1e6;
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "%nPROFILE %s (%.0f ms, %d samples of pg_stat_activity every %d ms)%n",
        phase, wallMs, samples, SAMPLE_MILLIS));
    long total;
    List<Map.Entry<String, Long>> sorted;
    synchronized (waits) {
      total = waits.values().stream().mapToLong(Long::longValue).sum();
      sorted = new ArrayList<>(waits.entrySet());
    }
    sorted.sort((a, b) -> Long.compare(b.getValue(), a.getValue()));
    sb.append(String.format(Locale.ROOT, "  backends busy per sample (mean): %.2f%n",
        samples == 0 ? 0.0 : (double) total / samples));
    sb.append("  wait events (share of busy-backend samples; CPU = running or waiting for a core):\n");
    for (Map.Entry<String, Long> e : sorted) {
      sb.append(String.format(Locale.ROOT, "    %5.1f%%  %s%n", 100.0 * e.getValue() / Math.max(1, total), e.getKey()));
    }
    try (PreparedStatement ps = c.prepareStatement("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn)")) {
      ps.setString(1, startLsn);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        sb.append(String.format(Locale.ROOT, "  WAL written by the server: %.0f bytes per job%n",
            rs.getDouble(1) / Math.max(1, jobs)));
      }
    }
    sb.append(CpuProfile.report(cpuStart, cpuEnd, cpuEndNanos - startNanos, jobs));
    if (!statements) {
      sb.append("  statements: pg_stat_statements is not in shared_preload_libraries on this server\n");
      return sb.toString();
    }
    String q = "SELECT calls, total_exec_time, mean_exec_time, rows,"
        + " regexp_replace(query, '\\s+', ' ', 'g')"
        + " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        + " WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_%'"
        + " ORDER BY total_exec_time DESC";
    List<Object[]> rows = new ArrayList<>();
    double sum = 0;
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(q)) {
      while (rs.next()) {
        rows.add(new Object[] {rs.getLong(1), rs.getDouble(2), rs.getDouble(3), rs.getLong(4), rs.getString(5)});
        sum += rs.getDouble(2);
      }
    }
    sb.append(String.format(Locale.ROOT,
        "  statements: %.0f ms of execution in all (%.2f executing at once on average, %.1f µs per job);"
            + " the top by total time:%n", sum, sum / wallMs, 1000 * sum / Math.max(1, jobs)));
    sb.append("    | share | calls | total ms | mean ms | rows | statement |\n");
    sb.append("    |---|---|---|---|---|---|\n");
    for (int i = 0; i < Math.min(6, rows.size()); i++) {
      Object[] r = rows.get(i);
      String text = (String) r[4];
      sb.append(String.format(Locale.ROOT, "    | %.0f%% | %d | %.0f | %.3f | %d | `%s` |%n",
          100 * (double) r[1] / Math.max(1e-9, sum), (long) r[0], (double) r[1], (double) r[2], (long) r[3],
          text.length() > 90 ? text.substring(0, 90) + "…" : text));
    }
    return sb.toString();
  }

  @Override
  public void close() throws SQLException {
    running = false;
    c.close();
  }

  /** For tests: the wait-event counts sampled so far. */
  Map<String, Long> waits() {
    synchronized (waits) {
      return new LinkedHashMap<>(waits);
    }
  }
}
