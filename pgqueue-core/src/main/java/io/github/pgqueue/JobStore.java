package io.github.pgqueue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.internal.Identifiers;
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
import java.util.Objects;
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

  /**
   * Whether this connection will not keep server-side prepared statements: pgjdbc's {@code
   * prepareThreshold} is 0 or less, as it must be behind a transaction-mode pooler that does not
   * track them (PgBouncer before 1.21, Supavisor, RDS Proxy). PostgreSQL then parses and plans
   * every statement on every execution, so the hot paths call the functions of migration V010
   * instead ({@link Sql#claimFn}), whose plans PostgreSQL keeps per backend. A connection of
   * another driver is taken to keep them.
   */
  static boolean unprepared(Connection c) throws SQLException {
    return c.isWrapperFor(org.postgresql.PGConnection.class)
        && c.unwrap(org.postgresql.PGConnection.class).getPrepareThreshold() <= 0;
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
      String uniqueKey,
      TraceContext traceContext,
      String concurrencyKey) {

    /** A row with no concurrency key. */
    Row(String name, String queue, String payloadJson, int priority, Instant runAt, long delayMicros,
        int maxAttempts, String context, String uniqueKey, TraceContext traceContext) {
      this(name, queue, payloadJson, priority, runAt, delayMicros, maxAttempts, context, uniqueKey, traceContext, null);
    }

    /** A row with no trace context. */
    Row(String name, String queue, String payloadJson, int priority, Instant runAt, long delayMicros,
        int maxAttempts, String context, String uniqueKey) {
      this(name, queue, payloadJson, priority, runAt, delayMicros, maxAttempts, context, uniqueKey, null, null);
    }

    /** The trace context as stored: JSON text, or null. */
    String traceContextJson() {
      return traceContext == null ? null : traceContext.toJson();
    }

    boolean immediate() {
      return runAt == null && delayMicros == 0;
    }
  }

  /** Inserts one job; with a unique key, returns the holder of the key instead when there is one. */
  EnqueueResult insert(Connection c, Row row, boolean notify) throws SQLException {
    boolean keyed = row.uniqueKey != null;
    boolean ck = row.concurrencyKey != null;
    String statement =
        ck
            ? (keyed
                ? (notify ? sql.insertUniqueJobCkNotify : sql.insertUniqueJobCk)
                : (notify ? sql.insertJobCkNotify : sql.insertJobCk))
            : keyed
                ? (notify ? sql.insertUniqueJobNotify : sql.insertUniqueJob)
                : (notify ? sql.insertJobNotify : sql.insertJob);
    // Without kept prepared statements, the function enqueue_v2 (Sql.enqueueFn) runs the same
    // insert and NOTIFY; a job with a concurrency key keeps its statement.
    boolean fn = !ck && unprepared(c);
    for (int attempt = 0; ; attempt++) {
      Long id = fn ? insertFn(c, row, notify) : insertOnce(c, statement, row, keyed, ck, notify);
      if (id != null) {
        return new EnqueueResult(new JobId(id), false);
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

  /** One insert statement of {@link #insert}; the new id, or null when the unique key is held. */
  private Long insertOnce(Connection c, String statement, Row row, boolean keyed, boolean ck, boolean notify)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(statement)) {
      int i = bindRow(ps, row);
      if (keyed) {
        ps.setString(i++, row.uniqueKey);
      }
      if (ck) {
        ps.setString(i++, row.concurrencyKey);
        ps.setString(i++, row.queue); // Sql.KEY_RANK: the key's last rank, then the queue's head
        ps.setString(i++, row.concurrencyKey);
        ps.setString(i++, row.queue);
      }
      if (notify) {
        ps.setString(i++, sql.channel);
        ps.setString(i, row.queue);
      }
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : null;
      }
    }
  }

  /** As {@link #insertOnce}, through the function enqueue_v2 ({@link Sql#enqueueFn}). */
  private Long insertFn(Connection c, Row row, boolean notify) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.enqueueFn)) {
      int i = bindRow(ps, row);
      ps.setString(i++, row.uniqueKey);
      ps.setString(i, notify ? sql.channel : null);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        long id = rs.getLong(1);
        return rs.wasNull() ? null : id;
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
    ps.setString(i++, row.traceContextJson());
    return i;
  }

  /** True when a batch is one statement: no row has a unique key or a concurrency key. */
  static boolean singleStatement(List<Row> rows) {
    for (Row r : rows) {
      if (r.uniqueKey != null || r.concurrencyKey != null) {
        return false;
      }
    }
    return true;
  }

  /**
   * Inserts a batch, in a few statements whatever its size: unkeyed rows in one (with the NOTIFYs
   * folded in when there are no keyed rows, so such a batch is a single statement), keyed rows in
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
    boolean ck = false;
    for (Row r : rows) {
      ck |= r.concurrencyKey != null;
    }
    boolean notifyFolded = firstByKey.isEmpty() && !notifyQueues.isEmpty() && !ck;
    if (!plain.isEmpty()) {
      insertPlain(c, rows, plain, results, notifyFolded ? notifyQueues : null, ck);
    }
    if (!firstByKey.isEmpty()) {
      insertKeyed(c, rows, firstByKey, results, ck);
    }
    for (Map.Entry<Integer, Integer> e : sameAs.entrySet()) {
      results[e.getKey()] = new EnqueueResult(results[e.getValue()].id(), true);
    }
    if (!notifyQueues.isEmpty() && !notifyFolded) {
      try (PreparedStatement ps = c.prepareStatement(sql.notifyQueues)) {
        ps.setString(1, sql.channel);
        ps.setArray(2, c.createArrayOf("text", notifyQueues.toArray(new String[0])));
        ps.execute();
      }
    }
    return List.of(results);
  }

  private void insertPlain(
      Connection c, List<Row> rows, List<Integer> indexes, EnqueueResult[] out, Set<String> notify, boolean ck)
      throws SQLException {
    boolean fn = !ck && unprepared(c);
    String statement = fn ? sql.enqueueAllFn : ck ? sql.insertJobsCk : notify == null ? sql.insertJobs : sql.insertJobsNotify;
    try (PreparedStatement ps = c.prepareStatement(statement)) {
      int next = fn || ck ? bindArrays(c, ps, rows, indexes, false, ck) : bindCompact(c, ps, rows, indexes);
      if (fn) {
        // Sql.enqueueAllFn: the same insert (and NOTIFYs) in the function enqueue_all_v1.
        ps.setString(next++, notify == null ? null : sql.channel);
        ps.setArray(next, notify == null ? null : c.createArrayOf("text", notify.toArray(new String[0])));
      } else if (notify != null) {
        ps.setString(next++, sql.channel);
        ps.setArray(next, c.createArrayOf("text", notify.toArray(new String[0])));
      }
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
      Connection c, List<Row> rows, Map<List<String>, Integer> firstByKey, EnqueueResult[] out, boolean ck)
      throws SQLException {
    Map<List<String>, Integer> pending = new HashMap<>(firstByKey);
    for (int attempt = 0; !pending.isEmpty(); attempt++) {
      if (attempt > UNIQUE_RACE_RETRIES) {
        throw new PgQueueException(
            "could not enqueue " + pending.size() + " keyed jobs: the jobs holding their keys kept changing");
      }
      List<Integer> indexes = new ArrayList<>(pending.values());
      try (PreparedStatement ps = c.prepareStatement(ck ? sql.insertUniqueJobsCk : sql.insertUniqueJobs)) {
        bindArrays(c, ps, rows, indexes, true, ck);
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

  private static final String[] NO_TEXT = new String[0];
  private static final Integer[] NO_INT = new Integer[0];
  private static final Long[] NO_LONG = new Long[0];

  /**
   * Binds {@link Sql#insertJobs} from parameter 1 with only what the rows use: a value every row
   * shares (name, queue, priority, max_attempts, context) as its scalar with an empty array, a
   * column every row leaves at its default (run_at, delay, trace context) as an empty array,
   * anything else as a full array. Returns the next parameter index.
   */
  private static int bindCompact(Connection c, PreparedStatement ps, List<Row> rows, List<Integer> indexes)
      throws SQLException {
    int n = indexes.size();
    Row first = rows.get(indexes.get(0));
    boolean sameName = true;
    boolean sameQueue = true;
    boolean samePriority = true;
    boolean sameMaxAttempts = true;
    boolean sameContext = true;
    boolean anyRunAt = false;
    boolean anyDelay = false;
    boolean anyTrace = false;
    String[] payloads = new String[n];
    for (int k = 0; k < n; k++) {
      Row r = rows.get(indexes.get(k));
      payloads[k] = r.payloadJson;
      sameName &= Objects.equals(r.name, first.name);
      sameQueue &= Objects.equals(r.queue, first.queue);
      samePriority &= r.priority == first.priority;
      sameMaxAttempts &= r.maxAttempts == first.maxAttempts;
      sameContext &= Objects.equals(r.context, first.context);
      anyRunAt |= r.runAt != null;
      anyDelay |= r.delayMicros != 0;
      anyTrace |= r.traceContext != null;
    }
    String[] names = sameName ? NO_TEXT : new String[n];
    String[] queues = sameQueue ? NO_TEXT : new String[n];
    Integer[] priorities = samePriority ? NO_INT : new Integer[n];
    String[] runAts = anyRunAt ? new String[n] : NO_TEXT;
    Long[] delays = anyDelay ? new Long[n] : NO_LONG;
    Integer[] maxAttempts = sameMaxAttempts ? NO_INT : new Integer[n];
    String[] contexts = sameContext ? NO_TEXT : new String[n];
    String[] traceContexts = anyTrace ? new String[n] : NO_TEXT;
    if (!(sameName && sameQueue && samePriority && sameMaxAttempts && sameContext) || anyRunAt || anyDelay
        || anyTrace) {
      for (int k = 0; k < n; k++) {
        Row r = rows.get(indexes.get(k));
        if (!sameName) {
          names[k] = r.name;
        }
        if (!sameQueue) {
          queues[k] = r.queue;
        }
        if (!samePriority) {
          priorities[k] = r.priority;
        }
        if (anyRunAt) {
          runAts[k] = r.runAt == null ? null : r.runAt.toString();
        }
        if (anyDelay) {
          delays[k] = r.delayMicros;
        }
        if (!sameMaxAttempts) {
          maxAttempts[k] = r.maxAttempts;
        }
        if (!sameContext) {
          contexts[k] = r.context;
        }
        if (anyTrace) {
          traceContexts[k] = r.traceContextJson();
        }
      }
    }
    int i = 1;
    // The shared values, or null where the column goes as a full array (coalesce takes its element).
    ps.setString(i++, sameName ? first.name : null);
    ps.setString(i++, sameQueue ? first.queue : null);
    ps.setInt(i++, first.priority);
    ps.setInt(i++, first.maxAttempts);
    ps.setString(i++, sameContext ? first.context : null);
    ps.setArray(i++, c.createArrayOf("text", names));
    ps.setArray(i++, c.createArrayOf("text", queues));
    ps.setArray(i++, c.createArrayOf("text", payloads));
    ps.setArray(i++, c.createArrayOf("int4", priorities));
    ps.setArray(i++, c.createArrayOf("text", runAts));
    ps.setArray(i++, c.createArrayOf("int8", delays));
    ps.setArray(i++, c.createArrayOf("int4", maxAttempts));
    ps.setArray(i++, c.createArrayOf("text", contexts));
    ps.setArray(i++, c.createArrayOf("text", traceContexts));
    return i;
  }

  /** Binds the row arrays from parameter 1; returns the next parameter index. */
  private static int bindArrays(
      Connection c, PreparedStatement ps, List<Row> rows, List<Integer> indexes, boolean keyed, boolean ck)
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
    String[] traceContexts = new String[n];
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
      traceContexts[k] = r.traceContextJson();
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
    ps.setArray(i++, c.createArrayOf("text", traceContexts));
    if (keyed) {
      ps.setArray(i++, c.createArrayOf("text", keys));
    }
    if (ck) {
      String[] concurrencyKeys = new String[n];
      for (int k = 0; k < n; k++) {
        concurrencyKeys[k] = rows.get(indexes.get(k)).concurrencyKey;
      }
      ps.setArray(i++, c.createArrayOf("text", concurrencyKeys));
    }
    return i;
  }

  // ---- worker ---------------------------------------------------------------------------------

  /**
   * Runs THE CLAIM ({@link Sql#claim}, as its function {@link Sql#claimFn} on every connection):
   * up to {@code limit} due jobs of {@code queue}, marked running under
   * {@code owner} and this claim's {@code token}. Rows the claim discarded (no attempt left) are
   * not returned. Returns nothing when the owner's row is older than half its threshold.
   */
  List<ClaimedJob> claim(Connection c, String queue, String[] names, int limit, long owner, long token)
      throws SQLException {
    return claimFunction(c, sql.claimFn, queue, names, limit, owner, token);
  }

  /**
   * THE CLAIM, or with {@code byName} THE CLAIM BY NAME ({@link Sql#claimByName}, as its function
   * {@link Sql#claimByNameFn} on every connection).
   */
  List<ClaimedJob> claim(Connection c, String queue, String[] names, int limit, long owner, long token,
      boolean byName) throws SQLException {
    return claimFunction(c, byName ? sql.claimByNameFn : sql.claimFn, queue, names, limit, owner, token);
  }

  /**
   * Runs {@link Sql#claimAfter} (as its function {@link Sql#claimAfterFn} on every connection): as
   * {@link #claim}, starting after {@code after} in claim order. It runs only while the queue's
   * head is dead ({@link ClaimCursor}).
   */
  List<ClaimedJob> claimAfter(Connection c, String queue, String[] names, int limit, long owner, long token,
      ClaimCursor.Position after) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.claimAfterFn)) {
      int i = 1;
      ps.setString(i++, queue);
      ps.setArray(i++, c.createArrayOf("text", names));
      ps.setInt(i++, after.priority());
      ps.setObject(i++, after.runAt().atOffset(ZoneOffset.UTC));
      ps.setLong(i++, after.id());
      ps.setLong(i++, owner);
      ps.setInt(i++, limit);
      ps.setLong(i, token);
      List<ClaimedJob> jobs = new ArrayList<>(limit);
      readClaimed(ps, queue, owner, token, jobs);
      return jobs;
    }
  }

  /**
   * What a claim from the head of a queue walks besides its own rows, from {@link #deadHead}.
   *
   * @param entries index entries of rows no longer visible that the read visited (each a heap
   *     visit: entries an old snapshot keeps)
   * @param pages index pages the read visited beyond those its rows fill (entries already marked
   *     dead cost no heap visit but still fill pages until vacuum removes them)
   */
  record DeadHead(long entries, long pages) {}

  /**
   * Pages a read of {@code limit} live rows from the head visits at most: the descent (four levels
   * hold billions of entries) and the leaves its rows fill, at a hundred entries a page (a page
   * holds more).
   */
  static long pagesFor(int limit) {
    return 4 + limit / 100 + 1;
  }

  /**
   * Runs {@link Sql#deadHead} between two readings of {@link Sql#deadHeadCount}: what a claim of
   * {@code limit} jobs of {@code queue} from the head walks besides its rows. The counters are the
   * backend's not yet reported ones, which may hold earlier transactions' scans too, hence the
   * difference. Three statements: run in one transaction, autocommit off.
   */
  DeadHead deadHead(Connection c, String queue, String[] names, int limit) throws SQLException {
    long[] before = deadHeadCount(c);
    try (PreparedStatement ps = c.prepareStatement(sql.deadHead)) {
      ps.setString(1, queue);
      ps.setArray(2, c.createArrayOf("text", names));
      ps.setInt(3, limit);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
      }
    }
    long[] after = deadHeadCount(c);
    return new DeadHead(after[0] - before[0], Math.max(0, after[1] - before[1] - pagesFor(limit)));
  }

  private long[] deadHeadCount(Connection c) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.deadHeadCount);
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      return new long[] {rs.getLong(1), rs.getLong(2)};
    }
  }

  /**
   * Runs {@link Sql#foreignJobs}: the queue's due jobs of names outside {@code names}, counted up
   * to {@code bound}.
   */
  int foreignJobs(Connection c, String queue, String[] names, int bound) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.foreignJobs)) {
      ps.setString(1, queue);
      ps.setArray(2, c.createArrayOf("text", names));
      ps.setInt(3, bound);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getInt(1);
      }
    }
  }

  /**
   * Runs a claim function with THE CLAIM's arguments, on every connection (see {@link Sql#claimFn}):
   * {@link Sql#claimFn} (THE CLAIM) or {@link Sql#claimByNameFn} (THE CLAIM BY NAME).
   */
  private List<ClaimedJob> claimFunction(Connection c, String function, String queue, String[] names, int limit,
      long owner, long token) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(function)) {
      ps.setString(1, queue);
      ps.setArray(2, c.createArrayOf("text", names));
      ps.setLong(3, owner);
      ps.setInt(4, limit);
      ps.setLong(5, token);
      List<ClaimedJob> jobs = new ArrayList<>(limit);
      readClaimed(ps, queue, owner, token, jobs);
      return jobs;
    }
  }

  /** Runs a claim statement with THE CLAIM's parameters ({@link Sql#claimUnkeyed}). */
  private List<ClaimedJob> claim(Connection c, String statement, String queue, String[] names, int limit,
      long owner, long token) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(statement)) {
      ps.setString(1, queue);
      ps.setArray(2, c.createArrayOf("text", names));
      ps.setLong(3, owner);
      ps.setInt(4, limit);
      ps.setLong(5, owner);
      ps.setLong(6, token);
      List<ClaimedJob> jobs = new ArrayList<>(limit);
      readClaimed(ps, queue, owner, token, jobs);
      return jobs;
    }
  }

  /** Reads the rows a claim statement returned into {@code jobs}, leaving out those it discarded. */
  private void readClaimed(PreparedStatement ps, String queue, long owner, long token, List<ClaimedJob> jobs)
      throws SQLException {
    readClaimed(ps, queue, owner, token, jobs, null);
  }

  /**
   * As above; for {@link Sql#claimControlledFn}, {@code controlled} receives the verdict and the
   * free starts (columns 13 and 14) and the verdict-only row is skipped.
   */
  private void readClaimed(PreparedStatement ps, String queue, long owner, long token, List<ClaimedJob> jobs,
      String[] controlled) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      long received = System.nanoTime();
      while (rs.next()) {
        if (controlled != null) {
          controlled[0] = rs.getString(13);
          controlled[1] = rs.getString(14);
          rs.getLong(1);
          if (rs.wasNull()) {
            continue; // claimControlledFn's row that only carries the verdict
          }
        }
        if (!rs.getBoolean(10)) {
          discardedAtClaim(rs.getLong(1), queue);
          continue;
        }
        jobs.add(
            new ClaimedJob(
                rs.getLong(1),
                rs.getString(2),
                queue,
                rs.getString(3),
                rs.getInt(4),
                rs.getInt(5),
                rs.getInt(6),
                rs.getTimestamp(7).toInstant(),
                rs.getTimestamp(8).toInstant(),
                rs.getString(9),
                owner,
                token,
                TraceContext.fromJson(rs.getString(11)),
                rs.getTimestamp(12).toInstant(),
                received));
      }
    }
  }

  /** The shortest sleep until the next token (a rounding error must not make it a busy loop). */
  static final long MIN_TOKEN_WAIT_NANOS = 200_000L;

  /** What a controlled claim found, besides the jobs it claimed. */
  enum Held {
    /** Nothing held it back (it may still have found fewer jobs than asked for). */
    NO,
    /** Another claim of the queue holds its control row: try again in a moment. */
    BUSY,
    /** The queue is paused. */
    PAUSED,
    /** The global concurrency limit is reached. */
    FULL,
    /** No token is left; {@link ControlledClaim#waitNanos} says when the next one comes. */
    RATE,
    /**
     * Due jobs were left because their keys had no token (a per-key rate limit); {@link
     * ControlledClaim#waitNanos} says when the first of those keys gets one.
     */
    KEY_RATE,
    /** The queue has no control row (any more): take the ordinary claim. */
    NO_CONTROL
  }

  /** The jobs of a controlled claim and why it took no more. */
  record ControlledClaim(List<ClaimedJob> jobs, Held held, long waitNanos) {}

  /**
   * The controlled claim of a queue whose control row sets at most a pause and a global limit, in
   * one statement on any connection: {@code claim_controlled_v3} ({@link Sql#claimControlledFn},
   * migration V015) locks the row without waiting, counts the running jobs in a later statement of
   * its own and claims at most the free starts; run in autocommit, the lock is held until the
   * claim commits, in one round trip. Returns null, having claimed nothing, when the row sets more
   * (a rate or a per-key limit): the caller then claims with {@link #claimControlled} in a
   * transaction.
   */
  ControlledClaim claimControlledAtOnce(Connection c, String queue, String[] names, int want, long owner, long token,
      Finished finished) throws SQLException {
    List<ClaimedJob> jobs = new ArrayList<>(want);
    String[] verdict = new String[2];
    try (PreparedStatement ps = c.prepareStatement(sql.claimControlledFn)) {
      ps.setString(1, queue);
      ps.setArray(2, c.createArrayOf("text", names));
      ps.setLong(3, owner);
      ps.setInt(4, want);
      ps.setLong(5, token);
      ps.setArray(6, c.createArrayOf("bigint", finished.ids()));
      ps.setArray(7, c.createArrayOf("bigint", finished.tokens()));
      readClaimed(ps, queue, owner, token, jobs, verdict);
    }
    if ("CONTROLS".equals(verdict[0])) {
      return null;
    }
    Held held = Held.valueOf(verdict[0]);
    int free = Integer.parseInt(verdict[1]);
    return new ControlledClaim(jobs, held == Held.FULL && jobs.size() < free ? Held.NO : held, 0);
  }

  /**
   * The controlled claim (docs/flow-control.md), in the caller's transaction: lock the queue's
   * control row without waiting, count its running jobs in a later statement, claim at most the
   * free starts with the ordinary claim statement, and write back the bucket. A job beyond the
   * free starts is never touched. A queue that sets at most a pause and a global limit is claimed
   * in one statement instead ({@link #claimControlledAtOnce}).
   */
  ControlledClaim claimControlled(Connection c, String queue, String[] names, int want, long owner, long token)
      throws SQLException {
    return claimControlled(c, queue, names, want, owner, token, false, false);
  }

  /**
   * As above; {@code keyRated} when the worker's copy of the controls says the queue sets a rate
   * limit per key: its row is then read with the per-key rate columns ({@link
   * Sql#lockControlKeyRate}). A claim made without it, by a worker that has not yet read the setting, is not limited
   * per key. {@code byName}: the claim of a queue without per-key settings is THE CLAIM BY NAME
   * ({@link Sql#claimByName}).
   */
  ControlledClaim claimControlled(Connection c, String queue, String[] names, int want, long owner, long token,
      boolean keyRated, boolean byName) throws SQLException {
    return claimControlled(c, queue, names, want, owner, token, keyRated, byName, Finished.NONE);
  }

  /**
   * This worker's jobs of a queue whose handlers have returned and whose outcomes the completer has
   * not written yet: ids and the claim tokens they were claimed under, index by index.
   */
  record Finished(Long[] ids, Long[] tokens) {
    static final Finished NONE = new Finished(new Long[0], new Long[0]);
  }

  /**
   * As above; {@code finished}: this worker's own jobs of the queue whose handlers have returned
   * but whose outcomes are still on their way; the global limit's count leaves them out ({@link
   * Sql#countRunningExcept}).
   */
  ControlledClaim claimControlled(Connection c, String queue, String[] names, int want, long owner, long token,
      boolean keyRated, boolean byName, Finished finished) throws SQLException {
    boolean paused;
    int maxRunning;
    double tokens;
    boolean rated;
    java.sql.Timestamp at;
    int rate;
    long periodMs;
    int keyMax;
    boolean keyFair;
    KeyRate keyRate = null;
    java.time.OffsetDateTime clock = null;
    try (PreparedStatement ps = c.prepareStatement(keyRated ? sql.lockControlKeyRate : sql.lockControl)) {
      ps.setString(1, queue);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return new ControlledClaim(List.of(), exists(c, sql.controlExists, queue) ? Held.BUSY : Held.NO_CONTROL, 0);
        }
        paused = rs.getBoolean(1);
        maxRunning = rs.getInt(2);
        tokens = rs.getDouble(3);
        rated = !rs.wasNull();
        at = rs.getTimestamp(4);
        rate = rs.getInt(5);
        periodMs = rs.getLong(6);
        keyMax = rs.getInt(7);
        keyFair = rs.getBoolean(8);
        if (keyRated) {
          int keyStarts = rs.getInt(9);
          if (!rs.wasNull()) {
            keyRate = new KeyRate(intervalMicros(rs.getLong(10), keyStarts), rs.getInt(11));
            clock = rs.getObject(4, java.time.OffsetDateTime.class);
          }
        }
      }
    }
    if (paused) {
      return new ControlledClaim(List.of(), Held.PAUSED, 0);
    }
    int free = want;
    Held held = Held.NO;
    if (maxRunning > 0) {
      long running;
      boolean except = finished.ids().length > 0;
      try (PreparedStatement ps = c.prepareStatement(except ? sql.countRunningExcept : sql.countRunning)) {
        ps.setString(1, queue);
        if (except) {
          ps.setLong(2, owner);
          ps.setArray(3, c.createArrayOf("bigint", finished.ids()));
          ps.setArray(4, c.createArrayOf("bigint", finished.tokens()));
          ps.setInt(5, maxRunning);
        } else {
          ps.setInt(2, maxRunning);
        }
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          running = rs.getLong(1);
        }
      }
      long slots = maxRunning - running;
      if (slots <= 0) {
        return new ControlledClaim(List.of(), Held.FULL, 0);
      }
      if (slots <= free) {
        free = (int) slots;
        held = Held.FULL;
      }
    }
    if (rated) {
      long whole = (long) Math.floor(tokens);
      if (whole <= 0) {
        // Sleep until the next token: (1 - tokens) of a token, at rate tokens per period.
        long waitNanos = (long) Math.ceil((1 - tokens) * periodMs * 1_000_000.0 / rate);
        return new ControlledClaim(List.of(), Held.RATE, Math.max(waitNanos, MIN_TOKEN_WAIT_NANOS));
      }
      if (whole <= free) {
        free = (int) whole;
        held = Held.RATE;
      }
    }
    List<ClaimedJob> jobs = keyRate != null
        ? claimKeyedRated(c, queue, names, free, owner, token, keyMax, keyFair, keyRate, clock)
        : keyMax > 0 || keyFair
        ? claimKeyed(c, queue, names, free, owner, token, keyMax, keyFair)
        : claim(c, queue, names, free, owner, token, byName);
    if (rated && !jobs.isEmpty()) {
      try (PreparedStatement ps = c.prepareStatement(sql.takeTokens)) {
        ps.setDouble(1, tokens - jobs.size());
        ps.setTimestamp(2, at);
        ps.setString(3, queue);
        ps.executeUpdate();
      }
    }
    long waitNanos = 0;
    if (held == Held.RATE) {
      double left = tokens - jobs.size();
      waitNanos = Math.max(MIN_TOKEN_WAIT_NANOS, (long) Math.ceil((1 - Math.min(left, 1)) * periodMs * 1_000_000.0 / rate));
    }
    if (keyRate != null && jobs.size() < free) {
      // Fewer jobs than the free starts: if due jobs were left because their keys have no token,
      // sleep until the first of those keys gets one, not a poll earlier.
      long keyWait = keyTokenWait(c, queue, names, keyRate, clock);
      if (keyWait >= 0) {
        return new ControlledClaim(jobs, Held.KEY_RATE, Math.max(keyWait, MIN_TOKEN_WAIT_NANOS));
      }
    }
    return new ControlledClaim(jobs, jobs.size() < free ? Held.NO : held, waitNanos);
  }

  /**
   * A queue's rate limit per key: one token every {@code intervalMicros} (the period over the
   * starts, rounded up to a whole microsecond, so the rate is never exceeded), a bucket of {@code
   * burst}.
   */
  record KeyRate(long intervalMicros, int burst) {}

  /** The token interval of {@code starts} per {@code periodMs}, rounded up to a whole microsecond. */
  static long intervalMicros(long periodMs, int starts) {
    return Math.max(1, -Math.floorDiv(-periodMs * 1000, (long) starts));
  }

  /** Full buckets pruned per claim, beyond twice the jobs it claimed (so pruning outpaces new rows). */
  static final int KEY_BUCKETS_PRUNED_PER_CLAIM = 100;

  /**
   * The keyed claim under a per-key rate limit ({@link Sql#claimKeyedFairRated}), then, in the same
   * transaction and so still under the control row's lock, the tokens of the jobs started taken
   * from their keys' buckets and some full buckets pruned ({@link Sql#chargeKeyTokens}).
   */
  List<ClaimedJob> claimKeyedRated(Connection c, String queue, String[] names, int want, long owner, long token,
      int keyMax, boolean fair, KeyRate rate, java.time.OffsetDateTime clock) throws SQLException {
    int perKey = keyMax > 0 ? keyMax : Integer.MAX_VALUE;
    int window = (int) Math.min(2_000L, (long) want * (fair ? FAIR_KEY_CANDIDATES_PER_JOB : KEY_CANDIDATES_PER_JOB));
    List<ClaimedJob> jobs = new ArrayList<>(want);
    try (PreparedStatement ps = c.prepareStatement(fair ? sql.claimKeyedFairRated : sql.claimKeyedOrdinaryRated)) {
      int i = 1;
      ps.setString(i++, queue);
      ps.setString(i++, queue);
      ps.setArray(i++, c.createArrayOf("text", names));
      ps.setInt(i++, perKey);
      ps.setObject(i++, clock);
      ps.setLong(i++, rate.intervalMicros());
      ps.setInt(i++, window);
      ps.setInt(i++, perKey);
      ps.setInt(i++, rate.burst());
      ps.setObject(i++, clock);
      ps.setLong(i++, rate.intervalMicros());
      ps.setString(i++, queue);
      ps.setInt(i++, rate.burst());
      ps.setInt(i++, want);
      ps.setLong(i++, owner);
      ps.setLong(i++, owner);
      ps.setLong(i, token);
      readClaimed(ps, queue, owner, token, jobs);
    }
    if (fair && jobs.size() < want) {
      jobs.addAll(claim(c, sql.claimUnkeyed, queue, names, want - jobs.size(), owner, token));
    }
    if (!jobs.isEmpty()) {
      Long[] ids = new Long[jobs.size()];
      for (int k = 0; k < ids.length; k++) {
        ids[k] = jobs.get(k).id();
      }
      // The bucket times, exact in microseconds: a key without a row has burst tokens (fresh), a
      // row at most burst and almost one more (full: the row is pruned once it gets there).
      java.time.OffsetDateTime fresh = clock.minusNanos(rate.burst() * rate.intervalMicros() * 1_000);
      java.time.OffsetDateTime full = clock.minusNanos(((rate.burst() + 1L) * rate.intervalMicros() - 1) * 1_000);
      try (PreparedStatement ps = c.prepareStatement(sql.chargeKeyTokens)) {
        int i = 1;
        ps.setArray(i++, c.createArrayOf("bigint", ids));
        ps.setString(i++, queue);
        ps.setObject(i++, fresh);
        ps.setLong(i++, rate.intervalMicros());
        ps.setObject(i++, full);
        ps.setObject(i++, fresh);
        ps.setString(i++, queue);
        ps.setObject(i++, full);
        ps.setInt(i++, KEY_BUCKETS_PRUNED_PER_CLAIM + 2 * jobs.size());
        ps.setString(i, queue);
        ps.executeQuery().close();
      }
    }
    return jobs;
  }

  /**
   * Nanoseconds from now (the database's clock as the statement ran) until the first key without a
   * token that has a due job gets its next token ({@link Sql#keyTokenWait}), or -1 when no due job
   * waits for a token.
   */
  long keyTokenWait(Connection c, String queue, String[] names, KeyRate rate, java.time.OffsetDateTime clock)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.keyTokenWait)) {
      int i = 1;
      ps.setLong(i++, rate.intervalMicros());
      ps.setString(i++, queue);
      ps.setObject(i++, clock);
      ps.setLong(i++, rate.intervalMicros());
      ps.setObject(i++, clock);
      ps.setArray(i, c.createArrayOf("text", names));
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : -1;
      }
    }
  }

  /**
   * Candidates a keyed claim reads per job it asks for, beyond those of keys already at their
   * limit (left out by the statement): in the ordinary order one key's jobs often lie side by side
   * and most of them are held back, so it reads 4; in the fair order a key has about one job per
   * rank, so 2 (each candidate is a heap visit, the bulk of the claim's cost).
   */
  static final int KEY_CANDIDATES_PER_JOB = 4;
  static final int FAIR_KEY_CANDIDATES_PER_JOB = 2;

  /**
   * The keyed claim (docs/flow-control.md, "Per-key concurrency"), inside {@link #claimControlled}
   * and so under the queue's control row lock, which serialises the claims of the queue: each
   * key's running jobs, counted in {@link Sql#claimKeyedFair} (a later statement than the lock),
   * include every claim committed before, so no per-key row or lock is needed. A job not taken is
   * not touched: still available, attempt and {@code run_at} unchanged. In the fair order, which
   * reads keyed jobs only, a claim with room left then takes jobs without a key ({@link
   * Sql#claimUnkeyed}).
   *
   * @param keyMax the per-key limit, or 0 for none
   */
  List<ClaimedJob> claimKeyed(Connection c, String queue, String[] names, int want, long owner, long token,
      int keyMax, boolean fair) throws SQLException {
    int perKey = keyMax > 0 ? keyMax : Integer.MAX_VALUE;
    int window = (int) Math.min(2_000L, (long) want * (fair ? FAIR_KEY_CANDIDATES_PER_JOB : KEY_CANDIDATES_PER_JOB));
    List<ClaimedJob> jobs = new ArrayList<>(want);
    try (PreparedStatement ps = c.prepareStatement(fair ? sql.claimKeyedFair : sql.claimKeyedOrdinary)) {
      int i = 1;
      ps.setString(i++, queue);
      ps.setString(i++, queue);
      ps.setArray(i++, c.createArrayOf("text", names));
      ps.setInt(i++, perKey);
      ps.setInt(i++, window);
      ps.setInt(i++, perKey);
      ps.setInt(i++, want);
      ps.setLong(i++, owner);
      ps.setLong(i++, owner);
      ps.setLong(i, token);
      readClaimed(ps, queue, owner, token, jobs);
    }
    if (fair && jobs.size() < want) {
      jobs.addAll(claim(c, sql.claimUnkeyed, queue, names, want - jobs.size(), owner, token));
    }
    return jobs;
  }

  private static boolean exists(Connection c, String statement, String queue) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(statement)) {
      ps.setString(1, queue);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  /** Every controlled queue's row. */
  java.util.Map<String, QueueControl> controls(Connection c) throws SQLException {
    java.util.Map<String, QueueControl> out = new java.util.HashMap<>();
    try (PreparedStatement ps = c.prepareStatement(sql.controls);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.put(rs.getString(1),
            new QueueControl(rs.getBoolean(2), rs.getInt(3), rs.getInt(4), rs.getInt(7), rs.getBoolean(8),
                rs.getInt(9)));
      }
    }
    return out;
  }

  /** Records the paused queues this worker has acted on. */
  void ackPaused(Connection c, long workerId, String[] queues) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.ackPaused)) {
      ps.setArray(1, c.createArrayOf("text", queues));
      ps.setLong(2, workerId);
      ps.executeUpdate();
    }
  }

  /** Pauses a queue and notifies the workers. */
  void pause(Connection c, String queue) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.pauseQueue)) {
      ps.setString(1, queue);
      ps.setString(2, sql.channel);
      ps.executeQuery().close();
    }
  }

  /** Resumes a queue (deleting its row if nothing else is set) and notifies the workers. */
  void resume(Connection c, String queue) throws SQLException {
    update(c, sql.resumeQueue, queue);
    controlsChanged(c, queue);
  }

  /** Sets or clears (0) a queue's global concurrency limit and notifies the workers. */
  void setMaxRunning(Connection c, String queue, int max) throws SQLException {
    setLimit(c, sql.setMaxRunning, queue, max);
  }

  /** Runs {@code statement} (parameters: queue, limit or null for 0) and notifies the workers. */
  private void setLimit(Connection c, String statement, String queue, int max) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(statement)) {
      ps.setString(1, queue);
      if (max > 0) {
        ps.setInt(2, max);
      } else {
        ps.setNull(2, java.sql.Types.INTEGER);
      }
      ps.executeUpdate();
    }
    controlsChanged(c, queue);
  }

  /** Binds queue, starts, period (ms) and burst, or nulls for no limit. */
  private static void bindRate(PreparedStatement ps, String queue, RateLimit limit) throws SQLException {
    ps.setString(1, queue);
    if (limit != null) {
      ps.setInt(2, limit.starts());
      ps.setLong(3, limit.period().toMillis());
      ps.setInt(4, limit.burst());
    } else {
      ps.setNull(2, java.sql.Types.INTEGER);
      ps.setNull(3, java.sql.Types.BIGINT);
      ps.setNull(4, java.sql.Types.INTEGER);
    }
  }

  /** Sets or clears (null) a queue's rate limit and notifies the workers. */
  void setRateLimit(Connection c, String queue, RateLimit limit) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.setRateLimit)) {
      bindRate(ps, queue, limit);
      ps.executeUpdate();
    }
    controlsChanged(c, queue);
  }

  /**
   * Sets or clears (null) a queue's rate limit per key and notifies the workers. Every key's bucket
   * starts full: the bucket rows of the queue are deleted, in the same transaction as the write of
   * the control row, whose lock keeps claims of the queue out until it commits.
   */
  void setKeyRateLimit(Connection c, String queue, RateLimit limit) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.setKeyRateLimit)) {
      bindRate(ps, queue, limit);
      ps.executeUpdate();
    }
    update(c, sql.clearKeyBuckets, queue);
    controlsChanged(c, queue);
  }

  /** Sets or clears (0) a queue's per-key concurrency limit and notifies the workers. */
  void setKeyMaxRunning(Connection c, String queue, int max) throws SQLException {
    setLimit(c, sql.setKeyMaxRunning, queue, max);
  }

  /** Turns fairness between keys on or off for a queue and notifies the workers. */
  void setKeyFair(Connection c, String queue, boolean on) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.setKeyFair)) {
      ps.setString(1, queue);
      ps.setBoolean(2, on);
      ps.executeUpdate();
    }
    controlsChanged(c, queue);
  }

  /** Deletes the queue's row if it sets nothing, and tells the workers to read the controls again. */
  private void controlsChanged(Connection c, String queue) throws SQLException {
    update(c, sql.deleteIdleControl, queue);
    try (PreparedStatement ps = c.prepareStatement(sql.notifyQueues)) {
      ps.setString(1, sql.channel);
      ps.setArray(2, c.createArrayOf("text", new String[] {Sql.CONTROLS_CHANGED, queue}));
      ps.executeQuery().close();
    }
  }

  private static void update(Connection c, String statement, String queue) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(statement)) {
      ps.setString(1, queue);
      ps.executeUpdate();
    }
  }

  private static void discardedAtClaim(long id, String queue) {
    org.slf4j.LoggerFactory.getLogger(JobStore.class).warn(
        "pgqueue: job {} of queue \"{}\" was available with no attempt left (attempt = max_attempts,"
            + " written outside pgqueue); discarded it with a recorded error instead of running it",
        id, queue);
  }

  /** Runs {@link Sql#releaseLostClaims}; returns the ids released. */
  List<Long> releaseLostClaims(Connection c, long owner, Long[] tokens) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.releaseLostClaims)) {
      ps.setLong(1, owner);
      ps.setArray(2, c.createArrayOf("int8", tokens));
      List<Long> ids = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getLong(1));
        }
      }
      return ids;
    }
  }

  /** Deletes the succeeded jobs still held by the claim that ran them; returns rows deleted. */
  int complete(Connection c, List<Outcome> successes) throws SQLException {
    int n = successes.size();
    Long[] ids = new Long[n];
    Long[] owners = new Long[n];
    Long[] tokens = new Long[n];
    for (int i = 0; i < n; i++) {
      ClaimedJob j = successes.get(i).job();
      ids[i] = j.id();
      owners[i] = j.owner();
      tokens[i] = j.token();
    }
    boolean fn = unprepared(c); // Sql.completeFn: the same delete in the function complete_v1
    try (PreparedStatement ps = c.prepareStatement(fn ? sql.completeFn : sql.complete)) {
      ps.setArray(1, c.createArrayOf("int8", ids));
      ps.setArray(2, c.createArrayOf("int8", owners));
      ps.setArray(3, c.createArrayOf("int8", tokens));
      return fn ? single(ps) : ps.executeUpdate();
    }
  }

  /** Runs {@link Sql#completeHeld} in the caller's transaction; true when this claim still held the job. */
  boolean completeHeld(Connection c, ClaimedJob job) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.completeHeld)) {
      bindClaim(ps, job);
      return ps.executeUpdate() == 1;
    }
  }

  /** Runs {@link Sql#claimStillHeld}; waits for a transaction that holds the row to end. */
  boolean claimStillHeld(Connection c, ClaimedJob job) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.claimStillHeld)) {
      bindClaim(ps, job);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  private static void bindClaim(PreparedStatement ps, ClaimedJob job) throws SQLException {
    ps.setLong(1, job.id());
    ps.setLong(2, job.owner());
    ps.setLong(3, job.token());
  }

  /** Writes retries, discards, snoozes and releases; returns rows changed. */
  int settle(Connection c, List<Outcome> outcomes) throws SQLException {
    int n = outcomes.size();
    Long[] ids = new Long[n];
    Long[] owners = new Long[n];
    Long[] tokens = new Long[n];
    String[] states = new String[n];
    Long[] delays = new Long[n];
    Integer[] refunds = new Integer[n];
    String[] errors = new String[n];
    for (int i = 0; i < n; i++) {
      Outcome o = outcomes.get(i);
      ids[i] = o.job().id();
      owners[i] = o.job().owner();
      tokens[i] = o.job().token();
      states[i] = o.state();
      delays[i] = o.delayMicros();
      refunds[i] = o.refund();
      errors[i] = o.errorJson();
    }
    boolean fn = unprepared(c); // Sql.settleFn: the same update in the function settle_v1
    try (PreparedStatement ps = c.prepareStatement(fn ? sql.settleFn : sql.settle)) {
      ps.setArray(1, c.createArrayOf("int8", ids));
      ps.setArray(2, c.createArrayOf("int8", owners));
      ps.setArray(3, c.createArrayOf("int8", tokens));
      ps.setArray(4, c.createArrayOf("text", states));
      ps.setArray(5, c.createArrayOf("int8", delays));
      ps.setArray(6, c.createArrayOf("int4", refunds));
      ps.setArray(7, c.createArrayOf("text", errors));
      return fn ? single(ps) : ps.executeUpdate();
    }
  }

  /** The one integer a function call returns. */
  private static int single(PreparedStatement ps) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /** Registers a worker with its own heartbeat interval and stale threshold; returns its id. */
  long registerWorker(Connection c, String host, long pid, String[] queues, Integer[] concurrency, String[] names,
      long heartbeatMillis, long staleAfterMillis) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.registerWorker)) {
      ps.setString(1, host);
      ps.setLong(2, pid);
      ps.setArray(3, c.createArrayOf("text", queues));
      ps.setArray(4, c.createArrayOf("int4", concurrency));
      ps.setArray(5, c.createArrayOf("text", names));
      ps.setLong(6, heartbeatMillis);
      ps.setLong(7, staleAfterMillis);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  /** False when the worker's row is gone (another worker's rescuer deemed it dead). */
  boolean heartbeat(Connection c, long workerId) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.heartbeat)) {
      ps.setLong(1, workerId);
      return ps.executeUpdate() == 1;
    }
  }

  void deregisterWorker(Connection c, long workerId) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.deregisterWorker)) {
      ps.setLong(1, workerId);
      ps.executeUpdate();
    }
  }

  /** A job the rescuer returned to the queue (or discarded, if it was its last attempt). */
  record Rescued(long id, String name, String queue, int attempt, JobState state) {}

  /**
   * Rescues up to 1,000 jobs of workers dead by their own threshold, judging only workers whose
   * threshold is at most {@code healthyForMillis} (how long the rescuer has heartbeated without a gap).
   */
  List<Rescued> rescue(Connection c, long healthyForMillis) throws SQLException {
    List<Rescued> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql.rescue)) {
      ps.setLong(1, healthyForMillis);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(
              new Rescued(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getInt(4),
                  JobState.fromDb(rs.getString(5))));
        }
      }
    }
    return out;
  }

  /** Deletes the rows of workers dead by their own threshold, judged as in {@link #rescue}. */
  int deleteStaleWorkers(Connection c, long healthyForMillis) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.deleteStaleWorkers)) {
      ps.setLong(1, healthyForMillis);
      return ps.executeUpdate();
    }
  }

  /** Deletes one batch (up to 1,000) of discarded jobs older than the retention. */
  int pruneDiscarded(Connection c, long retentionMillis) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.pruneDiscarded)) {
      ps.setLong(1, retentionMillis);
      return ps.executeUpdate();
    }
  }

  // ---- administration -------------------------------------------------------------------------

  /**
   * How often an admin write is tried again when it changed nothing but the follow-up read found the
   * job in a state that allows it (the job changed between the two statements).
   */
  private static final int ADMIN_RACE_RETRIES = 10;

  /** An admin write on one job: binds its parameters and runs; true when it changed the row. */
  @FunctionalInterface
  private interface AdminWrite {
    boolean run(Connection c) throws SQLException;
  }

  /**
   * Runs {@code write}; when it changed nothing, reads the job to say why. The read is only
   * believed when its state is one the operation refuses (or, for a retry, another job holds the
   * key); a state that allows the operation means the job changed in between, and the write is
   * tried again. So the reason returned was true at the time of the read.
   *
   * @param allowed the states the operation applies to
   * @param keyMatters whether a holder of the job's unique key refuses the operation (retry)
   * @param after the job's state once the write is done (null: the row is gone)
   */
  private AdminResult admin(Connection c, long id, AdminWrite write, Set<JobState> allowed,
      boolean keyMatters, JobState after) throws SQLException {
    for (int attempt = 0; attempt <= ADMIN_RACE_RETRIES; attempt++) {
      if (write.run(c)) {
        return AdminResult.done(after);
      }
      try (PreparedStatement ps = c.prepareStatement(sql.adminProbe)) {
        ps.setLong(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return AdminResult.notFound();
          }
          JobState state = JobState.fromDb(rs.getString(1));
          long holder = rs.getLong(2);
          boolean held = !rs.wasNull();
          if (!allowed.contains(state)) {
            return AdminResult.wrongState(state);
          }
          if (keyMatters && held) {
            return AdminResult.keyTaken(state, new JobId(holder));
          }
        }
      }
    }
    throw new PgQueueException("job " + id + " kept changing state; try again");
  }

  private static boolean returnsRow(PreparedStatement ps) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next();
    }
  }

  /**
   * Runs {@link Sql#retryJob}, then {@link Sql#adminProbe} if it changed nothing. When it changed
   * the job, {@code queue[0]} receives the job's queue (to wake this JVM's workers after commit).
   */
  AdminResult retry(Connection c, long id, String[] queue) throws SQLException {
    return admin(c, id, conn -> {
      try (PreparedStatement ps = conn.prepareStatement(sql.retryJob)) {
        ps.setLong(1, id);
        ps.setString(2, sql.channel);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return false;
          }
          queue[0] = rs.getString(2);
          return true;
        }
      }
    }, Set.of(JobState.AVAILABLE, JobState.DISCARDED), true, JobState.AVAILABLE);
  }

  /** Runs {@link Sql#cancelJob}, then {@link Sql#adminProbe} if it changed nothing. */
  AdminResult cancel(Connection c, long id, String reason) throws SQLException {
    return admin(c, id, conn -> {
      try (PreparedStatement ps = conn.prepareStatement(sql.cancelJob)) {
        ps.setLong(1, id);
        ps.setString(2, reason);
        ps.setString(3, sql.channel);
        return returnsRow(ps);
      }
    }, Set.of(JobState.AVAILABLE, JobState.RUNNING), false, JobState.DISCARDED);
  }

  /** Runs {@link Sql#cancelledJobs}: which of these running jobs a cancel discarded. */
  List<Long> cancelledJobs(Connection c, Long[] ids) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.cancelledJobs)) {
      ps.setArray(1, c.createArrayOf("int8", ids));
      List<Long> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getLong(1));
        }
      }
      return out;
    }
  }

  /** Runs {@link Sql#deleteJob}, then {@link Sql#adminProbe} if it changed nothing. */
  AdminResult delete(Connection c, long id) throws SQLException {
    return admin(c, id, conn -> {
      try (PreparedStatement ps = conn.prepareStatement(sql.deleteJob)) {
        ps.setLong(1, id);
        return returnsRow(ps);
      }
    }, Set.of(JobState.AVAILABLE, JobState.DISCARDED), false, null);
  }

  /** Binds the parameters of {@link Sql#jobQuery} in its documented order, the limit as page + 1. */
  static void bindJobQuery(PreparedStatement ps, JobQuery query) throws SQLException {
    int i = 1;
    if (query.queue() != null) {
      ps.setString(i++, query.queue());
    }
    if (query.name() != null) {
      ps.setString(i++, query.name());
    }
    if (query.uniqueKey() != null) {
      ps.setString(i++, query.uniqueKey());
    }
    if (query.from() != null) {
      ps.setObject(i++, OffsetDateTime.ofInstant(query.from(), ZoneOffset.UTC));
    }
    if (query.to() != null) {
      ps.setObject(i++, OffsetDateTime.ofInstant(query.to(), ZoneOffset.UTC));
    }
    JobQuery.Cursor cursor = query.cursor();
    if (cursor != null) {
      if (query.timeOrdered()) {
        ps.setObject(i++, OffsetDateTime.ofInstant(cursor.time(), ZoneOffset.UTC));
      }
      ps.setLong(i++, cursor.id());
    }
    ps.setInt(i, query.limit() + 1);
  }

  /**
   * Runs the keyset-paged {@link Sql#jobQuery}: reads one row more than the page to know whether
   * another page follows, and makes the cursor from the last row returned.
   */
  JobPage jobs(Connection c, JobQuery query) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.jobQuery(query))) {
      bindJobQuery(ps, query);
      List<JobInfo> jobs = new ArrayList<>(Math.min(query.limit(), 128));
      boolean more = false;
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          if (jobs.size() == query.limit()) {
            more = true;
            break;
          }
          jobs.add(jobInfo(rs));
        }
      }
      String next = null;
      if (more) {
        JobInfo last = jobs.get(jobs.size() - 1);
        Instant time = !query.timeOrdered() ? null
            : query.state() == JobState.RUNNING ? last.lockedAt() : last.discardedAt();
        next = new JobQuery.Cursor(query.state(), query.order(), time, last.id().value()).encode();
      }
      return new JobPage(jobs, next);
    }
  }

  List<JobInfo> listDiscarded(Connection c, String name, int limit) throws SQLException {
    try (PreparedStatement ps =
        c.prepareStatement(name == null ? sql.listDiscarded : sql.listDiscardedByName)) {
      int i = 1;
      if (name != null) {
        ps.setString(i++, name);
      }
      ps.setInt(i, limit);
      List<JobInfo> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(jobInfo(rs));
        }
      }
      return out;
    }
  }

  /**
   * Runs {@link Sql#retryDiscarded}; {@code queues} receives the revived jobs' queues (to wake this
   * JVM's workers after commit).
   */
  RetryDiscardedResult retryDiscarded(Connection c, String name, String errorContains, List<String> queues)
      throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.retryDiscarded)) {
      ps.setString(1, name);
      ps.setString(2, errorContains);
      ps.setString(3, sql.channel);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        java.sql.Array revived = rs.getArray(3);
        if (revived != null) {
          queues.addAll(List.of((String[]) revived.getArray()));
        }
        return new RetryDiscardedResult(rs.getInt(1), rs.getInt(2));
      }
    }
  }

  /** Runs {@link Sql#queueDepths} and adds its branches up per queue; sorted by queue. */
  List<QueueDepth> queueDepths(Connection c) throws SQLException {
    java.util.TreeMap<String, long[]> byQueue = new java.util.TreeMap<>();
    try (PreparedStatement ps = c.prepareStatement(sql.queueDepths);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        long[] d = byQueue.computeIfAbsent(rs.getString(1), k -> new long[] {0, 0, 0, -1});
        d[0] += rs.getLong(2);
        d[1] += rs.getLong(3);
        d[2] += rs.getLong(4);
        long oldest = rs.getLong(5);
        if (!rs.wasNull()) {
          d[3] = Math.max(d[3], Math.max(0, oldest));
        }
      }
    }
    List<QueueDepth> out = new ArrayList<>(byQueue.size());
    for (java.util.Map.Entry<String, long[]> e : byQueue.entrySet()) {
      long[] d = e.getValue();
      out.add(new QueueDepth(e.getKey(), d[0], d[1], d[2], d[3] < 0 ? null : java.time.Duration.ofMillis(d[3])));
    }
    return out;
  }

  /** Queue counts, unhandled names and live workers, each worker judged by its own threshold. */
  QueueStats stats(Connection c) throws SQLException {
    List<QueueStats.Queue> queues = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql.queueSummary);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        long oldestMs = rs.getLong(6);
        java.time.Duration oldest = rs.wasNull() ? null : java.time.Duration.ofMillis(oldestMs);
        queues.add(
            new QueueStats.Queue(
                rs.getString(1), rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getLong(5), oldest));
      }
    }
    List<QueueStats.Unhandled> unhandled = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql.unhandledJobs)) {
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          unhandled.add(new QueueStats.Unhandled(rs.getString(1), rs.getString(2), rs.getLong(3)));
        }
      }
    }
    long liveWorkers;
    try (PreparedStatement ps = c.prepareStatement(sql.liveWorkers)) {
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        liveWorkers = rs.getLong(1);
      }
    }
    QueueStats.Table table = null;
    try (PreparedStatement ps = c.prepareStatement(sql.tableHealth)) {
      ps.setString(1, sql.schema);
      try (ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          long xminAge = rs.getLong(5);
          Long xmin = rs.wasNull() ? null : xminAge;
          long oldestTxMs = rs.getLong(6);
          java.time.Duration oldestTx = rs.wasNull() ? null : java.time.Duration.ofMillis(oldestTxMs);
          table =
              new QueueStats.Table(
                  rs.getLong(1), rs.getLong(2), instant(rs.getTimestamp(3)), rs.getLong(4), xmin, oldestTx);
        }
      }
    }
    return new QueueStats(queues, unhandled, liveWorkers, table);
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
        instant(rs.getTimestamp(16)),
        progress(rs.getString(17)),
        rs.getString(18));
  }

  /** Parses the progress column of {@link Sql#findJob}: attempt, at, data; null when none. */
  static JobProgress progress(String json) {
    if (json == null) {
      return null;
    }
    try {
      JsonNode p = ERRORS_MAPPER.readTree(json);
      return new JobProgress(p.get("data").toString(), p.path("attempt").asInt(),
          OffsetDateTime.parse(p.path("at").asText()).toInstant());
    } catch (Exception e) {
      throw new PgQueueException("unreadable progress: " + Identifiers.quote(json), e);
    }
  }

  /** Runs {@link Sql#writeProgress}; true when the claim still held the job and it was written. */
  boolean writeProgress(Connection c, ClaimedJob job, String json) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.writeProgress)) {
      ps.setString(1, json);
      ps.setLong(2, job.id());
      ps.setLong(3, job.owner());
      ps.setLong(4, job.token());
      return returnsRow(ps);
    }
  }

  /** Runs {@link Sql#pruneProgress}; returns the rows deleted. */
  int pruneProgress(Connection c) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.pruneProgress)) {
      return ps.executeUpdate();
    }
  }

  /** Runs {@link Sql#pruneRollups}; returns the rows deleted. */
  int pruneRollups(Connection c) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql.pruneRollups)) {
      return ps.executeUpdate();
    }
  }

  /** Runs {@link Sql#throughput}. */
  List<Throughput> throughput(Connection c, long windowSeconds, long bucketSeconds) throws SQLException {
    List<Throughput> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql.throughput)) {
      ps.setLong(1, bucketSeconds);
      ps.setLong(2, bucketSeconds);
      ps.setLong(3, windowSeconds);
      ps.setLong(4, bucketSeconds);
      ps.setLong(5, bucketSeconds);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String outcome = rs.getString(4);
          JobEvent.Kind kind;
          try {
            kind = JobEvent.Kind.valueOf(outcome.toUpperCase(java.util.Locale.ROOT));
          } catch (IllegalArgumentException e) {
            continue; // an outcome of a later release: not one this code can name
          }
          out.add(new Throughput(rs.getObject(1, java.time.OffsetDateTime.class).toInstant(),
              rs.getString(2), rs.getString(3), kind, rs.getLong(5)));
        }
      }
    }
    return out;
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
