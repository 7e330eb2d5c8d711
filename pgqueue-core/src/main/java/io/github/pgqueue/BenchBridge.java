package io.github.pgqueue;

import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Core's implementation of the benchmark's bridge ({@link BenchAccess}): the raw-SQL ceiling runs
 * the very statements of {@link Sql} through {@link JobStore}, and the worker's claim counters give
 * the batch size it reached. It registers itself with {@link SharedSecrets} when initialised, so
 * {@code Sql}, {@code JobStore} and this class stay package-private.
 */
final class BenchBridge implements BenchAccess {

  static {
    SharedSecrets.setBenchAccess(new BenchBridge());
  }

  private BenchBridge() {}

  @Override
  public long[] claimCounters(Worker worker) {
    return worker.claimCounters();
  }

  @Override
  public void probe(BenchAccess.Probe probe) {
    PickupProbe.probe = probe;
  }

  @Override
  public void localWake(JobQueue queue, boolean on) {
    queue.localWake = on;
  }

  @Override
  public BenchAccess.Raw raw(String schema) {
    return new Raw(schema);
  }

  /** The raw statements of one schema. */
  private static final class Raw implements BenchAccess.Raw {
    private final JobStore store;
    /** Claim tokens, as a worker process keeps them: never repeated for one registration. */
    private final java.util.concurrent.atomic.AtomicLong tokens = new java.util.concurrent.atomic.AtomicLong();

    private final Sql sql;
    /** Sql.complete then THE CLAIM (claim_v2), in one statement that commits durably: see completeAndClaim. */
    private final String completeAndClaim;
    /** What completeAndClaim claimed last, per owner: its next call deletes these jobs. */
    private final java.util.Map<Long, Claimed> pending = new java.util.HashMap<>();

    /** The ids one claim took and its token. */
    private record Claimed(long token, List<Long> ids) {}

    Raw(String schema) {
      this.sql = new Sql(schema);
      this.store = new JobStore(sql);
      // The completion's delete, then THE CLAIM as a worker runs it (claim_v2). claim_v2 turns
      // its transaction's commit asynchronous (SET LOCAL); this transaction writes outcomes, so the
      // statement turns it back to a durable commit after the claim has run (the last CTE reads
      // the claim's rows, so it is evaluated after them).
      String claimFn = sql.claimFn.substring("SELECT * FROM ".length());
      this.completeAndClaim = "WITH done AS (" + sql.complete.strip() + "),\n"
          + "claimed AS MATERIALIZED (SELECT * FROM " + claimFn + "),\n"
          + "durable AS MATERIALIZED (SELECT set_config('synchronous_commit', 'on', true)"
          + " FROM (SELECT count(*) FROM claimed) n)\n"
          + "SELECT claimed.id FROM durable LEFT JOIN claimed ON true"; // durable even when nothing is claimed
    }

    /** One job of {@code name} with payload {@code {"n": i}}, as JobQueue.enqueue writes it. */
    @Override
    public void insert(Connection c, String name, int i, boolean notify) throws SQLException {
      store.insert(c, row(name, i), notify);
    }

    /** A batch, as JobQueue.enqueueAll writes it (one unnest insert; no NOTIFY). */
    @Override
    public void insertAll(Connection c, String name, int from, int count) throws SQLException {
      List<JobStore.Row> rows = new ArrayList<>(count);
      for (int i = from; i < from + count; i++) {
        rows.add(row(name, i));
      }
      store.insertAll(c, rows, java.util.Set.of());
    }

    /** One claim of up to {@code limit} jobs then one delete of them, as a worker would. */
    @Override
    public int claimAndComplete(Connection c, String name, int limit, long owner) throws SQLException {
      return complete(c, store.claim(c, EnqueueOptions.DEFAULT_QUEUE, new String[] {name}, limit, owner, tokens.incrementAndGet()));
    }

    /** Deletes the claimed jobs as succeeded, in one statement; returns how many. */
    private int complete(Connection c, List<ClaimedJob> jobs) throws SQLException {
      if (jobs.isEmpty()) {
        return 0;
      }
      List<Outcome> done = new ArrayList<>(jobs.size());
      for (ClaimedJob j : jobs) {
        done.add(Outcome.success(j));
      }
      store.complete(c, done);
      return jobs.size();
    }

    /** Where a fetcher's claims of each job name would start (one name per queue here). */
    private final java.util.Map<String, ClaimCursor> cursors = new java.util.HashMap<>();

    /**
     * As {@link #claimAndComplete}, with the claim starting where a worker's fetcher would start it
     * ({@link ClaimCursor}: the head counted every second, on the same connection).
     */
    @Override
    public int claimAndCompleteAsAWorker(Connection c, String name, int limit, long owner) throws SQLException {
      ClaimCursor cursor = cursors.computeIfAbsent(name, n -> new ClaimCursor(System.nanoTime()));
      String queue = EnqueueOptions.DEFAULT_QUEUE;
      String[] names = {name};
      long started = System.nanoTime();
      if (cursor.probeDue(started)) {
        cursor.probed(io.github.pgqueue.internal.Borrowed.transaction(c, false, t -> store.deadHead(t, queue, names, limit)),
            started, System.nanoTime());
      }
      ClaimCursor.Position after = cursor.start(System.nanoTime());
      long token = tokens.incrementAndGet();
      List<ClaimedJob> jobs = after == null
          ? store.claim(c, queue, names, limit, owner, token)
          : store.claimAfter(c, queue, names, limit, owner, token, after);
      cursor.claimed(jobs, System.nanoTime());
      return complete(c, jobs);
    }

