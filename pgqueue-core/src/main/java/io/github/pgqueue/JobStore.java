package io.github.pgqueue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Runs the statements of {@link Sql} on a given connection. It never opens, commits or closes a
 * connection: transaction boundaries belong to the caller ({@link JobQueue} or the application).
 */
final class JobStore {

  /** How often an insert of a keyed job retries when the job holding its key vanished meanwhile. */
  private static final int UNIQUE_RACE_RETRIES = 10;

  private static final ObjectMapper ERRORS_MAPPER = new ObjectMapper();

  final Sql sql;

  JobStore(Sql sql) {
    this.sql = sql;
  }

  /** One job ready to insert: validated, options resolved, payload encoded. */
  record Row(
      String name,
      String queue,
      String payloadJson,
      int priority,
      Instant runAt,
      long delayMicros,
      int maxAttempts,
      String context,
      String uniqueKey) {

    boolean immediate() {
      return runAt == null && delayMicros == 0;
    }
  }

  /** Inserts one job; with a unique key, returns the holder of the key instead when there is one. */
  EnqueueResult insert(Connection c, Row row, boolean notify) throws SQLException {
    boolean keyed = row.uniqueKey != null;
    String statement =
        keyed
            ? (notify ? sql.insertUniqueJobNotify : sql.insertUniqueJob)
            : (notify ? sql.insertJobNotify : sql.insertJob);
    for (int attempt = 0; ; attempt++) {
      try (PreparedStatement ps = c.prepareStatement(statement)) {
        int i = bindRow(ps, row);
        if (keyed) {
          ps.setString(i++, row.uniqueKey);
        }
        if (notify) {
          ps.setString(i++, sql.channel);
          ps.setString(i, row.queue);
        }
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            return new EnqueueResult(new JobId(rs.getLong(1)), false);
          }
        }
      }
      // Only a keyed insert can come back empty: the key is held. Find the holder; if it finished
      // between the two statements, the key is free again and the insert is tried once more.
      try (PreparedStatement ps = c.prepareStatement(sql.findUnique)) {
        ps.setString(1, row.name);
        ps.setString(2, row.uniqueKey);
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            return new EnqueueResult(new JobId(rs.getLong(1)), true);
          }
        }
      }
      if (attempt >= UNIQUE_RACE_RETRIES) {
        throw new PgQueueException(
            "could not enqueue \"" + row.name + "\" with unique key " + Identifiers.quote(row.uniqueKey)
                + ": the job holding the key kept changing");
      }
    }
  }

  private static int bindRow(PreparedStatement ps, Row row) throws SQLException {
    int i = 1;
    ps.setString(i++, row.name);
    ps.setString(i++, row.queue);
    ps.setString(i++, row.payloadJson);
    ps.setInt(i++, row.priority);
    if (row.runAt == null) {
      ps.setNull(i++, Types.TIMESTAMP_WITH_TIMEZONE);
    } else {
      ps.setObject(i++, OffsetDateTime.ofInstant(row.runAt, ZoneOffset.UTC));
    }
    ps.setLong(i++, row.delayMicros);
    ps.setInt(i++, row.maxAttempts);
    ps.setString(i++, row.context);
    return i;
  }

  /**
   * Inserts a batch, in a few statements whatever its size: unkeyed rows in one, keyed rows in
   * another (after removing in-batch duplicates, first wins), then one lookup for keys already
   * held. Results come back in input order. Notifies each queue in {@code notifyQueues}.
   */
  List<EnqueueResult> insertAll(Connection c, List<Row> rows, Set<String> notifyQueues)
      throws SQLException {
    EnqueueResult[] results = new EnqueueResult[rows.size()];
    List<Integer> plain = new ArrayList<>();
    // (name, key) -> index of its first occurrence; later occurrences point at it.
    Map<List<String>, Integer> firstByKey = new HashMap<>();
    Map<Integer, Integer> sameAs = new HashMap<>();
    for (int i = 0; i < rows.size(); i++) {
      Row r = rows.get(i);
      if (r.uniqueKey == null) {
        plain.add(i);
      } else {
        Integer first = firstByKey.putIfAbsent(List.of(r.name, r.uniqueKey), i);
        if (first != null) {
          sameAs.put(i, first);
        }
      }
    }
    if (!plain.isEmpty()) {
      insertPlain(c, rows, plain, results);
    }
    if (!firstByKey.isEmpty()) {
      insertKeyed(c, rows, firstByKey, results);
    }
    for (Map.Entry<Integer, Integer> e : sameAs.entrySet()) {
      results[e.getKey()] = new EnqueueResult(results[e.getValue()].id(), true);
    }
    if (!notifyQueues.isEmpty()) {
      try (PreparedStatement ps = c.prepareStatement(sql.notifyQueues)) {
        ps.setString(1, sql.channel);
        ps.setArray(2, c.createArrayOf("text", notifyQueues.toArray(new String[0])));
        ps.execute();
      }
    }
    return List.of(results);
  }

  private void insertPlain(Connection c, List<Row> rows, List<Integer> indexes, EnqueueResult[] out)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.insertJobs)) {
      bindArrays(c, ps, rows, indexes, false);
      List<Long> ids = new ArrayList<>(indexes.size());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getLong(1));
        }
      }
      if (ids.size() != indexes.size()) {
        throw new PgQueueException(
            "bulk insert returned " + ids.size() + " ids for " + indexes.size() + " jobs");
      }
      // Rows are inserted in input order (ORDER BY ordinality), and identity values are drawn in
      // insertion order, so the sorted ids match the input order.
      ids.sort(null);
      for (int k = 0; k < indexes.size(); k++) {
        out[indexes.get(k)] = new EnqueueResult(new JobId(ids.get(k)), false);
      }
    }
  }

  private void insertKeyed(
      Connection c, List<Row> rows, Map<List<String>, Integer> firstByKey, EnqueueResult[] out)
      throws SQLException {
    Map<List<String>, Integer> pending = new HashMap<>(firstByKey);
    for (int attempt = 0; !pending.isEmpty(); attempt++) {
      if (attempt > UNIQUE_RACE_RETRIES) {
        throw new PgQueueException(
            "could not enqueue " + pending.size() + " keyed jobs: the jobs holding their keys kept changing");
      }
      List<Integer> indexes = new ArrayList<>(pending.values());
      try (PreparedStatement ps = c.prepareStatement(sql.insertUniqueJobs)) {
        bindArrays(c, ps, rows, indexes, true);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            Integer idx = pending.remove(List.of(rs.getString(2), rs.getString(3)));
            out[idx] = new EnqueueResult(new JobId(rs.getLong(1)), false);
          }
        }
      }
      if (pending.isEmpty()) {
        break;
      }
      try (PreparedStatement ps = c.prepareStatement(sql.findUniques)) {
        String[] names = new String[pending.size()];
        String[] keys = new String[pending.size()];
        int k = 0;
        for (List<String> key : pending.keySet()) {
          names[k] = key.get(0);
          keys[k++] = key.get(1);
        }
        ps.setArray(1, c.createArrayOf("text", names));
        ps.setArray(2, c.createArrayOf("text", keys));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            Integer idx = pending.remove(List.of(rs.getString(2), rs.getString(3)));
            if (idx != null) {
              out[idx] = new EnqueueResult(new JobId(rs.getLong(1)), true);
            }
          }
        }
      }
    }
  }

  private static void bindArrays(
      Connection c, PreparedStatement ps, List<Row> rows, List<Integer> indexes, boolean keyed)
      throws SQLException {
    int n = indexes.size();
    String[] names = new String[n];
    String[] queues = new String[n];
    String[] payloads = new String[n];
    Integer[] priorities = new Integer[n];
    String[] runAts = new String[n];
    Long[] delays = new Long[n];
    Integer[] maxAttempts = new Integer[n];
    String[] contexts = new String[n];
    String[] keys = keyed ? new String[n] : null;
    for (int k = 0; k < n; k++) {
      Row r = rows.get(indexes.get(k));
      names[k] = r.name;
      queues[k] = r.queue;
      payloads[k] = r.payloadJson;
      priorities[k] = r.priority;
      runAts[k] = r.runAt == null ? null : r.runAt.toString();
      delays[k] = r.delayMicros;
      maxAttempts[k] = r.maxAttempts;
      contexts[k] = r.context;
      if (keyed) {
        keys[k] = r.uniqueKey;
      }
    }
    int i = 1;
    ps.setArray(i++, c.createArrayOf("text", names));
    ps.setArray(i++, c.createArrayOf("text", queues));
    ps.setArray(i++, c.createArrayOf("text", payloads));
    ps.setArray(i++, c.createArrayOf("int4", priorities));
    ps.setArray(i++, c.createArrayOf("text", runAts));
    ps.setArray(i++, c.createArrayOf("int8", delays));
    ps.setArray(i++, c.createArrayOf("int4", maxAttempts));
    ps.setArray(i++, c.createArrayOf("text", contexts));
    if (keyed) {
      ps.setArray(i, c.createArrayOf("text", keys));
    }
  }

  Optional<JobInfo> find(Connection c, long id) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.findJob)) {
      ps.setLong(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(jobInfo(rs)) : Optional.empty();
      }
    }
  }

  /** Maps a row in the column order of {@link Sql#findJob}. */
  static JobInfo jobInfo(ResultSet rs) throws SQLException {
    long lockedBy = rs.getLong(11);
    Long lockedByOrNull = rs.wasNull() ? null : lockedBy;
    return new JobInfo(
        new JobId(rs.getLong(1)),
        rs.getString(2),
        rs.getString(3),
        JobState.fromDb(rs.getString(4)),
        rs.getInt(5),
        rs.getInt(6),
        rs.getInt(7),
        instant(rs.getTimestamp(8)),
        instant(rs.getTimestamp(9)),
        instant(rs.getTimestamp(10)),
        lockedByOrNull,
        rs.getString(12),
        rs.getString(13),
        rs.getString(14),
        errors(rs.getString(15)),
        instant(rs.getTimestamp(16)));
  }

  List<QueueCount> counts(Connection c) throws SQLException {
    List<QueueCount> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql.countJobs);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.add(new QueueCount(rs.getString(1), JobState.fromDb(rs.getString(2)), rs.getLong(3)));
      }
    }
    return out;
  }

  static Instant instant(Timestamp ts) {
    return ts == null ? null : ts.toInstant();
  }

  /** Parses the {@code errors} column: a JSON array of objects written by the worker's SQL. */
  static List<JobError> errors(String json) {
    List<JobError> out = new ArrayList<>();
    if (json == null) {
      return out;
    }
    try {
      for (JsonNode e : ERRORS_MAPPER.readTree(json)) {
        JsonNode at = e.get("at");
        out.add(
            new JobError(
                at == null || at.isNull() ? null : OffsetDateTime.parse(at.asText()).toInstant(),
                e.path("attempt").asInt(),
                kind(e.path("kind").asText()),
                e.path("class").asText(""),
                e.path("message").asText(""),
                e.path("trace").asText("")));
      }
    } catch (Exception e) {
      throw new PgQueueException("unreadable errors column: " + Identifiers.quote(json), e);
    }
    return out;
  }

  private static JobError.Kind kind(String s) {
    try {
      return JobError.Kind.valueOf(s.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      return JobError.Kind.FAILED;
    }
  }
}
