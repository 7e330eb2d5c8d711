package io.github.pgqueue.bench;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.Worker;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Claim and enqueue cost on big, old tables ({@code --backlog N}; docs/performance.md, "Big
 * tables"): pgqueue's own claim statement (20 jobs of a handled name on one queue), its claim by
 * name (the claim a worker takes while many due jobs of names it does not handle wait) and its
 * single insert, each timed 30 times and rolled back, first on a table holding only 1,000 handled due jobs,
 * then with each of these added in turn (and removed again):
 *
 * <ul>
 *   <li>{@code unhandled}: N due jobs of a name no worker handles, ahead of the handled ones in claim
 *       order, on the same queue;
 *   <li>{@code discarded}: 50 N discarded jobs awaiting pruning;
 *   <li>{@code many_queues}: 10 N due jobs spread across 100 other queues and 200 names.
 * </ul>
 *
 * <p>Each condition's table is vacuumed and analyzed before timing, as autovacuum would leave it,
 * and checkpointed; each condition is timed on a new connection, and each statement in a loop of
 * its own after {@link #WARM_UP} untimed rounds, so that neither the plans made on another
 * condition's table nor the statement timed before it weigh on a figure.
 *
 * <p>Then two runs of a worker's steady state, each {@code seconds} long, against the same span
 * without the disturbance: the claim and delete of 20 jobs from the head of a queue that 20 new
 * jobs join each round ({@code churn}, one connection, committed as a worker commits them, each
 * claim starting where a worker's would):
 *
 * <ul>
 *   <li>{@code hold}: while another session keeps a REPEATABLE READ transaction open, so vacuum
 *       (and the index's own clean-up of entries it finds dead) can remove none of the churned rows;
 *       reported as the round's median in the first and in the last tenth of the span, with the
 *       last tenth's mean and p99, and how many claims started after the last job claimed instead
 *       of at the head (a worker's fetcher does so while the head is full of such entries);
 *   <li>{@code paced_pruning}: while a worker's maintenance prunes 50 N discarded jobs at its own
 *       pace (a real {@link Worker} on a queue of its own, default heartbeat: at most 20 batches of
 *       1,000 per tick); reported as p50 and p99 of the rounds, over at most a minute, in three
 *       spans that alternate with three spans beside the same jobs undisturbed (the order turned
 *       each time, each kind's rounds pooled), so that a drift of the machine's speed weighs on
 *       both alike;
 *   <li>{@code pruning}: then while another session prunes them batch after batch as fast as it
 *       can (as {@link JobQueue#pruneDiscarded} does when called), the harder case; reported the
 *       same way.
 * </ul>
 *
 * <p>The three pruning spans (beside the discarded jobs, and the two above) each print the
 * database's profile ({@link Profile}: wait events, WAL per job) as they end.
 *
 * <p>Asserts nothing; it measures.
 */
final class BacklogBench {

  private static final int HANDLED = 1_000;
  private static final int TIMES = 30;
  /**
   * Untimed rounds of each statement first: pgjdbc prepares a statement on its fifth use,
   * PostgreSQL makes five custom plans before it weighs the generic one, and the JIT compiles the
   * client's path (with 3, the first condition's figures came out 30-100% above the later ones').
   */
  private static final int WARM_UP = 50;
  /** The pruning runs' span at most: enough rounds for a p99, without waiting for 50 N to go. */
  private static final int PRUNING_WINDOW_SECONDS = 60;
  /** Spans of each kind (beside, paced pruning) the pruning window is cut into, alternating. */
  private static final int PRUNING_SPANS = 3;

  private BacklogBench() {}

  static Map<String, Object> run(String url, String user, String password, int n, int seconds) throws Exception {
    PGSimpleDataSource ds = Workload.migrated(url, user, password);
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
            + " FROM generate_series(1, " + (50L * n) + ") i", "DELETE FROM pgqueue.jobs WHERE state = 'discarded'"},
        {"many_queues", "INSERT INTO pgqueue.jobs (name, queue, payload)"
            + " SELECT 'n' || (i % 200), 'q' || (i % 100), '{}' FROM generate_series(1, " + (10L * n) + ") i",
            "DELETE FROM pgqueue.jobs WHERE queue LIKE 'q%'"},
      };
      for (String[] cond : conditions) {
        if (cond[1] != null) {
          st.execute(cond[1]);
        }
        st.execute("VACUUM ANALYZE pgqueue.jobs");
        // Flush what loading the condition wrote (up to millions of rows), so that the timings do
        // not overlap a checkpoint the load started.
        st.execute("CHECKPOINT");
        List<Double> claim;
        List<Double> byName;
        List<Double> insert;
        // Each condition on a connection of its own, as a worker whose pool opened its connections
        // on a table of that size: PostgreSQL's choice between a statement's custom and generic
        // plans averages the custom plans' costs over the prepared statement's life, so plans made
        // on the small table kept the claim by name re-planned on the big ones (110 plans in 132
        // calls: 0.53 ms of planning against 0.49 ms of execution). Each statement in a loop of its
        // own: interleaved, THE CLAIM behind the unhandled jobs (15 ms of reading index and heap)
        // slowed the statements timed right after it.
        try (Connection t = DriverManager.getConnection(url, user, password)) {
          t.setAutoCommit(false);
          String when = cond[0];
          claim = timeRolledBack(t, when + ": the claim", 20, i -> raw.claim(t, "bq", "noop", 20, owner).size());
          byName = timeRolledBack(t, when + ": the claim by name", 20,
              i -> raw.claimByName(t, "bq", "noop", 20, owner).size());
          insert = timeRolledBack(t, when + ": the insert", 1, i -> {
            raw.insert(t, "noop", i, false);
            return 1;
          });
        }
        out.put("backlog_" + cond[0] + "_claim_ms", Workload.median(claim));
        out.put("backlog_" + cond[0] + "_by_name_ms", Workload.median(byName));
        out.put("backlog_" + cond[0] + "_insert_ms", Workload.median(insert));
        if (cond[2] != null) {
          st.execute(cond[2]);
        }
      }
      raw.deregisterWorker(c, owner);
      st.execute("DELETE FROM pgqueue.jobs");
      st.execute("VACUUM ANALYZE pgqueue.jobs");

      long churner = raw.registerWorker(c, "churn");
      raw.insertAll(c, "churn", 0, 2_000);
      List<Double> free = churn(c, raw, churner, seconds);
      long freeAfterCursor = raw.claimsAfterCursor("churn");
      List<Double> held;
      try (Connection holder = DriverManager.getConnection(url, user, password); Statement hs = holder.createStatement()) {
        holder.setAutoCommit(false);
        holder.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        hs.executeQuery("SELECT count(*) FROM pgqueue.jobs").close(); // takes the snapshot
        held = churn(c, raw, churner, seconds);
        holder.rollback();
      }
      out.put("backlog_hold_seconds", seconds);
      out.put("backlog_hold_rounds", held.size());
      out.put("backlog_nohold_first_ms", round(tenth(free, false)));
      out.put("backlog_nohold_last_ms", round(tenth(free, true)));
      out.put("backlog_hold_first_ms", round(tenth(held, false)));
      out.put("backlog_hold_last_ms", round(tenth(held, true)));
      List<Double> lastTenth = held.subList(held.size() - Math.max(1, held.size() / 10), held.size());
      out.put("backlog_hold_last_mean_ms", round(lastTenth.stream().mapToDouble(Double::doubleValue).average().orElse(0)));
      out.put("backlog_hold_last_p99_ms", percentile(lastTenth, 99));
      out.put("backlog_nohold_claims_after_cursor", freeAfterCursor);
      out.put("backlog_hold_claims_after_cursor", raw.claimsAfterCursor("churn") - freeAfterCursor);
      st.execute("VACUUM pgqueue.jobs");

      st.execute("INSERT INTO pgqueue.jobs (name, queue, payload, state, discarded_at)"
          + " SELECT 'noop', 'bq', '{}', 'discarded', now() - interval '30 days' - i * interval '1 millisecond'"
          + " FROM generate_series(1, " + (50L * n) + ") i");
      st.execute("VACUUM ANALYZE pgqueue.jobs");
      // As for the conditions above: without it, writing out the load's dirty pages overlapped the
      // spans below (the checkpointer was in 37-58% of their profile samples), unevenly by run.
      st.execute("CHECKPOINT");
      int window = Math.min(seconds, PRUNING_WINDOW_SECONDS);
      // Beside the discarded jobs, and while a worker's own maintenance prunes them (what happens
      // unless someone calls JobQueue.pruneDiscarded), alternating in PRUNING_SPANS spans of each,
      // the order turned each time, the rounds of each kind pooled: measured one span after the
      // other, this machine's drift over the minutes (the p99 beside them ranged over 2.7-6.3 ms
      // in 15-second spans of one run) landed on whichever came second. Each span's pruner is a
      // real Worker on a queue of its own, at its default pace (at most 20 statements of 1,000
      // per heartbeat tick), timed from its first pruned batch: its first tick comes a heartbeat
      // interval after it starts. The first span of each kind prints its profile (wait events of
      // every backend, autovacuum's included), as it ends: where a slower p99 comes from is the
      // finding.
      int span = Math.max(1, window / PRUNING_SPANS);
      List<Double> before = new ArrayList<>();
      List<Double> paced = new ArrayList<>();
      long pacedNanos = 0;
      long pacedPruned = 0; // by the pacers in all, their first batches before the timed rounds too
      long pacedTimedPruned = 0;
      String discarded = "SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'";
      Profile profile = Profile.open(url, user, password);
      for (int s = 0; s < PRUNING_SPANS; s++) {
        for (int k = 0; k < 2; k++) {
          boolean pruning = (k == 0) == (s % 2 == 1);
          if (!pruning) {
            if (s == 0) {
              profile.start();
            }
            List<Double> rounds = churn(c, raw, churner, span);
            before.addAll(rounds);
            if (s == 0) {
              System.out.print(profile.stop("backlog: beside " + (50L * n) + " discarded jobs", 20L * rounds.size()));
            }
            continue;
          }
          List<Double> rounds;
          long first;
          long from;
          long t0;
          long t1;
          try (Worker pacer = Worker.builder(JobQueue.builder(ds).build())
              .queue("bq-pruner", 1)
              .discardedRetention(Duration.ofDays(1))
              .handle(JobType.of("pruner-noop", Map.class), (payload, ctx) -> { })
              .build()) {
            // Pruning takes the oldest first, so the oldest discarded_at moves with its first
            // batch (read through the index; a count of 5,000,000 rows, a parallel scan, is read
            // only outside the timed rounds and their profile).
            Object oldest = value(st, OLDEST_DISCARDED);
            first = count(st, discarded);
            pacer.start();
            long waitUntil = System.nanoTime() + 30_000_000_000L;
            while (oldest != null && java.util.Objects.equals(value(st, OLDEST_DISCARDED), oldest)
                && System.nanoTime() - waitUntil < 0) {
              Thread.sleep(20);
            }
            from = count(st, discarded);
            t0 = System.nanoTime();
            if (s == 0) {
              profile.start();
            }
            rounds = churn(c, raw, churner, span);
            t1 = System.nanoTime();
            if (s == 0) {
              System.out.print(profile.stop("backlog: while a worker's maintenance prunes them", 20L * rounds.size()));
            }
          } // closed: it prunes no more, so the count after is what it pruned
          long after = count(st, discarded);
          pacedNanos += t1 - t0;
          pacedTimedPruned += from - after;
          pacedPruned += first - after;
          paced.addAll(rounds);
        }
      }
      java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
      java.util.concurrent.atomic.AtomicLong pruned = new java.util.concurrent.atomic.AtomicLong();
      java.util.concurrent.atomic.AtomicLong prunedAt = new java.util.concurrent.atomic.AtomicLong();
      long t0 = System.nanoTime();
      Thread pruner = new Thread(() -> {
        try (Connection p = DriverManager.getConnection(url, user, password)) {
          int got;
          do {
            got = raw.pruneDiscarded(p, 0);
            pruned.addAndGet(got);
          } while (got > 0 && !stop.get());
          prunedAt.set(System.nanoTime());
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }, "pruner");
      profile.start();
      pruner.start();
      List<Double> during = churn(c, raw, churner, window);
      System.out.print(profile.stop("backlog: while one session prunes them as fast as it can", 20L * during.size()));
      profile.close();
      stop.set(true);
      pruner.join();
      double pruneSeconds = (prunedAt.get() - t0) / 1e9;
      out.put("backlog_pruning_pruned", pruned.get());
      out.put("backlog_pruning_per_s", Math.round(pruned.get() / pruneSeconds));
      out.put("backlog_before_pruning_p50_ms", percentile(before, 50));
      out.put("backlog_before_pruning_p99_ms", percentile(before, 99));
      out.put("backlog_paced_pruning_pruned", pacedPruned);
      out.put("backlog_paced_pruning_per_s", Math.round(pacedTimedPruned / (pacedNanos / 1e9)));
      out.put("backlog_paced_pruning_p50_ms", percentile(paced, 50));
      out.put("backlog_paced_pruning_p99_ms", percentile(paced, 99));
      out.put("backlog_pruning_p50_ms", percentile(during, 50));
      out.put("backlog_pruning_p99_ms", percentile(during, 99));
      raw.deregisterWorker(c, churner);
    }
    return out;
  }

  private static final String OLDEST_DISCARDED =
      "SELECT min(discarded_at) FROM pgqueue.jobs WHERE state = 'discarded'";

  private static Object value(Statement st, String sql) throws Exception {
    try (java.sql.ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getObject(1);
    }
  }

  private static long count(Statement st, String sql) throws Exception {
    return ((Number) value(st, sql)).longValue();
  }

  /** One timed statement; returns how many jobs it claimed or wrote. */
  private interface Round {
    int run(int i) throws Exception;
  }

  /**
   * Runs {@code round} {@link #WARM_UP} times untimed, then {@link #TIMES} times timed, each
   * rolled back on {@code t} (autocommit off); fails unless each returns {@code expect}. Returns
   * the timed rounds in ms.
   */
  private static List<Double> timeRolledBack(Connection t, String what, int expect, Round round) throws Exception {
    List<Double> times = new ArrayList<>();
    for (int i = 0; i < TIMES + WARM_UP; i++) {
      long t0 = System.nanoTime();
      int got = round.run(i);
      long t1 = System.nanoTime();
      t.rollback();
      if (got != expect) {
        throw new IllegalStateException(what + " took " + got + " of " + expect);
      }
      if (i >= WARM_UP) {
        times.add((t1 - t0) / 1e6);
      }
    }
    return times;
  }

  /**
   * A worker's steady state on one connection for {@code seconds}: each round enqueues 20 jobs
   * (one batch) and times the claim and delete of 20 from the queue's head. Returns the rounds'
   * times in ms, in order.
   */
  private static List<Double> churn(Connection c, BenchAccess.Raw raw, long owner, int seconds) throws Exception {
    List<Double> times = new ArrayList<>();
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    int i = 0;
    while (System.nanoTime() - end < 0) {
      raw.insertAll(c, "churn", i, 20);
      i += 20;
      long t0 = System.nanoTime();
      int got = raw.claimAndCompleteAsAWorker(c, "churn", 20, owner);
      times.add((System.nanoTime() - t0) / 1e6);
      if (got != 20) {
        throw new IllegalStateException("a churn round took " + got + " of 20 jobs");
      }
    }
    return times;
  }

  /** The median of the first (or last) tenth of the rounds. */
  private static double tenth(List<Double> times, boolean last) {
    int k = Math.max(1, times.size() / 10);
    return Workload.median(last ? times.subList(times.size() - k, times.size()) : times.subList(0, k));
  }

  private static double percentile(List<Double> times, double pct) {
    return round(Workload.nearestRank(times.stream().mapToDouble(Double::doubleValue).sorted().toArray(), pct));
  }

  private static double round(double ms) {
    return Math.round(ms * 100) / 100.0;
  }
}
