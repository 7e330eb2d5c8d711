package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The hot statements as PL/pgSQL functions (migrations V010, and V015 for the claims), which pgqueue calls on connections
 * that do not keep server-side prepared statements ({@code prepareThreshold=0}, as behind a
 * transaction-mode pooler), the claims on every connection: they are called there, every hot
 * path works through them with the statements' semantics, and PostgreSQL runs the claim's cached
 * generic plan, an index scan.
 */
@PgQueueTest
class HotPathFunctionsTest {

  record Item(int n, int failTimes) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static DataSource unprepared(TestDatabase db) {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(db.jdbcUrl());
    ds.setUser(db.user());
    if (db.password() != null) {
      ds.setPassword(db.password());
    }
    ds.setPrepareThreshold(0);
    return ds;
  }

  @Test
  void theFunctionsAreCalledOnlyOnConnectionsThatDoNotKeepPreparedStatements(TestDatabase db) throws Exception {
    try (Connection kept = db.dataSource().getConnection();
        Connection notKept = unprepared(db).getConnection()) {
      assertThat(JobStore.unprepared(kept)).isFalse();
      assertThat(JobStore.unprepared(notKept)).isTrue();
    }
  }

  @Test
  void everyHotPathWorksThroughTheFunctions(TestDatabase db) throws Exception {
    db.truncate();
    db.execute("ALTER DATABASE " + db.name() + " SET track_functions = 'all'");
    try {
      DataSource ds = unprepared(db);
      JobQueue queue = JobQueue.create(ds);
      // Single enqueues with and without NOTIFY, a held unique key, bulk with and without keys.
      JobQueue quiet = JobQueue.builder(ds).notify(false).build();
      List<JobId> ids = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        ids.add((i % 2 == 0 ? queue : quiet).enqueue(ITEM, new Item(i, i % 5 == 0 ? 1 : 0)).id());
      }
      EnqueueResult first = queue.enqueue(ITEM, new Item(20, 0), EnqueueOptions.builder().uniqueKey("k").build());
      EnqueueResult again = queue.enqueue(ITEM, new Item(20, 0), EnqueueOptions.builder().uniqueKey("k").build());
      assertThat(first.duplicate()).isFalse();
      assertThat(again.duplicate()).isTrue();
      assertThat(again.id()).isEqualTo(first.id());
      List<EnqueueResult> bulk = queue.enqueueAll(ITEM, IntStream.range(21, 121).mapToObj(n -> new Item(n, 0)).toList());
      assertThat(bulk).extracting(EnqueueResult::duplicate).containsOnly(false);
      assertThat(bulk.stream().map(r -> r.id().value()).toList()).isSorted().doesNotHaveDuplicates();
      List<EnqueueResult> quietBulk = quiet.enqueueAll(ITEM, List.of(new Item(121, 0), new Item(122, 0)));
      assertThat(quietBulk).hasSize(2);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(123);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE id = " + bulk.get(0).id().value()
          + " AND payload = '{\"n\": 21, \"failTimes\": 0}'")).isEqualTo(1);

      // A limited queue: the controlled claim in one function.
      queue.setConcurrencyLimit("limited", 3);
      queue.enqueueAll(ITEM, IntStream.range(0, 30).mapToObj(n -> new Item(1_000 + n, 0)).toList(),
          EnqueueOptions.builder().queue("limited").build());
      // A rate-limited queue and a keyed one: the function hands them back ("CONTROLS") and the
      // statements claim them in the same transaction, which already holds the control row.
      queue.setRateLimit("rated", RateLimit.of(1_000, Duration.ofSeconds(1)));
      queue.enqueueAll(ITEM, IntStream.range(0, 10).mapToObj(n -> new Item(2_000 + n, 0)).toList(),
          EnqueueOptions.builder().queue("rated").build());
      queue.setKeyConcurrencyLimit("keyed", 1);
      for (int n = 0; n < 10; n++) {
        queue.enqueue(ITEM, new Item(3_000 + n, 0),
            EnqueueOptions.builder().queue("keyed").concurrencyKey("k" + (n % 3)).build());
      }

      Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
      AtomicInteger limitedNow = new AtomicInteger();
      AtomicInteger limitedMax = new AtomicInteger();
      Worker worker = Worker.builder(ds)
          .queue("default", 8)
          .queue("limited", 8)
          .queue("rated", 4)
          .queue("keyed", 4)
          .backoff(Backoff.fixed(Duration.ofMillis(20)))
          .handle(ITEM, (item, ctx) -> {
            boolean limited = item.n() >= 1_000 && item.n() < 2_000;
            if (limited) {
              limitedMax.accumulateAndGet(limitedNow.incrementAndGet(), Math::max);
            }
            try {
              if (runs.computeIfAbsent(item.n(), k -> new AtomicInteger()).incrementAndGet() <= item.failTimes()) {
                throw new IllegalStateException("planned failure of " + item.n());
              }
              if (limited) {
                Thread.sleep(5);
              }
            } finally {
              if (limited) {
                limitedNow.decrementAndGet();
              }
            }
          })
          .build();
      worker.start();
      try {
        await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      } finally {
        worker.close();
      }
      assertThat(runs).hasSize(173);
      assertThat(runs.get(0)).as("failed once (settle_v1), then succeeded (complete_v1)").hasValue(2);
      assertThat(runs.get(1)).hasValue(1);
      assertThat(limitedMax.get()).as("the global limit held").isBetween(1, 3);

      // Each function was called (statistics are flushed when a backend goes idle, so wait).
      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        for (String f : List.of("claim_v2", "claim_controlled_v3", "complete_v1", "settle_v1", "enqueue_v2",
            "enqueue_all_v1")) {
          assertThat(db.queryLong("SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions"
              + " WHERE schemaname = 'pgqueue' AND funcname = '" + f + "'")).as(f).isPositive();
        }
      });
    } finally {
      db.execute("ALTER DATABASE " + db.name() + " RESET track_functions");
    }
  }

  /**
   * What runs is the generic plan PostgreSQL cached for the function's statement: auto_explain
   * (nested statements, sent to this client as LOG messages) prints the claim's plan on every call,
   * and on every call the queue is a parameter ({@code $1}), never the constant: an index scan of
   * jobs_fetch_idx in claim order with no sort, and the claimed rows updated through the primary
   * key, on a backlog of 5,000 after ANALYZE. Left to
   * choose, PostgreSQL would plan the claim anew on every call (custom plans, the queue as a
   * constant); the function's {@code plan_cache_mode} setting prevents that and is restored when
   * it returns, while the claim's asynchronous commit stays for the caller's transaction.
   */
  @Test
  void theClaimRunsTheCachedGenericPlanOfItsFunction(TestDatabase db) throws Exception {
    db.truncate();
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, run_at)
        SELECT 'item', 'q' || (g % 5), '{}', now() - interval '1 second'
        FROM generate_series(1, 5000) g
        """);
    db.execute("ANALYZE pgqueue.jobs");
    Sql sql = new Sql(Migrator.DEFAULT_SCHEMA);
    try (Connection c = unprepared(db).getConnection()) {
      long owner = registerWorker(c);
      explainToClient(c, false);
      List<String> claimPlans = new ArrayList<>();
      for (int call = 1; call <= 10; call++) {
        try (PreparedStatement ps = c.prepareStatement(sql.claimFn)) {
          ps.setString(1, "q1");
          ps.setArray(2, c.createArrayOf("text", new String[] {"item"}));
          ps.setLong(3, owner);
          ps.setInt(4, 5);
          ps.setLong(5, call);
          int claimed = 0;
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              claimed++;
            }
          }
          assertThat(claimed).isEqualTo(5);
          assertThat(show(c, "plan_cache_mode")).as("restored after the call").isEqualTo("auto");
          List<String> logged = plans(ps.getWarnings());
          claimPlans.add(logged.stream().filter(p -> p.contains("LockRows")).findFirst()
              .orElseThrow(() -> new AssertionError("no plan of the claim's statement in " + logged)));
        }
      }
      for (String plan : claimPlans) {
        assertThat(plan).as("generic plan").contains("queue = $1").doesNotContain("'q1'")
            .contains("Index Scan using jobs_fetch_idx").contains("Index Scan using jobs_pkey")
            .doesNotContain("Sort").doesNotContain("Seq Scan");
      }
    }
  }

  /**
   * A function's generic plan is made at a backend's first call from the statistics of that moment
   * and kept until they change. The claim functions plan the same whatever those said: statistics
   * taken while the queue held only discarded rows (claim_v1 then joined the claimed rows to their
   * own array in a nested loop, one walk of the n ids for each of the n rows: 9.4 ms instead of 1.5
   * ms for 100 jobs on PostgreSQL 15), or a plan made while the table held three rows (claim_v1 then
   * kept scanning the whole table for the update once it had grown). Each case is first shown on
   * claim_v1, so the setup is known to produce the plan it guards against.
   */
  @Test
  void theClaimFunctionsPlanWellFromStaleStatistics(TestDatabase db) throws Exception {
    // The statistics stay as the test made them: no autovacuum ANALYZE in between.
    db.execute("ALTER TABLE pgqueue.jobs SET (autovacuum_enabled = false)");
    try {
      for (String fn : List.of("claim_v1", "claim_v2", "claim_controlled_v3")) {
        // Statistics from a table of discarded rows, then 20,000 available ones.
        db.truncate();
        db.execute("""
            INSERT INTO pgqueue.jobs (name, queue, payload, state, discarded_at)
            SELECT 'item', 'q1', '{}', 'discarded', now() FROM generate_series(1, 20000)
            """);
        db.execute("ANALYZE pgqueue.jobs");
        db.execute("DELETE FROM pgqueue.jobs");
        db.execute("""
            INSERT INTO pgqueue.jobs (name, queue, payload, run_at)
            SELECT 'item', 'q1', '{}', now() - interval '1 second' FROM generate_series(1, 20000)
            """);
        String update = claimUpdatePlan(db, fn, 0);
        if (fn.equals("claim_v1")) {
          assertThat(update).as("claim_v1: the defect").contains("Nested Loop").contains("loops=100)");
        } else {
          assertThat(update).as(fn).contains("Index Scan using jobs_pkey").contains("id = ANY")
              .doesNotContain("loops=100)").doesNotContain("Nested Loop").doesNotContain("Hash Join");
        }
        // A plan made on a table of three rows, used after 20,000 more arrived.
        db.truncate();
        db.execute("ANALYZE pgqueue.jobs");
        db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
            + " SELECT 'item', 'q1', '{}', now() - interval '1 second' FROM generate_series(1, 3)");
        update = claimUpdatePlan(db, fn, 20_000);
        if (fn.equals("claim_v1")) {
          assertThat(update).as("claim_v1: the defect").contains("Seq Scan on jobs");
        } else {
          assertThat(update).as(fn).doesNotContain("Seq Scan").contains("Index Scan using jobs_pkey");
        }
      }
    } finally {
      db.execute("ALTER TABLE pgqueue.jobs RESET (autovacuum_enabled)");
    }
  }

  /**
   * THE CLAIM as a prepared statement keeps the generic plan PostgreSQL made at its sixth execution
   * on a connection until the table's statistics change. Made while the queue held a few rows, that
   * plan reads and sorts the whole queue and scans the table for the update once the queue has
   * grown (20,000 jobs: 30-40 ms a claim of 100 instead of about 2 ms, PostgreSQL 15); a worker that
   * idled on a near-empty queue meets a sudden backlog with it, until autovacuum next analyzes the
   * table. Shown first on the statement, so the setup is known to produce that plan; a worker's
   * claim calls {@code claim_v2} instead, on every connection, whose plan stays an index walk
   * ({@link #theClaimFunctionsPlanWellFromStaleStatistics}).
   */
  @Test
  void aWorkersClaimCallsClaimV2OnConnectionsThatKeepPreparedStatementsToo(TestDatabase db) throws Exception {
    db.execute("ALTER TABLE pgqueue.jobs SET (autovacuum_enabled = false)");
    try (Connection c = db.dataSource().getConnection()) {
      assertThat(JobStore.unprepared(c)).isFalse();
      db.truncate();
      db.execute("ANALYZE pgqueue.jobs");
      long owner = registerWorker(c);
      Sql sql = new Sql(Migrator.DEFAULT_SCHEMA);
      explainToClient(c, false);
      String plan = null;
      for (int call = 1; call <= 12; call++) {
        db.execute("DELETE FROM pgqueue.jobs");
        db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at) SELECT 'item', 'q1', '{}',"
            + " now() - interval '1 second' FROM generate_series(1, " + (call < 12 ? 3 : 20_000) + ")");
        try (PreparedStatement ps = c.prepareStatement(sql.claim)) {
          ps.setString(1, "q1");
          ps.setArray(2, c.createArrayOf("text", new String[] {"item"}));
          ps.setLong(3, owner);
          ps.setInt(4, 100);
          ps.setLong(5, owner);
          ps.setLong(6, call);
          int claimed = 0;
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              claimed++;
            }
          }
          assertThat(claimed).isEqualTo(call < 12 ? 3 : 100);
          List<String> logged = plans(ps.getWarnings());
          plan = logged.stream().filter(p -> p.contains("Update on jobs")).findFirst()
              .orElseThrow(() -> new AssertionError("no plan of the claim in " + logged));
        }
      }
      assertThat(plan).as("the prepared statement's plan, made on three rows: the defect")
          .contains("Seq Scan on jobs").contains("Sort");

      // The worker's claim on the same connection: claim_v2, counted in this transaction.
      try (Statement st = c.createStatement()) {
        st.execute("SET client_min_messages = notice");
        st.execute("SET track_functions = 'pl'");
      }
      c.setAutoCommit(false);
      JobStore store = new JobStore(sql);
      int claimed = 0;
      for (int call = 1; call <= 3; call++) {
        claimed += store.claim(c, "q1", new String[] {"item"}, 100, owner, 100 + call).size();
      }
      assertThat(claimed).isEqualTo(300);
      assertThat(longValue(c, "SELECT pg_stat_get_xact_function_calls("
          + "'pgqueue.claim_v2(text, text[], bigint, integer, bigint)'::regprocedure)")).isEqualTo(3);
      c.rollback();
    } finally {
      db.execute("ALTER TABLE pgqueue.jobs RESET (autovacuum_enabled)");
    }
  }

  /**
   * The other claims had THE CLAIM's defect ({@link
   * #aWorkersClaimCallsClaimV2OnConnectionsThatKeepPreparedStatementsToo}): as prepared statements,
   * each kept a generic plan made while the queue held a few rows and read the whole queue with it
   * once the queue had grown (on PostgreSQL 15, a claim of 100 among 200,000 jobs: the cursor claim
   * 130 ms, the claim by name 30-165 ms, the keyed claims 75-100 ms and once 2.3 s, against 7-12 ms
   * once analyzed). Each claim here is run the way a worker runs it, on a connection that keeps
   * prepared statements, eleven times on a queue of three jobs and then once on 20,000: that last
   * claim reads no row of the table sequentially (its plan is an index walk) and no more than a
   * few entries of the primary key per job. The cursor claim and the claim by name call their
   * functions (V016), planned as claim_v2; the keyed claims run after the control row's lock, which
   * turns sequential and bitmap scans off for the transaction, and lock and update their rows by
   * primary key from the array of their ids alone. Each form runs twice: on statistics of an empty
   * table, and on those of a drained one (its pages kept, one live row in them), the state of a
   * queue that has just been worked off. Before the keyed claims found their rows by primary key
   * alone, they read 40,000 entries of jobs_pkey on the drained table (a walk of the whole key, for
   * the lock and again for the update) and 10,000 on the other (the update's nested loop read the
   * array once per claimed row), on PostgreSQL 18 and 15.
   */
  @Test
  void everyClaimKeepsAnIndexWalkWhenTheQueueOutgrowsItsStatistics(TestDatabase db) throws Exception {
    db.execute("ALTER TABLE pgqueue.jobs SET (autovacuum_enabled = false)");
    List<String> scanned = new ArrayList<>();
    try {
      for (String form : List.of("cursor", "by name", "key limit", "key fair", "key fair and limit")) {
        for (boolean drained : new boolean[] {false, true}) {
          db.truncate();
          db.execute("DELETE FROM pgqueue.queue_controls");
          if (drained) {
            // A queue that has drained: the table keeps its pages (one live row at the end stops
            // vacuum from truncating them) and the statistics say they hold one row.
            db.execute("INSERT INTO pgqueue.jobs (name, queue, payload) SELECT 'item', 'filler', '{}'"
                + " FROM generate_series(1, 20000)");
            db.execute("DELETE FROM pgqueue.jobs WHERE id < (SELECT max(id) FROM pgqueue.jobs)");
            db.execute("VACUUM ANALYZE pgqueue.jobs");
          } else {
            db.execute("ANALYZE pgqueue.jobs");
          }
          String control = keyControl(form);
          if (control != null) {
            db.execute("INSERT INTO pgqueue.queue_controls (queue, " + control);
          }
          try (Connection c = db.dataSource().getConnection()) {
            assertThat(JobStore.unprepared(c)).isFalse();
            long owner = registerWorker(c);
            JobStore store = new JobStore(new Sql(Migrator.DEFAULT_SCHEMA));
            c.setAutoCommit(false);
            String seqRead = "SELECT seq_tup_read FROM pg_stat_xact_user_tables WHERE relid = 'pgqueue.jobs'::regclass";
            String pkRead = "SELECT pg_stat_get_xact_tuples_returned('pgqueue.jobs_pkey'::regclass)";
            for (int call = 1; call <= 12; call++) {
              db.execute("DELETE FROM pgqueue.jobs");
              db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at, concurrency_key)"
                  + " SELECT 'item', 'q1', '{}', now() - interval '1 second', "
                  + (control != null ? "'k' || (i % 1000)" : "NULL")
                  + " FROM generate_series(1, " + (call < 12 ? 3 : 20_000) + ") i");
              // The backend's counters not yet reported may hold earlier transactions' reads too.
              long before = longValue(c, seqRead);
              long pkBefore = longValue(c, pkRead);
              int claimed = switch (form) {
                case "cursor" -> store.claimAfter(c, "q1", new String[] {"item"}, 100, owner, call,
                    new ClaimCursor.Position(0, java.time.Instant.EPOCH, 0)).size();
                case "by name" -> store.claim(c, "q1", new String[] {"item"}, 100, owner, call, true).size();
                default -> store.claimControlled(c, "q1", new String[] {"item"}, 100, owner, call).jobs().size();
              };
              assertThat(claimed).as(form + " call " + call).isEqualTo(call < 12 ? 3 : 100);
              if (call == 12) {
                long read = longValue(c, seqRead) - before;
                if (read > 0) {
                  scanned.add(form + (drained ? " (drained)" : "") + ": " + read + " rows read sequentially");
                }
                // A claim of 100 looks up its rows by primary key; a walk of the whole key is 20,000.
                long pk = longValue(c, pkRead) - pkBefore;
                if (pk > 1_000) {
                  scanned.add(form + (drained ? " (drained)" : "") + ": " + pk + " entries of jobs_pkey read");
                }
              }
              c.commit();
            }
          }
        }
      }
    } finally {
      db.execute("ALTER TABLE pgqueue.jobs RESET (autovacuum_enabled)");
    }
    assertThat(scanned).as("claims whose plan read the table").isEmpty();
  }

  /**
   * A queue with a backlog in a table that also holds many jobs of other queues and names: the
   * generic plan of a claim function costs {@code queue = $1 AND name = ANY($2)} as a few hundred
   * rows (each queue's share of the table, each name's share of that), so without more it read all
   * of the queue's due jobs through jobs_name_fetch_idx and sorted them (PostgreSQL 15, a claim of
   * 20 behind 100,000 due jobs among 1,000,000 of 100 other queues: 43-54 ms instead of 0.6). The
   * claims from the head and from a cursor are planned with sorts off, so they walk
   * jobs_fetch_idx in claim order and read about as many entries as they claim.
   */
  @Test
  void theClaimWalksTheQueueInClaimOrderAmongManyQueuesAndNames(TestDatabase db) throws Exception {
    db.truncate();
    db.execute("DELETE FROM pgqueue.queue_controls");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at) SELECT 'item', 'q1', '{}',"
        + " now() - interval '1 hour' + i * interval '10 microseconds' FROM generate_series(1, 5000) i");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload) SELECT 'n' || (i % 200), 'other' || (i % 100), '{}'"
        + " FROM generate_series(1, 100000) i");
    db.execute("ANALYZE pgqueue.jobs");
    List<String> sorted = new ArrayList<>();
    try {
      for (String form : List.of("head", "cursor", "global limit")) {
        if (form.equals("global limit")) {
          db.execute("INSERT INTO pgqueue.queue_controls (queue, max_running) VALUES ('q1', 1000000)");
        }
        sorted.addAll(readsByName(db, form, 3, (store, c, owner, call) -> switch (form) {
          case "head" -> store.claim(c, "q1", new String[] {"item"}, 20, owner, call).size();
          case "cursor" -> store.claimAfter(c, "q1", new String[] {"item"}, 20, owner, call,
              new ClaimCursor.Position(0, java.time.Instant.EPOCH, 0)).size();
          default -> store.claimControlledAtOnce(c, "q1", new String[] {"item"}, 20, owner, call,
              JobStore.Finished.NONE).jobs().size();
        }));
      }
    } finally {
      db.execute("DELETE FROM pgqueue.queue_controls");
    }
    assertThat(sorted).as("claims that read the queue by name and sorted it").isEmpty();
  }

  /**
   * {@link #theClaimWalksTheQueueInClaimOrderAmongManyQueuesAndNames} for the keyed claims (per-key
   * limit, fairness, both, and a per-key rate limit): their candidate window is read in fetch
   * order from jobs_fetch_idx (fairness off) or jobs_key_fetch_idx (fairness on), at most a window's
   * worth of entries, never the queue's whole backlog through jobs_name_fetch_idx and a sort. Seven
   * calls per connection, so a connection that keeps prepared statements has had the chance to
   * switch to a generic plan. Before migration 17's statistics on (queue, name), every form read all
   * 5,000 of the queue's entries by name on every call (PostgreSQL 18 and 15), prepared or not: the
   * planner multiplied the queue's share of the table by the name's and estimated about 240 rows.
   */
  @Test
  void theKeyedClaimsWalkTheQueueInFetchOrderAmongManyQueuesAndNames(TestDatabase db) throws Exception {
    db.truncate();
    db.execute("DELETE FROM pgqueue.queue_controls");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at, concurrency_key, key_rank)"
        + " SELECT 'item', 'q1', '{}', now() - interval '1 hour' + i * interval '10 microseconds', 'k' || (i % 500), i / 500"
        + " FROM generate_series(1, 5000) i");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, concurrency_key, key_rank)"
        + " SELECT 'n' || (i % 200), 'other' || (i % 100), '{}', 'k' || (i % 500), i / 50000 FROM generate_series(1, 100000) i");
    db.execute("ANALYZE pgqueue.jobs");
    List<String> sorted = new ArrayList<>();
    try {
      for (String form : List.of("key limit", "key fair", "key fair and limit", "key rate")) {
        db.execute("DELETE FROM pgqueue.queue_controls");
        db.execute("INSERT INTO pgqueue.queue_controls (queue, " + keyControl(form));
        sorted.addAll(readsByName(db, form, 7, (store, c, owner, call) ->
            store.claimControlled(c, "q1", new String[] {"item"}, 20, owner, call, form.equals("key rate"), false)
                .jobs().size()));
      }
    } finally {
      db.execute("DELETE FROM pgqueue.queue_controls");
    }
    assertThat(sorted).as("keyed claims that read the queue by name and sorted it").isEmpty();
  }

  /** The columns and values of q1's control row for a keyed claim form, or null for another form. */
  private static String keyControl(String form) {
    return switch (form) {
      case "key limit" -> "key_max_running) VALUES ('q1', 5)";
      case "key fair" -> "key_fair) VALUES ('q1', true)";
      case "key fair and limit" -> "key_fair, key_max_running) VALUES ('q1', true, 3)";
      case "key rate" -> "key_rate_limit, key_rate_period_ms, key_rate_burst) VALUES ('q1', 100, 1000, 10)";
      default -> null;
    };
  }

  /** A claim of 20 jobs of q1 as a worker makes it; returns how many it claimed. */
  private interface ClaimOf20 {
    int claim(JobStore store, Connection c, long owner, long token) throws java.sql.SQLException;
  }

  /**
   * Runs {@code claim} {@code calls} times on a connection that keeps prepared statements and on
   * one that does not, each call rolled back; returns a line for each call that read entries of
   * jobs_name_fetch_idx.
   */
  private static List<String> readsByName(TestDatabase db, String form, int calls, ClaimOf20 claim)
      throws java.sql.SQLException {
    List<String> sorted = new ArrayList<>();
    for (boolean prepared : new boolean[] {true, false}) {
      try (Connection c = (prepared ? db.dataSource() : unprepared(db)).getConnection()) {
        long owner = registerWorker(c);
        JobStore store = new JobStore(new Sql(Migrator.DEFAULT_SCHEMA));
        c.setAutoCommit(false);
        String readByName = "SELECT pg_stat_get_xact_tuples_returned('pgqueue.jobs_name_fetch_idx'::regclass)";
        for (int call = 1; call <= calls; call++) {
          // The backend's counters not yet reported may hold earlier transactions' reads too.
          long before = longValue(c, readByName);
          assertThat(claim.claim(store, c, owner, call)).as(form).isEqualTo(20);
          long read = longValue(c, readByName) - before;
          if (read > 0) {
            sorted.add(form + (prepared ? "" : " (prepareThreshold=0)") + " call " + call + ": "
                + read + " entries of jobs_name_fetch_idx read");
          }
          c.rollback();
        }
      }
    }
    return sorted;
  }

  private static long longValue(Connection c, String query) throws java.sql.SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(query)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Calls {@code fn} twice on one backend for 100 jobs of queue q1 (the plan is made at the first
   * call), enqueueing {@code grow} more jobs between the calls; returns the plan auto_explain
   * printed for the second call's claim statement.
   */
  private static String claimUpdatePlan(TestDatabase db, String fn, int grow) throws Exception {
    try (Connection c = unprepared(db).getConnection()) {
      long owner = registerWorker(c);
      boolean controlled = fn.startsWith("claim_controlled");
      if (controlled) {
        db.execute("INSERT INTO pgqueue.queue_controls (queue, max_running) VALUES ('q1', 1000000)"
            + " ON CONFLICT (queue) DO UPDATE SET max_running = 1000000");
      }
      String sqlCall = "SELECT * FROM pgqueue." + fn + "('q1', '{item}', " + owner + ", 100, ?"
          + (controlled ? ", '{}', '{}')" : ")");
      explainToClient(c, true);
      String plan = null;
      for (int call = 1; call <= 2; call++) {
        if (call == 2 && grow > 0) {
          db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at) SELECT 'item', 'q1', '{}',"
              + " now() - interval '1 second' FROM generate_series(1, " + grow + ")");
        }
        try (PreparedStatement ps = c.prepareStatement(sqlCall)) {
          ps.setLong(1, call);
          int claimed = 0;
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              claimed++;
            }
          }
          assertThat(claimed).as(fn + " call " + call).isEqualTo(call == 1 && grow > 0 ? 3 : 100);
          List<String> logged = plans(ps.getWarnings());
          plan = logged.stream().filter(p -> p.contains("Update on jobs")).findFirst()
              .orElseThrow(() -> new AssertionError("no plan of the claim's statement in " + logged));
        }
      }
      if (controlled) {
        db.execute("DELETE FROM pgqueue.queue_controls");
      }
      // The update's part of the plan: from the node that updates jobs on.
      return plan.substring(plan.indexOf("Update on jobs"));
    }
  }

  @Test
  void theClaimsAsynchronousCommitOutlivesTheFunctionCallWithinItsTransaction(TestDatabase db) throws Exception {
    db.truncate();
    Sql sql = new Sql(Migrator.DEFAULT_SCHEMA);
    try (Connection c = unprepared(db).getConnection()) {
      try (Statement st = c.createStatement()) {
        st.execute("SET synchronous_commit = on"); // the test server may run with it off
      }
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement(sql.claimFn)) {
        ps.setString(1, "q1");
        ps.setArray(2, c.createArrayOf("text", new String[] {"item"}));
        ps.setLong(3, 1);
        ps.setInt(4, 5);
        ps.setLong(5, 1);
        ps.executeQuery().close();
      }
      assertThat(show(c, "synchronous_commit")).isEqualTo("off");
      c.commit();
      assertThat(show(c, "synchronous_commit")).as("for that transaction only").isEqualTo("on");
    }
  }

  /**
   * The single enqueue calls enqueue_v2 (migration V012): enqueue_v1's body word for word, without
   * its plan_cache_mode setting (a SET clause is saved, set and restored on every call; an INSERT
   * of one row has one plan anyway). enqueue_v1 stays for processes of the previous release.
   */
  @Test
  void theSingleEnqueueFunctionIsEnqueueV1WithoutItsSetting(TestDatabase db) throws Exception {
    assertThat(new Sql("pgqueue").enqueueFn).contains("pgqueue.enqueue_v2(");
    try (Connection c = db.dataSource().getConnection();
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT p.proname, p.proconfig, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                + " WHERE n.nspname = 'pgqueue' AND p.proname IN ('enqueue_v1', 'enqueue_v2') ORDER BY p.proname")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(2)).as("enqueue_v1's setting").isEqualTo("{plan_cache_mode=force_generic_plan}");
      String v1 = rs.getString(3);
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("enqueue_v2");
      assertThat(rs.getString(2)).as("enqueue_v2's settings").isNull();
      assertThat(rs.getString(3)).as("enqueue_v2's body").isEqualTo(v1);
    }
  }

  /**
   * Two constants of the code are written into the functions' bodies: when either changes, the
   * functions must be added again under new names (docs/schema.md, "Functions").
   */
  @Test
  void theFunctionsCarryTheCodesConstants() {
    String v010 = Migrator.script("pgqueue", 9);
    assertThat(v010).contains("jsonb_array_length(j.errors) >= " + JobError.KEPT_PER_JOB + " THEN")
        .contains("coalesce(w.stale_after_ms, " + Worker.DEFAULT_STALE_AFTER.toMillis() + ")")
        .doesNotContainPattern("(?m)^\\s*EXCEPTION\\b").doesNotContain("CREATE OR REPLACE");
    String v015 = Migrator.script("pgqueue", 14);
    assertThat(v015).contains("claim_v2(").contains("claim_controlled_v3(")
        .contains("jsonb_array_length(j.errors) >= " + JobError.KEPT_PER_JOB + " THEN")
        .contains("coalesce(w.stale_after_ms, " + Worker.DEFAULT_STALE_AFTER.toMillis() + ")");
    String v016 = Migrator.script("pgqueue", 15);
    assertThat(v016).contains("claim_after_v1(").contains("claim_by_name_v1(")
        .contains("jsonb_array_length(j.errors) >= " + JobError.KEPT_PER_JOB + " THEN")
        .contains("coalesce(w.stale_after_ms, " + Worker.DEFAULT_STALE_AFTER.toMillis() + ")")
        .doesNotContainPattern("(?m)^\\s*EXCEPTION\\b").doesNotContain("CREATE OR REPLACE");
  }

  private static String show(Connection c, String setting) throws java.sql.SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }

  /** A worker row for queue q1 and job name item; returns its id. */
  private static long registerWorker(Connection c) throws java.sql.SQLException {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("INSERT INTO pgqueue.workers (host, pid, queues, job_names)"
            + " VALUES ('test', 1, '{q1}', '{item}') RETURNING id")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Has auto_explain send this session's plans, nested statements included, to the client as LOG
   * messages; with {@code analyze}, with the rows and loops each node ran (without timings).
   */
  private static void explainToClient(Connection c, boolean analyze) throws java.sql.SQLException {
    try (Statement st = c.createStatement()) {
      st.execute("LOAD 'auto_explain'");
      st.execute("SET auto_explain.log_min_duration = 0");
      st.execute("SET auto_explain.log_nested_statements = on");
      if (analyze) {
        st.execute("SET auto_explain.log_analyze = on");
        st.execute("SET auto_explain.log_timing = off");
      }
      st.execute("SET client_min_messages = log");
    }
  }

  /** The texts of the LOG messages auto_explain sent this client. */
  private static List<String> plans(SQLWarning w) {
    List<String> out = new ArrayList<>();
    for (; w != null; w = w.getNextWarning()) {
      out.add(w.getMessage());
    }
    return out;
  }
}
