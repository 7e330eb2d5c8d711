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
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * THE CURSOR CLAIM (Sql#claimAfter) and where a fetcher starts its claims (ClaimCursor). While a
 * transaction older than the claimed rows is open, their entries stay at the head of the fetch
 * index and every claim from the head walks them; the cursor claim starts after the last job
 * claimed. It must take THE CLAIM's jobs after the cursor, in claim order; the worker must switch to
 * it only while the head is dead, and lose nothing behind the cursor (checked on the index's own
 * counters, not on time).
 */
@PgQueueTest
class ClaimCursorTest {

  record Item(int n) {}

  static final JobType<Item> A = JobType.of("a", Item.class);
  static final String[] HANDLED = {"a", "b"};

  TestDatabase db;
  JobQueue queue;
  final JobStore store = new JobStore(new Sql("pgqueue"));
  final List<Worker> workers = new ArrayList<>();
  final List<Connection> holders = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @AfterEach
  void tearDown() throws Exception {
    workers.forEach(Worker::close);
    for (Connection h : holders) {
      h.rollback();
      h.close();
    }
  }

  long register(Connection c) throws Exception {
    return store.registerWorker(c, "test", 1, new String[] {"default"}, new Integer[] {1}, HANDLED, 100, 30_000);
  }

  /** Opens a REPEATABLE READ transaction that keeps its snapshot until the test ends. */
  void holdSnapshot() throws Exception {
    Connection h = db.dataSource().getConnection();
    h.setAutoCommit(false);
    h.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
    try (Statement st = h.createStatement()) {
      st.executeQuery("SELECT count(*) FROM pgqueue.jobs").close();
    }
    holders.add(h);
  }

  void insertDue(int count) {
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
        + " SELECT 'a', 'default', '{\"n\": 0}', now() - interval '1 hour' + i * interval '1 millisecond'"
        + " FROM generate_series(1, " + count + ") i");
  }

  /** Claims and completes {@code count} jobs from the head, in batches of 100. */
  void claimFromTheHead(Connection c, long me, int count) throws Exception {
    for (int done = 0; done < count; ) {
      List<ClaimedJob> jobs = store.claim(c, "default", HANDLED, Math.min(100, count - done), me, done + 1);
      assertThat(jobs).isNotEmpty();
      List<Outcome> outcomes = new ArrayList<>();
      jobs.forEach(j -> outcomes.add(Outcome.success(j)));
      store.complete(c, outcomes);
      done += jobs.size();
    }
  }

  /** The fetch indexes' entries read in one transaction's claim, rolled back. */
  long entriesRead(Connection c, Work work) throws Exception {
    c.setAutoCommit(false);
    try {
      long before = entriesReturned(c);
      work.run(c);
      return entriesReturned(c) - before;
    } finally {
      c.rollback();
      c.setAutoCommit(true);
    }
  }

  /** Entries the backend's scans of the fetch indexes returned, not yet reported. */
  static long entriesReturned(Connection c) throws Exception {
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT sum(pg_stat_get_xact_tuples_returned(i))::bigint FROM unnest(ARRAY["
            + "'pgqueue.jobs_fetch_idx'::regclass, 'pgqueue.jobs_name_fetch_idx'::regclass]) i")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  interface Work {
    void run(Connection c) throws Exception;
  }

  static ClaimCursor.Position at(ClaimedJob j) {
    return new ClaimCursor.Position(j.priority(), j.runAt(), j.id());
  }

  @Test
  void theCursorClaimTakesHigherPrioritiesThenTheJobsAfterTheCursorInClaimOrder() throws Exception {
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, priority, run_at)
        SELECT (ARRAY['a', 'b', 'ghost'])[1 + i % 3], 'default', '{"n": 0}', (i / 3) % 3,
               now() - interval '1 hour' + ((i * 13) % 50) * interval '1 second'
        FROM generate_series(1, 300) i
        """);
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload, priority, run_at) VALUES"
        + " ('a', 'default', '{}', 9, now() + interval '1 hour'), ('a', 'other', '{}', 0, now() - interval '2 hours')");
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      c.setAutoCommit(false);
      List<ClaimedJob> all = new ArrayList<>(store.claim(c, "default", HANDLED, 1_000, me, 1));
      c.rollback();
      all.sort(ClaimedJob::claimOrder); // RETURNING does not keep the claim's order
      List<Long> order = new ArrayList<>();
      for (ClaimedJob j : all) {
        order.add(j.id());
      }
      assertThat(order).hasSize(200);
      // At each cursor the claim takes, in THE CLAIM's order, the jobs of higher priorities (all
      // ahead of the cursor), then those after the cursor, crossing into lower priorities when the
      // cursor's band ends.
      int bands = 0;
      for (int k = 0; k < all.size(); k += 7) {
        int p = all.get(k).priority();
        List<Long> expected = new ArrayList<>();
        for (int m = 0; m < all.size() && expected.size() < 50; m++) {
          if (m > k || all.get(m).priority() > p) {
            expected.add(order.get(m));
          }
        }
        List<ClaimedJob> after = store.claimAfter(c, "default", HANDLED, 50, me, 2 + k, at(all.get(k)));
        c.rollback();
        List<Long> ids = new ArrayList<>();
        after.forEach(j -> ids.add(j.id()));
        assertThat(ids).as("after the job at %d", k).containsExactlyInAnyOrderElementsOf(expected);
        bands |= 1 << p;
      }
      assertThat(bands).as("cursors in every priority").isEqualTo(0b111);
      c.setAutoCommit(true);
    }
  }

  @Test
  void aClaimFromTheHeadWalksWhatAnOldSnapshotKeepsAndTheCursorClaimDoesNot() throws Exception {
    insertDue(2_500);
    db.execute("ANALYZE pgqueue.jobs");
    holdSnapshot();
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      claimFromTheHead(c, me, 2_000);
      c.setAutoCommit(false);
      long dead = store.deadHead(c, "default", HANDLED, 20).entries();
      c.rollback();
      c.setAutoCommit(true);
      assertThat(dead).as("dead entries at the head").isGreaterThanOrEqualTo(2_000);

      List<ClaimedJob> one = new ArrayList<>();
      long fromHead = entriesRead(c, t -> one.addAll(store.claim(t, "default", HANDLED, 20, me, 9_001)));
      assertThat(fromHead).as("entries a claim of 20 from the head reads").isGreaterThanOrEqualTo(2_020);
      // The cursor: the job claimed just before the first live one.
      ClaimedJob first = one.stream().min(java.util.Comparator.comparingLong(ClaimedJob::id)).orElseThrow();
      ClaimCursor.Position cursor = new ClaimCursor.Position(first.priority(), first.runAt(), first.id() - 1);
      List<ClaimedJob> got = new ArrayList<>();
      long fromCursor = entriesRead(c, t -> got.addAll(store.claimAfter(t, "default", HANDLED, 20, me, 9_002, cursor)));
      assertThat(got).hasSize(20);
      assertThat(fromCursor).as("entries the cursor claim of 20 reads").isLessThan(40);
    }
    // Once the old snapshot is gone, the first scan marks the entries and the next finds none.
    Connection holder = holders.remove(0);
    holder.rollback();
    holder.close();
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      store.deadHead(c, "default", HANDLED, 20);
      c.commit();
      JobStore.DeadHead after = store.deadHead(c, "default", HANDLED, 20);
      c.rollback();
      assertThat(after.entries()).as("dead entries once the snapshot is gone").isLessThan(ClaimCursor.DEAD_ENTRIES_FOR_CURSOR);
      assertThat(after.pages()).as("their pages: 2,000 entries fill a few").isLessThan(ClaimCursor.DEAD_PAGES_FOR_CURSOR);
    }
  }

  @Test
  void aWorkerClaimsAfterItsCursorWhileAnOldSnapshotHoldsTheHeadAndLosesNothingBehindIt() throws Exception {
    insertDue(1_500);
    db.execute("ANALYZE pgqueue.jobs");
    holdSnapshot();
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      claimFromTheHead(c, me, (int) ClaimCursor.DEAD_ENTRIES_FOR_CURSOR + 200);
    }
    Map<Integer, AtomicInteger> ran = new ConcurrentHashMap<>();
    Worker w = Worker.builder(queue).queue("default", 4)
        .handle(A, (item, ctx) -> ran.computeIfAbsent(item.n(), n -> new AtomicInteger()).incrementAndGet())
        .build();
    workers.add(w);
    w.start();
    // The 300 jobs left of the backlog, payload n = 0.
    await().atMost(Duration.ofSeconds(30)).until(() -> ran.containsKey(0) && ran.get(0).get() == 300);
    Fetcher f = w.fetcher("default");

    // A job enqueued in a transaction that commits after the worker has claimed later jobs: its
    // run_at (the transaction's start) is behind the cursor. And one of a higher priority.
    try (Connection late = db.dataSource().getConnection()) {
      late.setAutoCommit(false);
      queue.enqueue(late, A, new Item(-1));
      for (int round = 1; round <= 5; round++) {
        List<Item> items = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
          items.add(new Item(round * 1_000 + i));
        }
        queue.enqueueAll(A, items);
        int last = round * 1_000 + 99;
        await().atMost(Duration.ofSeconds(30)).until(() -> ran.containsKey(last));
      }
      assertThat(f.claimsAfterCursor()).as("claims that started at the cursor").isPositive();
      late.commit();
    }
    queue.enqueue(A, new Item(-2), EnqueueOptions.builder().priority(5).build());
    await().atMost(Duration.ofSeconds(30)).until(() -> ran.containsKey(-1) && ran.containsKey(-2));
    await().atMost(Duration.ofSeconds(30)).until(() -> ran.size() == 503);
    assertThat(ran.entrySet()).allSatisfy(e -> assertThat(e.getValue().get()).as("runs of %d", e.getKey())
        .isEqualTo(e.getKey() == 0 ? 300 : 1));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
  }

  @Test
  void aHeadOfEntriesAlreadyMarkedDeadCountsInPagesAndSwitchesAWorkerToTheCursor() throws Exception {
    // No old snapshot: the scans mark the claimed jobs' entries, which then need no heap visit but
    // fill the head's pages until vacuum (off here, as between two autovacuum runs) removes them.
    db.execute("ALTER TABLE pgqueue.jobs SET (autovacuum_enabled = false)");
    try {
      insertDue(20_000);
      db.execute("ANALYZE pgqueue.jobs");
      try (Connection c = db.dataSource().getConnection()) {
        long me = register(c);
        claimFromTheHead(c, me, 19_000);
        c.setAutoCommit(false);
        store.deadHead(c, "default", HANDLED, 20); // marks whatever the claims left unmarked
        c.commit();
        JobStore.DeadHead dead = store.deadHead(c, "default", HANDLED, 20);
        c.rollback();
        c.setAutoCommit(true);
        assertThat(dead.entries()).as("entries that need a heap visit").isLessThan(ClaimCursor.DEAD_ENTRIES_FOR_CURSOR);
        assertThat(dead.pages()).as("pages of marked entries a claim from the head reads")
            .isGreaterThanOrEqualTo(ClaimCursor.DEAD_PAGES_FOR_CURSOR);
      }
      AtomicInteger ran = new AtomicInteger();
      Worker w = Worker.builder(queue).queue("default", 4).handle(A, (item, ctx) -> ran.incrementAndGet()).build();
      workers.add(w);
      w.start();
      await().atMost(Duration.ofSeconds(30)).until(() -> ran.get() == 1_000);
      assertThat(w.fetcher("default").claimsAfterCursor()).as("claims that started at the cursor").isPositive();
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available'")).isZero();
    } finally {
      db.execute("ALTER TABLE pgqueue.jobs RESET (autovacuum_enabled)");
    }
  }

  @Test
  void withoutAnOldSnapshotEveryClaimStartsAtTheHead() throws Exception {
    insertDue(1_500);
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      claimFromTheHead(c, me, 1_200);
    }
    AtomicInteger ran = new AtomicInteger();
    Worker w = Worker.builder(queue).handle(A, (item, ctx) -> ran.incrementAndGet()).build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(30)).until(() -> ran.get() == 300);
    assertThat(w.fetcher("default").claimsAfterCursor()).isZero();
  }

  @Test
  void theCursorStartsAtTheHeadUntilTheHeadIsDeadAndAgainEveryReset() {
    long t = 0;
    ClaimCursor cursor = new ClaimCursor(t, 100, 50);
    assertThat(cursor.probeDue(t)).isTrue();
    assertThat(cursor.probed(head(ClaimCursor.DEAD_ENTRIES_FOR_CURSOR - 1, ClaimCursor.DEAD_PAGES_FOR_CURSOR - 1), t, t))
        .isFalse();
    assertThat(cursor.start(t)).as("a clean head").isNull();
    cursor.claimed(List.of(job(1, 0, 1)), t);
    assertThat(cursor.start(t + 1)).isNull();
    cursor.claimed(List.of(job(2, 0, 1)), t + 1);
    assertThat(cursor.probeDue(t + 99)).isFalse();
    assertThat(cursor.probed(head(ClaimCursor.DEAD_ENTRIES_FOR_CURSOR, 0), t + 100, t + 100)).as("switched").isTrue();
    assertThat(cursor.start(t + 100)).as("no position yet").isNull();
    cursor.claimed(List.of(job(7, 1, 5), job(9, 0, 2), job(8, 0, 9), job(6, 0, 9)), t + 100);
    assertThat(cursor.start(t + 110)).as("the last in claim order").isEqualTo(new ClaimCursor.Position(0, instant(9), 8));
    cursor.claimed(List.of(), t + 110);
    assertThat(cursor.start(t + 120)).as("an empty claim leaves it").isEqualTo(new ClaimCursor.Position(0, instant(9), 8));
    cursor.claimed(List.of(job(20, 0, 30)), t + 120);
    assertThat(cursor.start(t + 130)).isEqualTo(new ClaimCursor.Position(0, instant(30), 20));
    cursor.claimed(List.of(job(30, 4, 50), job(31, 4, 51)), t + 130);
    assertThat(cursor.start(t + 140)).as("higher priorities taken from the cursor leave it")
        .isEqualTo(new ClaimCursor.Position(0, instant(30), 20));
    cursor.claimed(List.of(job(32, 4, 52), job(21, 0, 31)), t + 140);
    assertThat(cursor.start(t + 149)).isEqualTo(new ClaimCursor.Position(0, instant(31), 21));
    cursor.claimed(List.of(), t + 149);
    assertThat(cursor.start(t + 150)).as("the reset, 50 after the last claim from the head").isNull();
    // This claim from the head takes 20: the next is due no sooner than 9 times that after it.
    cursor.claimed(List.of(job(33, 4, 53), job(2, 0, 1)), t + 170);
    assertThat(cursor.start(t + 171)).as("a claim from the head sets it where it stopped")
        .isEqualTo(new ClaimCursor.Position(0, instant(1), 2));
    cursor.claimed(List.of(), t + 171);
    assertThat(cursor.start(t + 170 + 179)).isNotNull();
    cursor.claimed(List.of(), t + 349);
    assertThat(cursor.start(t + 170 + 180)).isNull();
    cursor.claimed(List.of(), t + 350);
    assertThat(cursor.claimsAfter()).isEqualTo(7);
    // While claims start at the cursor the head is counted every 10 x 100 (switched at 100);
    // a count that took 200 is due again no sooner than 9 x 200 after it, past those 1,000.
    assertThat(cursor.probeDue(t + 1099)).isFalse();
    assertThat(cursor.probeDue(t + 1100)).isTrue();
    assertThat(cursor.probed(head(0, ClaimCursor.DEAD_PAGES_FOR_CURSOR), t + 1100, t + 1300)).as("pages alone keep it").isFalse();
    assertThat(cursor.probeDue(t + 3099)).isFalse();
    assertThat(cursor.probeDue(t + 3100)).isTrue();
    assertThat(cursor.probed(head(0, 0), t + 3100, t + 3100)).as("switched back").isTrue();
    assertThat(cursor.start(t + 3101)).isNull();
    assertThat(cursor.probeDue(t + 3199)).as("at the head: every 100 again").isFalse();
    assertThat(cursor.probeDue(t + 3200)).isTrue();
    assertThat(cursor.probed(head(0, ClaimCursor.DEAD_PAGES_FOR_CURSOR), t + 3200, t + 3200)).as("pages alone switch").isTrue();
    assertThat(cursor.active()).isTrue();
  }

  static JobStore.DeadHead head(long entries, long pages) {
    return new JobStore.DeadHead(entries, pages);
  }

  static java.time.Instant instant(int seconds) {
    return java.time.Instant.ofEpochSecond(1_000_000 + seconds);
  }

  static ClaimedJob job(long id, int priority, int runAtSeconds) {
    return new ClaimedJob(id, "a", "default", "{}", 1, 3, priority, instant(runAtSeconds), instant(0), null, 1, 1,
        null, instant(100), 0);
  }
}
