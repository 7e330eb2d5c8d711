package io.github.pgqueue.dashboard;

import io.github.pgqueue.JobInfo;
import io.github.pgqueue.JobPage;
import io.github.pgqueue.JobQuery;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobState;
import io.github.pgqueue.PgQueueException;
import io.github.pgqueue.internal.HealthSql;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import javax.sql.DataSource;

/**
 * Every read the dashboard makes. Each statement is served by an index of {@code jobs} (or reads a
 * small table): no sequential scan of {@code jobs}, no OFFSET, no count over the table
 * (DashboardPlanTest checks the plans on a million rows). Job listings go through {@link
 * JobQueue#jobs(JobQuery)}; what it has no filter for (text in the last error) is read here.
 */
final class Reads {

  /** The error search reads only this many of the newest discarded jobs. */
  static final int ERROR_SEARCH_WINDOW = 10_000;
  /**
   * Available jobs are counted up to this many per queue, in claim order; beyond it due and
   * scheduled are lower bounds ("10,000+") and the oldest due age is the oldest among them.
   */
  static final int AVAILABLE_SAMPLE = 1_000;
  /** Discarded jobs are counted up to this many; beyond it the dashboard shows "10,000+". */
  static final int DISCARDED_COUNT_CAP = 10_000;
  /** How many due jobs at the head of each queue are checked for names no live worker handles. */
  static final int HEAD_SAMPLE = 100;

  private final DataSource dataSource;
  private final JobQueue queue;
  private final String s;

  Reads(DataSource dataSource, JobQueue queue, String schema) {
    this.dataSource = dataSource;
    this.queue = queue;
    this.s = schema;
  }

  /** Core's rule for a live worker row (alias w), so the dashboard never drifts from it. */
  private static String alive() {
    return HealthSql.alive("w");
  }

  // ---- values --------------------------------------------------------------------------------

  /** One queue on the overview and queues pages. */
  record QueueRow(String queue, long due, long scheduled, boolean availableCapped, long running, long discarded,
      boolean discardedCapped, Duration oldestDueAge, boolean paused, Integer maxRunning,
      Integer rateLimit, Long ratePeriodMs, Integer keyRateLimit, Long keyRatePeriodMs, int liveWorkers,
      Integer liveSlots) {}

  /**
   * A worker row. {@code concurrency} is each queue's slots, in the order of {@code queues}; null
   * for a worker of a release that did not record them.
   */
  record WorkerRow(long id, String host, Long pid, List<String> queues, List<Integer> concurrency, List<String> names,
      List<String> pausedQueues, Instant startedAt, Instant heartbeatAt, boolean alive, long busy) {

    /** The slots this worker has for {@code queue}, or null when unknown. */
    Integer slots(String queue) {
      int i = queues.indexOf(queue);
      return concurrency == null || i < 0 || i >= concurrency.size() ? null : concurrency.get(i);
    }
  }

  /** The jobs table's health. */
  record Health(long liveTuples, long deadTuples, Instant lastVacuum, long totalBytes, Long oldestXminAge,
      Duration oldestTransactionAge, long liveWorkers, List<String[]> unhandledAtHead) {}

  /** A page of jobs and the cursor of the next. */
  record Jobs(List<JobInfo> jobs, String nextCursor) {}

  // ---- reads ---------------------------------------------------------------------------------

  Instant now() {
    return query("SELECT now()", ps -> {}, rs -> rs.getTimestamp(1).toInstant()).get(0);
  }

