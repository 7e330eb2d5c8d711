package io.github.pgqueue.bench;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

/**
 * Compares ways of inserting a batch of jobs into pgqueue's {@code jobs} table, on batches of
 * 1,000 and 10,000, with and without a unique key ({@code --bulk-methods}; docs/performance.md,
 * "Bulk enqueue: the methods"). Each method inserts the same rows (name, queue, payload, priority,
 * and the unique key when keyed; the table's defaults for the rest) in one transaction on one
 * connection and returns what a bulk enqueue needs to answer per item: the new id, or for a keyed
 * row whether it was inserted. The methods:
 *
 * <ul>
 *   <li>{@code unnest}: one {@code INSERT ... SELECT FROM unnest(arrays) WITH ORDINALITY ...
 *       RETURNING}, pgqueue's statement ({@code Sql.insertJobs});
 *   <li>{@code values}: multi-row {@code INSERT ... VALUES (...), (...) RETURNING}, split into
 *       statements of at most 30,000 bind parameters (the protocol allows 65,535);
 *   <li>{@code copy}: binary {@code COPY} into a temporary staging table, then {@code INSERT ...
 *       SELECT ... RETURNING} from it (COPY alone returns no ids);
 *   <li>{@code copy_no_ids}: binary {@code COPY} straight into {@code jobs}: no per-item result,
 *       so not usable for an enqueue, measured as the bound;
 *   <li>{@code unnest_full}: the same {@code unnest} statement with all nine arrays pgqueue's
 *       statement binds (run_at, delay, max attempts, context, trace context as well), unkeyed;
 *   <li>{@code function}: {@code enqueue_all_v1}, the server-side function of migration 10, which
 *       takes those nine arrays (unkeyed only).
 * </ul>
 *
 * <p>Rounds alternate the methods; the table is emptied (untimed) after each batch so every batch
 * meets the same table. Asserts nothing; it measures.
 */
final class BulkMethods {

  static final String[] METHODS = {"unnest", "values", "copy", "copy_no_ids", "unnest_full", "function"};

  private BulkMethods() {}

