package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * THE CLAIM BY NAME (Sql#claimByName): the claim a worker switches to while its queue holds many
 * due jobs of names it does not handle. It must take exactly what THE CLAIM takes (the same jobs,
 * in the same order, with the same guards), and its cost must not grow with the jobs of other
 * names: it reads each handled name's head through jobs_name_fetch_idx and never visits a row of
 * another name (checked on the plan's row counts, not on time).
 */
@PgQueueTest
class ClaimByNameTest {

  record Item(int n) {}

  static final JobType<Item> A = JobType.of("a", Item.class);
  static final JobType<Item> B = JobType.of("b", Item.class);
  static final JobType<Item> C = JobType.of("c", Item.class);
  static final String[] HANDLED = {"a", "b", "c"};

  TestDatabase db;
  JobQueue queue;
  final JobStore store = new JobStore(new Sql("pgqueue"));
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @AfterEach
  void stopWorkers() {
    workers.forEach(Worker::close);
  }

  long register(Connection c) throws Exception {
    return store.registerWorker(c, "test", 1, new String[] {"default"}, new Integer[] {1}, HANDLED, 100, 30_000);
  }

  /** Due jobs of a, b, c and of the unhandled name "ghost", with mixed priorities and run times. */
  void mixedBacklog() {
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, priority, run_at)
        SELECT (ARRAY['a', 'b', 'c', 'ghost'])[1 + i % 4], 'default', '{"n": 0}', (i * 7) % 3,
               now() - interval '1 hour' + ((i * 13) % 50) * interval '1 second'
        FROM generate_series(1, 400) i
        """);
    // A job due later, and one of another queue: neither claim may take them.
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, priority, run_at) VALUES"
        + " ('a', 'default', '{}', 9, now() + interval '1 hour'), ('a', 'other', '{}', 9, now() - interval '2 hours')");
    db.execute("ANALYZE pgqueue.jobs");
  }

  List<Long> claimIds(Connection c, boolean byName, int limit, long owner, long token) throws Exception {
    List<Long> ids = new ArrayList<>();
    for (ClaimedJob j : store.claim(c, "default", HANDLED, limit, owner, token, byName)) {
      ids.add(j.id());
    }
    return ids;
  }

  @Test
  void takesTheSameJobsInTheSameOrderAsTheClaim() throws Exception {
    mixedBacklog();
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      c.setAutoCommit(false);
      for (int limit : new int[] {1, 7, 20, 150, 400}) {
        List<Long> ordinary = claimIds(c, false, limit, me, 1);
        c.rollback();
        List<Long> byName = claimIds(c, true, limit, me, 2);
        c.rollback();
        // RETURNING's row order is the update's, not the claim order (the fetcher sorts a batch).
        assertThat(byName).as("limit " + limit).hasSize(Math.min(limit, 300)).containsExactlyInAnyOrderElementsOf(ordinary);
      }
    }
  }

  @Test
  void walksPastRowsAnotherClaimHoldsAndTakesAFullBatch() throws Exception {
    mixedBacklog();
    try (Connection first = db.dataSource().getConnection(); Connection second = db.dataSource().getConnection()) {
      long me = register(first);
      first.setAutoCommit(false);
      second.setAutoCommit(false);
      List<Long> held = claimIds(first, false, 30, me, 1); // uncommitted: its rows stay locked
      List<Long> taken = claimIds(second, true, 30, me, 2);
      assertThat(taken).hasSize(30).doesNotContainAnyElementsOf(held);
      first.rollback();
      second.rollback();
    }
  }

  @Test
  void discardsAnAvailableRowWithNoAttemptLeftAndRefusesAStaleOwner() throws Exception {
    JobId bad = queue.enqueue(A, new Item(1), EnqueueOptions.builder().maxAttempts(3).priority(5).build()).id();
    JobId good = queue.enqueue(B, new Item(2)).id();
    db.execute("UPDATE pgqueue.jobs SET attempt = max_attempts WHERE id = " + bad.value());
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      db.execute("UPDATE pgqueue.workers SET heartbeat_at = now() - interval '1 minute' WHERE id = " + me);
      assertThat(claimIds(c, true, 10, me, 1)).as("an owner older than half its threshold").isEmpty();
      db.execute("UPDATE pgqueue.workers SET heartbeat_at = now() WHERE id = " + me);
      assertThat(claimIds(c, true, 10, me, 2)).containsExactly(good.value());
    }
    JobInfo row = queue.find(bad).orElseThrow();
    assertThat(row.state()).isEqualTo(JobState.DISCARDED);
    assertThat(row.errors()).last().satisfies(e -> assertThat(e.message()).contains("no attempt left"));
    assertThat(queue.find(good).orElseThrow().lockedBy()).isNotNull();
  }

  @Test
  void neverVisitsARowOfAnotherName() throws Exception {
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
        + " SELECT 'ghost', 'default', '{}', now() - interval '2 hours' + i * interval '1 millisecond'"
        + " FROM generate_series(1, 20000) i");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
        + " SELECT (ARRAY['a', 'b'])[1 + i % 2], 'default', '{}', now() - interval '1 hour' FROM generate_series(1, 100) i");
    db.execute("VACUUM ANALYZE pgqueue.jobs");
    Sql sql = new Sql("pgqueue");
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      // (THE CLAIM's plan on a table this small may sort the 100 handled rows instead of walking
      // the queue in claim order; on a large one it walks, and filters the ghost rows one by one.)
      assertThat(rowsRead(c, sql.claimByName, me)).as("the claim by name reads the handled names' heads only")
          .isLessThan(200);
    }
  }

  @Test
  void theCheckReadsAnEntryPerNameAndTheCountedJobsNotTheWholeBacklog() throws Exception {
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
        + " SELECT (ARRAY['a', 'ghost'])[1 + (i % 2)], 'default', '{}', now() - interval '1 hour' + i * interval '1 millisecond'"
        + " FROM generate_series(1, 60000) i");
    db.execute("VACUUM ANALYZE pgqueue.jobs");
    Sql sql = new Sql("pgqueue");
    try (Connection c = db.dataSource().getConnection()) {
      for (String mode : List.of("force_custom_plan", "force_generic_plan")) {
        c.setAutoCommit(false);
        try (Statement st = c.createStatement();
            java.sql.PreparedStatement ps = c.prepareStatement("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql.foreignJobs)) {
          st.execute("SET LOCAL plan_cache_mode = " + mode);
          ps.setString(1, "default");
          ps.setArray(2, c.createArrayOf("text", HANDLED));
          ps.setInt(3, 1_000);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            String plan = rs.getString(1);
            // The root node's buffers include its children's. Three skip steps (a, ghost, the
            // end) and the 1,000 ghost jobs counted fill a few dozen pages; joined to its
            // arguments, the first step read every available entry of the queue (60,000, some
            // 300 pages) to sort them.
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"Shared Hit Blocks\": (\\d+),\\s*"
                + "\"Shared Read Blocks\": (\\d+)").matcher(plan);
            assertThat(m.find()).as(plan).isTrue();
            assertThat(Long.parseLong(m.group(1)) + Long.parseLong(m.group(2))).as("pages read, " + mode).isLessThan(100);
          }
        } finally {
          c.rollback();
          c.setAutoCommit(true);
        }
      }
    }
  }

  /** Rows the plan read and threw away (Rows Removed by Filter, summed) for one claim of 20, rolled back. */
  long rowsRead(Connection c, String statement, long me) throws Exception {
    c.setAutoCommit(false);
    try (java.sql.PreparedStatement ps = c.prepareStatement("EXPLAIN (ANALYZE, FORMAT JSON) " + statement)) {
      ps.setString(1, "default");
      ps.setArray(2, c.createArrayOf("text", HANDLED));
      ps.setLong(3, me);
      ps.setInt(4, 20);
      ps.setLong(5, me);
      ps.setLong(6, 1);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        String plan = rs.getString(1);
        assertThat(plan).contains("jobs_name_fetch_idx").doesNotContain("jobs_fetch_idx");
        long removed = 0;
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"Rows Removed by Filter\": (\\d+)").matcher(plan);
        while (m.find()) {
          removed += Long.parseLong(m.group(1));
        }
        java.util.regex.Matcher got = java.util.regex.Pattern.compile("\"Node Type\": \"ModifyTable\".*?\"Actual Rows\": (\\d+)",
            java.util.regex.Pattern.DOTALL).matcher(plan);
        assertThat(got.find()).isTrue();
        assertThat(Long.parseLong(got.group(1))).as("the claim took 20").isEqualTo(20);
        return removed;
      }
    } finally {
      c.rollback();
      c.setAutoCommit(true);
    }
  }

  @Test
  void aWorkerSwitchesToTheClaimByNameWhileManyJobsOfOtherNamesWaitAndRunsItsOwn() throws Exception {
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, priority)"
        + " SELECT 'ghost', 'default', '{}', 1 FROM generate_series(1, " + Fetcher.FOREIGN_JOBS_FOR_BY_NAME + ") i");
    Set<Integer> ran = ConcurrentHashMap.newKeySet();
    for (int i = 0; i < 50; i++) {
      queue.enqueue(i % 2 == 0 ? A : B, new Item(i));
    }
    Worker w = Worker.builder(queue).handle(A, (item, ctx) -> ran.add(item.n())).handle(B, (item, ctx) -> ran.add(item.n()))
        .build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> ran.size() == 50);
    Fetcher f = w.fetcher("default");
    assertThat(f.claimsByName()).as("claims by name").isPositive();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'ghost' AND state = 'available'"))
        .isEqualTo(Fetcher.FOREIGN_JOBS_FOR_BY_NAME);
  }

  @Test
  void aFewJobsOfOtherNamesKeepTheOrdinaryClaim() throws Exception {
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, priority)"
        + " SELECT 'ghost', 'default', '{}', 1 FROM generate_series(1, " + (Fetcher.FOREIGN_JOBS_FOR_BY_NAME - 1) + ") i");
    Set<Integer> ran = ConcurrentHashMap.newKeySet();
    for (int i = 0; i < 20; i++) {
      queue.enqueue(A, new Item(i));
    }
    Worker w = Worker.builder(queue).handle(A, (item, ctx) -> ran.add(item.n())).build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> ran.size() == 20);
    assertThat(w.fetcher("default").claimsByName()).isZero();
  }

  @Test
  void theCheckCountsDueJobsOfOtherNamesUpToWhatIsAsked() throws Exception {
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
        + " SELECT (ARRAY['x', 'y', 'a'])[1 + i % 3], 'default', '{}', now() - interval '1 minute' FROM generate_series(1, 300) i");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
        + " SELECT 'z', 'default', '{}', now() + interval '1 hour' FROM generate_series(1, 50) i");
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload) SELECT 'x', 'other', '{}' FROM generate_series(1, 50) i");
    try (Connection c = db.dataSource().getConnection()) {
      assertThat(store.foreignJobs(c, "default", HANDLED, 1_000)).as("x and y due, z not yet due").isEqualTo(200);
      assertThat(store.foreignJobs(c, "default", HANDLED, 150)).isEqualTo(150);
      assertThat(store.foreignJobs(c, "default", new String[] {"a", "x", "y"}, 1_000)).isZero();
      assertThat(store.foreignJobs(c, "empty", HANDLED, 1_000)).isZero();
    }
  }
}