  /**
   * Per-queue counts: due and scheduled from the first {@value #AVAILABLE_SAMPLE} available jobs
   * of each queue in jobs_fetch_idx (exact below that; {@link JobQueue#queueDepths()} counts them
   * all, which on a large backlog the planner rightly does with a sequential scan), running from
   * jobs_running_idx, discarded counted over the newest {@value
   * #DISCARDED_COUNT_CAP} discarded rows (jobs_discarded_idx), pause and limits from
   * queue_controls, live workers from workers.
   */
  List<QueueRow> queues() {
    Map<String, long[]> counts = new TreeMap<>();
    Map<String, Duration> oldest = new TreeMap<>();
    Map<String, Boolean> sampled = new TreeMap<>();
    // The queues with available jobs, found by skipping through jobs_fetch_idx (one probe per
    // queue); for each, the first AVAILABLE_SAMPLE + 1 entries in claim order, read from the index.
    query("WITH RECURSIVE qs AS (SELECT min(queue) AS queue FROM " + s + ".jobs WHERE state = 'available'"
        + " UNION ALL SELECT (SELECT min(j.queue) FROM " + s + ".jobs j WHERE j.state = 'available'"
        + " AND j.queue > qs.queue) FROM qs WHERE qs.queue IS NOT NULL)"
        + " SELECT qs.queue, a.due, a.scheduled, a.total, a.oldest_ms FROM qs CROSS JOIN LATERAL ("
        + "SELECT count(*) FILTER (WHERE x.run_at <= now()) AS due, count(*) FILTER (WHERE x.run_at > now())"
        + " AS scheduled, count(*) AS total, (extract(epoch FROM now() - min(x.run_at) FILTER"
        + " (WHERE x.run_at <= now())) * 1000)::bigint AS oldest_ms FROM (SELECT j.run_at FROM " + s + ".jobs j"
        + " WHERE j.state = 'available' AND j.queue = qs.queue ORDER BY j.priority DESC, j.run_at, j.id LIMIT "
        + (AVAILABLE_SAMPLE + 1) + ") x) a WHERE qs.queue IS NOT NULL", ps -> {}, rs -> {
          counts.put(rs.getString(1), new long[] {rs.getLong(2), rs.getLong(3), 0, 0});
          sampled.put(rs.getString(1), rs.getLong(4) > AVAILABLE_SAMPLE);
          String name = rs.getString(1);
          long ms = rs.getLong(5);
          oldest.put(name, rs.wasNull() ? null : Duration.ofMillis(Math.max(0, ms)));
          return null;
        });
    query("SELECT queue, count(*) FROM " + s + ".jobs WHERE state = 'running' GROUP BY queue", ps -> {}, rs -> {
      counts.computeIfAbsent(rs.getString(1), k -> new long[4])[2] = rs.getLong(2);
      return null;
    });
    boolean[] capped = {false};
    query("SELECT d.queue, count(*), sum(count(*)) OVER () FROM (SELECT queue FROM " + s + ".jobs"
        + " WHERE state = 'discarded' ORDER BY discarded_at DESC LIMIT " + (DISCARDED_COUNT_CAP + 1)
        + ") d GROUP BY d.queue", ps -> {}, rs -> {
          counts.computeIfAbsent(rs.getString(1), k -> new long[4])[3] = rs.getLong(2);
          capped[0] = rs.getLong(3) > DISCARDED_COUNT_CAP;
          return null;
        });
    Map<String, Object[]> controls = new TreeMap<>();
    query("SELECT queue, paused, max_running, rate_limit, rate_period_ms, key_rate_limit, key_rate_period_ms FROM "
        + s + ".queue_controls",
        ps -> {}, rs -> {
          controls.put(rs.getString(1), new Object[] {rs.getBoolean(2), (Integer) rs.getObject(3),
              (Integer) rs.getObject(4), (Long) rs.getObject(5), (Integer) rs.getObject(6), (Long) rs.getObject(7)});
          counts.computeIfAbsent(rs.getString(1), k -> new long[4]);
          return null;
        });
    Map<String, Integer> served = new TreeMap<>();
    // The live workers' slots per queue; absent when a live worker serving it did not record them.
    Map<String, Integer> slots = new TreeMap<>();
    Set<String> slotsUnknown = new TreeSet<>();
    for (WorkerRow w : workers()) {
      if (w.alive()) {
        for (String q : w.queues()) {
          served.merge(q, 1, Integer::sum);
          Integer n = w.slots(q);
          if (n == null) {
            slotsUnknown.add(q);
          } else {
            slots.merge(q, n, Integer::sum);
          }
        }
      }
    }
    List<QueueRow> out = new ArrayList<>();
    for (Map.Entry<String, long[]> e : counts.entrySet()) {
      long[] c = e.getValue();
      Object[] ctl = controls.getOrDefault(e.getKey(), new Object[] {false, null, null, null, null, null});
      out.add(new QueueRow(e.getKey(), c[0], c[1], sampled.getOrDefault(e.getKey(), false), c[2], c[3], capped[0],
          oldest.get(e.getKey()),
          (Boolean) ctl[0], (Integer) ctl[1], (Integer) ctl[2], (Long) ctl[3], (Integer) ctl[4], (Long) ctl[5],
          served.getOrDefault(e.getKey(), 0),
          slotsUnknown.contains(e.getKey()) ? null : slots.getOrDefault(e.getKey(), 0)));
    }
    return out;
  }