  /** Runs {@code rounds} rounds on a fresh database of {@code url}'s server; medians in jobs/s. */
  static Map<String, Object> run(String url, String user, String password, int rounds) throws Exception {
    Workload.migrated(url, user, password);
    Map<String, List<Double>> rates = new LinkedHashMap<>();
    try (Connection c = DriverManager.getConnection(url, user, password)) {
      try (Statement st = c.createStatement()) {
        st.execute("CREATE TEMP TABLE stage (ord int, n text, q text, p jsonb, pr int, uk text)");
      }
      c.setAutoCommit(false);
      for (int round = -1; round < rounds; round++) { // round -1 warms up, unrecorded
        for (int size : new int[] {1_000, 10_000}) {
          for (boolean keyed : new boolean[] {false, true}) {
            for (String method : METHODS) {
              if (keyed && (method.equals("function") || method.equals("copy_no_ids") || method.equals("unnest_full"))) {
                continue;
              }
              long t0 = System.nanoTime();
              int answered = insert(c, method, size, keyed, round);
              c.commit();
              double seconds = (System.nanoTime() - t0) / 1e9;
              if (answered != size && !method.equals("copy_no_ids")) {
                throw new IllegalStateException(method + " answered " + answered + " of " + size);
              }
              try (Statement st = c.createStatement()) {
                st.execute("TRUNCATE pgqueue.jobs");
              }
              c.commit();
              if (round >= 0) {
                rates.computeIfAbsent("bulk_" + method + "_" + size + (keyed ? "_keyed" : ""), k -> new ArrayList<>())
                    .add(size / seconds);
              }
            }
          }
        }
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    rates.forEach((k, v) -> {
      double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
      out.put(k, Math.round(a[a.length / 2]));
    });
    return out;
  }

  /** Inserts one batch by {@code method}; returns how many items got an answer (id or duplicate). */
  private static int insert(Connection c, String method, int size, boolean keyed, int round)
      throws SQLException, IOException {
    String[] names = new String[size];
    String[] queues = new String[size];
    String[] payloads = new String[size];
    Integer[] priorities = new Integer[size];
    String[] keys = new String[size];
    for (int i = 0; i < size; i++) {
      names[i] = "noop";
      queues[i] = "default";
      payloads[i] = "{\"n\": " + i + "}";
      priorities[i] = 0;
      keys[i] = keyed ? "k" + round + "-" + i : null;
    }
    String conflict = " ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL"
        + " AND state IN ('available', 'running') DO NOTHING";
    switch (method) {
      case "unnest" -> {
        String sql = keyed
            ? "INSERT INTO pgqueue.jobs (name, queue, payload, priority, unique_key)"
                + " SELECT n, q, p::jsonb, pr, uk FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::text[])"
                + " AS t(n, q, p, pr, uk) ORDER BY n, uk" + conflict + " RETURNING id, unique_key"
            : "INSERT INTO pgqueue.jobs (name, queue, payload, priority)"
                + " SELECT n, q, p::jsonb, pr FROM unnest(?::text[], ?::text[], ?::text[], ?::int[])"
                + " WITH ORDINALITY AS t(n, q, p, pr, ord) ORDER BY ord RETURNING id";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
          ps.setArray(1, c.createArrayOf("text", names));
          ps.setArray(2, c.createArrayOf("text", queues));
          ps.setArray(3, c.createArrayOf("text", payloads));
          ps.setArray(4, c.createArrayOf("int4", priorities));
          if (keyed) {
            ps.setArray(5, c.createArrayOf("text", keys));
          }
          return count(ps);
        }
      }
      case "values" -> {
        int perRow = keyed ? 5 : 4;
        int rowsPerStatement = 30_000 / perRow;
        int answered = 0;
        for (int from = 0; from < size; from += rowsPerStatement) {
          int n = Math.min(rowsPerStatement, size - from);
          StringBuilder sql = new StringBuilder("INSERT INTO pgqueue.jobs (name, queue, payload, priority"
              + (keyed ? ", unique_key" : "") + ") VALUES ");
          String row = keyed ? "(?, ?, ?::jsonb, ?, ?)" : "(?, ?, ?::jsonb, ?)";
          for (int i = 0; i < n; i++) {
            sql.append(i == 0 ? "" : ", ").append(row);
          }
          sql.append(keyed ? conflict + " RETURNING id, unique_key" : " RETURNING id");
          try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
            int p = 1;
            for (int i = from; i < from + n; i++) {
              ps.setString(p++, names[i]);
              ps.setString(p++, queues[i]);
              ps.setString(p++, payloads[i]);
              ps.setInt(p++, priorities[i]);
              if (keyed) {
                ps.setString(p++, keys[i]);
              }
            }
            answered += count(ps);
          }
        }
        return answered;
      }
      case "copy", "copy_no_ids" -> {
        boolean staged = method.equals("copy");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(size * 64);
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeBytes("PGCOPY\n\u00ff\r\n\u0000");
        out.writeInt(0); // flags
        out.writeInt(0); // header extension
        for (int i = 0; i < size; i++) {
          out.writeShort(staged ? 6 : 4);
          if (staged) {
            out.writeInt(4);
            out.writeInt(i);
          }
          text(out, names[i]);
          text(out, queues[i]);
          byte[] json = payloads[i].getBytes(StandardCharsets.UTF_8);
          out.writeInt(json.length + 1);
          out.writeByte(1); // jsonb's binary form: a version byte, then the text
          out.write(json);
          if (staged) {
            out.writeInt(4);
            out.writeInt(priorities[i]);
          } else {
            out.writeInt(2); // jobs.priority is a smallint
            out.writeShort(priorities[i]);
          }
          if (staged) {
            text(out, keys[i]);
          }
        }
        out.writeShort(-1);
        CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
        long copied = copy.copyIn(staged
                ? "COPY stage (ord, n, q, p, pr, uk) FROM STDIN (FORMAT binary)"
                : "COPY pgqueue.jobs (name, queue, payload, priority) FROM STDIN (FORMAT binary)",
            new ByteArrayInputStream(bytes.toByteArray()));
        if (!staged) {
          return (int) copied;
        }
        String sql = keyed
            ? "INSERT INTO pgqueue.jobs (name, queue, payload, priority, unique_key)"
                + " SELECT n, q, p, pr, uk FROM stage ORDER BY n, uk" + conflict + " RETURNING id, unique_key"
            : "INSERT INTO pgqueue.jobs (name, queue, payload, priority)"
                + " SELECT n, q, p, pr FROM stage ORDER BY ord RETURNING id";
        int answered;
        try (PreparedStatement ps = c.prepareStatement(sql)) {
          answered = count(ps);
        }
        try (Statement st = c.createStatement()) {
          st.execute("TRUNCATE stage");
        }
        return answered;
      }
      case "function", "unnest_full" -> {
        Integer[] maxAttempts = new Integer[size];
        Arrays.fill(maxAttempts, 25);
        Long[] delays = new Long[size];
        Arrays.fill(delays, 0L);
        boolean fn = method.equals("function");
        try (PreparedStatement ps = c.prepareStatement(fn
            ? "SELECT * FROM pgqueue.enqueue_all_v1(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[],"
                + " ?::bigint[], ?::int[], ?::text[], ?::text[], ?, ?::text[])"
            : "INSERT INTO pgqueue.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context)"
                + " SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c, tc::jsonb"
                + " FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[],"
                + " ?::text[], ?::text[]) WITH ORDINALITY AS t(n, q, p, pr, ra, d, ma, c, tc, ord)"
                + " ORDER BY ord RETURNING id")) {
          ps.setArray(1, c.createArrayOf("text", names));
          ps.setArray(2, c.createArrayOf("text", queues));
          ps.setArray(3, c.createArrayOf("text", payloads));
          ps.setArray(4, c.createArrayOf("int4", priorities));
          ps.setArray(5, c.createArrayOf("timestamptz", new java.sql.Timestamp[size]));
          ps.setArray(6, c.createArrayOf("int8", delays));
          ps.setArray(7, c.createArrayOf("int4", maxAttempts));
          String[] contexts = new String[size];
          Arrays.fill(contexts, ""); // jobs.context is NOT NULL; the library sends "" for none
          ps.setArray(8, c.createArrayOf("text", contexts));
          ps.setArray(9, c.createArrayOf("text", new String[size]));
          if (fn) {
            ps.setString(10, null);
            ps.setArray(11, (Array) null);
          }
          return count(ps);
        }
      }
      default -> throw new IllegalArgumentException(method);
    }
  }

  private static void text(DataOutputStream out, String s) throws IOException {
    if (s == null) {
      out.writeInt(-1);
      return;
    }
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  private static int count(PreparedStatement ps) throws SQLException {
    int n = 0;
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        n++;
      }
    }
    return n;
  }
}