    @Override
    public int completeAndClaim(Connection c, String name, int limit, long owner) throws SQLException {
      Claimed done = pending.getOrDefault(owner, new Claimed(0, List.of()));
      Long[] ids = done.ids().toArray(new Long[0]);
      Long[] owners = new Long[ids.length];
      Long[] held = new Long[ids.length];
      java.util.Arrays.fill(owners, owner);
      java.util.Arrays.fill(held, done.token());
      long token = tokens.incrementAndGet();
      String queue = EnqueueOptions.DEFAULT_QUEUE;
      List<Long> claimed = new ArrayList<>(limit);
      try (java.sql.PreparedStatement ps = c.prepareStatement(completeAndClaim)) {
        int i = 1;
        ps.setArray(i++, c.createArrayOf("int8", ids));
        ps.setArray(i++, c.createArrayOf("int8", owners));
        ps.setArray(i++, c.createArrayOf("int8", held));
        ps.setString(i++, queue);
        ps.setArray(i++, c.createArrayOf("text", new String[] {name}));
        ps.setLong(i++, owner);
        ps.setInt(i++, limit);
        ps.setLong(i, token);
        try (java.sql.ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            long id = rs.getLong(1);
            if (!rs.wasNull()) {
              claimed.add(id);
            }
          }
        }
      }
      pending.put(owner, new Claimed(token, claimed));
      return claimed.size();
    }

    @Override
    public long claimsAfterCursor(String name) {
      ClaimCursor cursor = cursors.get(name);
      return cursor == null ? 0 : cursor.claimsAfter();
    }

    @Override
    public List<Long> claimStatement(Connection c, String queue, String name, int limit, long owner)
        throws SQLException {
      List<Long> ids = new ArrayList<>(limit);
      try (java.sql.PreparedStatement ps = c.prepareStatement(sql.claim)) {
        ps.setString(1, queue);
        ps.setArray(2, c.createArrayOf("text", new String[] {name}));
        ps.setLong(3, owner);
        ps.setInt(4, limit);
        ps.setLong(5, owner);
        ps.setLong(6, tokens.incrementAndGet());
        try (java.sql.ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            ids.add(rs.getLong(1));
          }
        }
      }
      return ids;
    }

    /** Runs the claim of pgqueue-core itself on one queue (claim_v2); returns the ids claimed. */
    @Override
    public List<Long> claim(Connection c, String queue, String name, int limit, long owner) throws SQLException {
      List<Long> ids = new ArrayList<>();
      for (ClaimedJob j : store.claim(c, queue, new String[] {name}, limit, owner, tokens.incrementAndGet())) {
        ids.add(j.id());
      }
      return ids;
    }

    /** Runs the claim by name of pgqueue-core itself on one queue; returns the ids claimed. */
    @Override
    public List<Long> claimByName(Connection c, String queue, String name, int limit, long owner) throws SQLException {
      List<Long> ids = new ArrayList<>();
      for (ClaimedJob j : store.claim(c, queue, new String[] {name}, limit, owner, tokens.incrementAndGet(), true)) {
        ids.add(j.id());
      }
      return ids;
    }

    /** Runs the controlled claim of pgqueue-core itself (the keyed claim, for a keyed queue). */
    @Override
    public List<Long> claimControlled(Connection c, String queue, String name, int limit, long owner)
        throws SQLException {
      List<Long> ids = new ArrayList<>();
      for (ClaimedJob j : store.claimControlled(c, queue, new String[] {name}, limit, owner, tokens.incrementAndGet()).jobs()) {
        ids.add(j.id());
      }
      return ids;
    }

    /**
     * Registers a worker row so claims have a lock owner; returns its id. It never heartbeats, so
     * it registers with a stale threshold of a day: the claim refuses an owner whose row is older
     * than half its threshold. Remove it with {@link #deregisterWorker}.
     */
    @Override
    public long registerWorker(Connection c, String name) throws SQLException {
      return store.registerWorker(c, "raw-ceiling", ProcessHandle.current().pid(),
          new String[] {EnqueueOptions.DEFAULT_QUEUE}, new Integer[] {1}, new String[] {name}, 5_000, 86_400_000L);
    }

    /** One batch of pruning, as the maintenance runs it; returns the jobs deleted. */
    @Override
    public int pruneDiscarded(Connection c, long retentionMillis) throws SQLException {
      return store.pruneDiscarded(c, retentionMillis);
    }

    /** Removes a row made by {@link #registerWorker}. */
    @Override
    public void deregisterWorker(Connection c, long id) throws SQLException {
      store.deregisterWorker(c, id);
    }

    private static JobStore.Row row(String name, int i) {
      return new JobStore.Row(name, EnqueueOptions.DEFAULT_QUEUE, "{\"n\": " + i + "}",
          EnqueueOptions.DEFAULT_PRIORITY, (Instant) null, 0, EnqueueOptions.DEFAULT_MAX_ATTEMPTS, "", null);
    }
  }
}