  List<WorkerRow> workers() {
    return query("SELECT w.id, w.host, w.pid, w.queues, w.job_names, w.paused_queues, w.started_at,"
        + " w.heartbeat_at, " + alive() + ", (SELECT count(*) FROM " + s + ".jobs j"
        + " WHERE j.state = 'running' AND j.locked_by = w.id), w.concurrency"
        + " FROM " + s + ".workers w ORDER BY w.id LIMIT 1000", ps -> {}, rs -> {
          long pid = rs.getLong(3);
          Long pidOrNull = rs.wasNull() ? null : pid;
          Array concurrency = rs.getArray(11);
          return new WorkerRow(rs.getLong(1), rs.getString(2), pidOrNull, strings(rs.getArray(4)),
              concurrency == null ? null : Arrays.asList((Integer[]) concurrency.getArray()),
              strings(rs.getArray(5)), strings(rs.getArray(6)), instant(rs.getTimestamp(7)),
              instant(rs.getTimestamp(8)), rs.getBoolean(9), rs.getLong(10));
        });
  }

  WorkerRow worker(long id) {
    return workers().stream().filter(w -> w.id() == id).findFirst().orElse(null);
  }

  /**
   * The health signals: the table statistics and oldest transaction (as {@code
   * JobQueue.stats()} reads them), live workers, and job names at the head of a queue (the first
   * {@value #HEAD_SAMPLE} due jobs in claim order, read through jobs_fetch_idx) that no live
   * worker handles. {@code stats()} itself counts every job with a scan, which a dashboard on a
   * large table must not do.
   */
  Health health(List<String> queuesWithDueJobs) {
    Object[] t = query(HealthSql.TABLE_HEALTH,
        ps -> ps.setString(1, s), rs -> new Object[] {rs.getLong(1), rs.getLong(2),
            instant(rs.getTimestamp(3)), rs.getLong(4), rs.getObject(5), rs.getObject(6)})
        .stream().findFirst().orElse(new Object[] {0L, 0L, null, 0L, null, null});
    long live = query("SELECT count(*) FROM " + s + ".workers w WHERE " + alive(), ps -> {},
        rs -> rs.getLong(1)).get(0);
    List<String[]> unhandled = query("SELECT q.queue, h.name, count(*) FROM unnest(?::text[]) AS q(queue)"
        + " CROSS JOIN LATERAL (SELECT j.name FROM " + s + ".jobs j WHERE j.state = 'available'"
        + " AND j.queue = q.queue AND j.run_at <= now() ORDER BY j.priority DESC, j.run_at, j.id LIMIT "
        + HEAD_SAMPLE + ") h WHERE NOT EXISTS (SELECT 1 FROM " + s + ".workers w WHERE " + alive()
        + " AND h.name = ANY(w.job_names) AND q.queue = ANY(w.queues)) GROUP BY 1, 2 ORDER BY 1, 2",
        ps -> ps.setArray(1, ps.getConnection().createArrayOf("text", queuesWithDueJobs.toArray())),
        rs -> new String[] {rs.getString(1), rs.getString(2), Long.toString(rs.getLong(3))});
    Number xmin = (Number) t[4];
    Number tx = (Number) t[5];
    return new Health((Long) t[0], (Long) t[1], (Instant) t[2], (Long) t[3],
        xmin == null ? null : xmin.longValue(), tx == null ? null : Duration.ofMillis(tx.longValue()),
        live, unhandled);
  }

  /** A page of {@link JobQueue#jobs(JobQuery)}. */
  Jobs jobs(JobQuery q) {
    JobPage page = queue.jobs(q);
    return new Jobs(page.jobs(), page.nextCursor());
  }

  /**
   * Discarded jobs whose last error's class or message contains {@code text} (case-insensitive),
   * among the newest {@value #ERROR_SEARCH_WINDOW} discarded jobs (read through jobs_discarded_idx;
   * no index serves free text), newest first, keyset-paged by (discarded_at, id).
   */
  Jobs searchErrors(String text, String queueName, String name, String after, int limit) {
    long[] cursor = after == null ? null : parseCursor(after);
    StringBuilder sql = new StringBuilder("SELECT " + JOB_COLUMNS + " FROM (SELECT * FROM " + s + ".jobs"
        + " WHERE state = 'discarded' ORDER BY discarded_at DESC, id DESC LIMIT " + ERROR_SEARCH_WINDOW
        + ") j WHERE strpos(lower(coalesce(j.errors -> -1 ->> 'message', '') || ' '"
        + " || coalesce(j.errors -> -1 ->> 'class', '')), lower(?)) > 0");
    if (queueName != null) {
      sql.append(" AND j.queue = ?");
    }
    if (name != null) {
      sql.append(" AND j.name = ?");
    }
    if (cursor != null) {
      sql.append(" AND (j.discarded_at, j.id) < (to_timestamp(?::double precision / 1000000), ?)");
    }
    sql.append(" ORDER BY j.discarded_at DESC, j.id DESC LIMIT ").append(limit + 1);
    List<JobInfo> rows = query(sql.toString(), ps -> {
      int i = 1;
      ps.setString(i++, text);
      if (queueName != null) {
        ps.setString(i++, queueName);
      }
      if (name != null) {
        ps.setString(i++, name);
      }
      if (cursor != null) {
        ps.setLong(i++, cursor[0]);
        ps.setLong(i, cursor[1]);
      }
    }, Reads::jobInfo);
    String next = null;
    if (rows.size() > limit) {
      rows = rows.subList(0, limit);
      JobInfo last = rows.get(limit - 1);
      Instant t = last.discardedAt();
      long micros = t.getEpochSecond() * 1_000_000 + t.getNano() / 1000;
      next = Base64.getUrlEncoder().withoutPadding().encodeToString(
          ("e:" + micros + ":" + last.id().value()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    return new Jobs(rows, next);
  }

  private static long[] parseCursor(String after) {
    try {
      String[] f = new String(Base64.getUrlDecoder().decode(after), java.nio.charset.StandardCharsets.UTF_8)
          .split(":");
      if (f.length != 3 || !f[0].equals("e")) {
        throw new IllegalArgumentException();
      }
      return new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])};
    } catch (IllegalArgumentException e) {
      throw new Request.BadRequest("after is not a cursor of this search");
    }
  }

  /**
   * Outcomes per bucket from job_rollups (read through its primary key, which starts with the
   * minute): per minute over the last hour, or per hour over the last day.
   *
   * @return bucket start, then counts of succeeded, failed (retried + discarded + rescued) and other
   */
  List<Object[]> throughput(boolean day) {
    String bucket = day ? "date_trunc('hour', minute)" : "minute";
    return query("SELECT " + bucket + ", sum(count) FILTER (WHERE outcome = 'succeeded'),"
        + " sum(count) FILTER (WHERE outcome IN ('retried', 'discarded', 'rescued')),"
        + " sum(count) FILTER (WHERE outcome IN ('cancelled', 'snoozed'))"
        + " FROM " + s + ".job_rollups WHERE minute >= date_trunc('minute', now()) - interval '"
        + (day ? "1 day" : "1 hour") + "' GROUP BY 1 ORDER BY 1", ps -> {}, rs -> new Object[] {
            rs.getTimestamp(1).toInstant(), rs.getLong(2), rs.getLong(3), rs.getLong(4)});
  }

  // ---- plumbing ------------------------------------------------------------------------------

  private static final String JOB_COLUMNS = "j.id, j.name, j.queue, j.state, j.priority, j.attempt,"
      + " j.max_attempts, j.run_at, j.created_at, j.locked_at, j.locked_by, j.unique_key, j.context,"
      + " j.payload::text, j.errors::text, j.discarded_at, j.concurrency_key";

  private static JobInfo jobInfo(ResultSet rs) throws SQLException {
    long lockedBy = rs.getLong(11);
    Long lockedByOrNull = rs.wasNull() ? null : lockedBy;
    return new JobInfo(new io.github.pgqueue.JobId(rs.getLong(1)), rs.getString(2), rs.getString(3),
        JobState.valueOf(rs.getString(4).toUpperCase(java.util.Locale.ROOT)), rs.getInt(5), rs.getInt(6),
        rs.getInt(7), instant(rs.getTimestamp(8)), instant(rs.getTimestamp(9)), instant(rs.getTimestamp(10)),
        lockedByOrNull, rs.getString(12), rs.getString(13), rs.getString(14), Errors.parse(rs.getString(15)),
        instant(rs.getTimestamp(16)), null, rs.getString(17));
  }

  interface Binder {
    void bind(PreparedStatement ps) throws SQLException;
  }

  interface Mapper<T> {
    T map(ResultSet rs) throws SQLException;
  }

  <T> List<T> query(String sql, Binder binder, Mapper<T> mapper) {
    try (Connection c = dataSource.getConnection()) {
      c.setReadOnly(true);
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        binder.bind(ps);
        List<T> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(mapper.map(rs));
          }
        }
        return out;
      } finally {
        c.setReadOnly(false);
      }
    } catch (SQLException e) {
      throw new PgQueueException("dashboard read failed", e);
    }
  }

  private static Instant instant(Timestamp t) {
    return t == null ? null : t.toInstant();
  }

  private static List<String> strings(Array a) throws SQLException {
    return a == null ? List.of() : Arrays.asList((String[]) a.getArray());
  }
}
