package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Rate limits per concurrency key (docs/flow-control.md, "Rate limits per key"): the claim itself
 * (through {@link JobStore}) and workers in this JVM, with a ledger of starts whose claim times are
 * the database's.
 */
@PgQueueTest
class KeyRateLimitTest {

  record Task(String key, int n, boolean failFirst) {}

  static final JobType<Task> TASK = JobType.of("task", Task.class);
  static final String QUEUE = "partner";
  static final String[] NAMES = {"task"};

  TestDatabase db;
  JobQueue queue;
  HikariDataSource pool;
  final JobStore store = new JobStore(new Sql("pgqueue"));
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    db.execute("DROP TABLE IF EXISTS key_starts");
    db.execute("CREATE TABLE key_starts (id bigserial PRIMARY KEY, key text, n int, attempt int,"
        + " claimed_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp(), ended timestamptz)");
    queue = JobQueue.create(db.dataSource());
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrlWithCredentials());
    c.setMaximumPoolSize(16);
    pool = new HikariDataSource(c);
  }

  @AfterEach
  void tearDown() {
    workers.forEach(Worker::close);
    pool.close();
  }

  /** A worker whose handler records its start (with the claim's time) and works {@code workMillis}. */
  Worker startWorker(int concurrency, int workMillis, Duration poll) {
    Worker w = Worker.builder(pool)
        .queue(QUEUE, concurrency)
        .pollInterval(poll)
        .backoff(Backoff.fixed(Duration.ofMillis(10)))
        .handle(TASK, (task, ctx) -> {
          long row;
          try (Connection c = pool.getConnection();
              PreparedStatement ps = c.prepareStatement(
                  "INSERT INTO key_starts (key, n, attempt, claimed_at) SELECT ?, ?, ?, locked_at FROM pgqueue.jobs"
                      + " WHERE id = ? RETURNING id")) {
            ps.setString(1, task.key());
            ps.setInt(2, task.n());
            ps.setInt(3, ctx.attempt());
            ps.setLong(4, ctx.id().value());
            try (var rs = ps.executeQuery()) {
              rs.next();
              row = rs.getLong(1);
            }
          }
          if (workMillis > 0) {
            Thread.sleep(workMillis);
          }
          db.execute("UPDATE key_starts SET ended = clock_timestamp() WHERE id = " + row);
          if (task.failFirst() && ctx.attempt() == 1) {
            throw new IllegalStateException("planned failure");
          }
        })
        .build();
    workers.add(w);
    w.start();
    return w;
  }

  static EnqueueOptions keyed(String key) {
    return EnqueueOptions.builder().queue(QUEUE).concurrencyKey(key).build();
  }

  void enqueue(String key, int count, int failEvery) {
    List<NewJob<Task>> jobs = new ArrayList<>();
    for (int n = 0; n < count; n++) {
      jobs.add(NewJob.of(TASK, new Task(key, n, failEvery > 0 && n % failEvery == 0), keyed(key)));
    }
    queue.enqueueAll(jobs);
  }

  /** The most claims of one key in any window of {@code windowMs} beginning at a claim of it (database clock). */
  long maxInWindowPerKey(int windowMs) {
    return db.queryLong("SELECT coalesce(max((SELECT count(*) FROM key_starts b WHERE b.key = a.key"
        + " AND b.claimed_at >= a.claimed_at AND b.claimed_at < a.claimed_at + interval '" + windowMs
        + " milliseconds')), 0) FROM key_starts a");
  }

  long buckets() {
    return db.queryLong("SELECT count(*) FROM pgqueue.key_rate_buckets");
  }

  long registerWorker(Connection c) throws Exception {
    return store.registerWorker(c, "test", 1, new String[] {QUEUE}, new Integer[] {100}, NAMES, 100, 60_000);
  }

  /** One controlled claim in its own transaction, as a worker that knows of the per-key rate limit. */
  JobStore.ControlledClaim claim(Connection c, long owner, int want) throws Exception {
    c.setAutoCommit(false);
    try {
      return store.claimControlled(c, QUEUE, NAMES, want, owner, 1, true, false);
    } finally {
      c.commit();
      c.setAutoCommit(true);
    }
  }

  static long keysOf(List<ClaimedJob> jobs, String key) {
    return jobs.stream().filter(j -> j.payloadJson().replace(" ", "").contains("\"key\":\"" + key + "\"")).count();
  }

  @ParameterizedTest(name = "fair={0}")
  @ValueSource(booleans = {false, true})
  void aClaimSkipsAKeyWithoutTokensTakesOtherKeysAndSaysWhenTheNextTokenComes(boolean fair) throws Exception {
    queue.setKeyRateLimit(QUEUE, new RateLimit(1, Duration.ofHours(1), 20));
    queue.setKeyFairness(QUEUE, fair);
    enqueue("A", 25, 0);   // ahead of B in every order
    enqueue("B", 10, 0);
    try (Connection c = db.dataSource().getConnection()) {
      long me = registerWorker(c);
      JobStore.ControlledClaim first = claim(c, me, 40);
      assertThat(keysOf(first.jobs(), "A")).as("A: its burst of 20").isEqualTo(20);
      assertThat(keysOf(first.jobs(), "B")).as("B's jobs, past A's held-back ones").isEqualTo(10);
      assertThat(first.held()).as("A's 5 due jobs wait for a token").isEqualTo(JobStore.Held.KEY_RATE);
      assertThat(first.waitNanos()).as("A's next token: one interval (an hour) after its bucket emptied")
          .isBetween(TimeUnit.MINUTES.toNanos(59), TimeUnit.MINUTES.toNanos(61));

      // B finished; B gets 10 more jobs. A has no token: every claim leaves A and takes B.
      db.execute("DELETE FROM pgqueue.jobs WHERE state = 'running'");
      enqueue("B", 10, 0);
      JobStore.ControlledClaim second = claim(c, me, 40);
      assertThat(keysOf(second.jobs(), "A")).isZero();
      assertThat(keysOf(second.jobs(), "B")).isEqualTo(10);
      assertThat(second.held()).isEqualTo(JobStore.Held.KEY_RATE);

      // B's bucket is not full (20 taken of 20 over an hour): it has no token either now.
      JobStore.ControlledClaim third = claim(c, me, 40);
      assertThat(third.jobs()).isEmpty();
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND attempt = 0"))
          .as("A's held-back jobs: untouched").isEqualTo(5);
      assertThat(buckets()).as("A and B have buckets that are not full").isEqualTo(2);
    }
  }

  @Test
  void withoutWaitingJobsThereIsNoWaitAndFullBucketsArePruned() throws Exception {
    // 1,000 starts per second and a burst of 1: a bucket is full again 2 ms after its start.
    queue.setKeyRateLimit(QUEUE, new RateLimit(1000, Duration.ofSeconds(1), 1));
    for (int k = 0; k < 300; k++) {
      enqueue("k" + k, 1, 0);
    }
    try (Connection c = db.dataSource().getConnection()) {
      long me = registerWorker(c);
      JobStore.ControlledClaim first = claim(c, me, 100);
      assertThat(first.jobs()).hasSize(100);
      assertThat(first.held()).as("nothing waits for a token").isNotEqualTo(JobStore.Held.KEY_RATE);
      assertThat(buckets()).as("one row per key just started").isEqualTo(100);
      Thread.sleep(20);
      // The next claim charges 100 other keys and prunes the first 100 keys' full buckets.
      assertThat(claim(c, me, 100).jobs()).hasSize(100);
      assertThat(buckets()).as("the full buckets were pruned, the new ones kept").isEqualTo(100);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.key_rate_buckets b JOIN pgqueue.jobs j"
          + " ON j.concurrency_key = b.concurrency_key AND j.state = 'running' AND j.attempt = 1"
          + " AND j.locked_at = (SELECT max(locked_at) FROM pgqueue.jobs)")).isEqualTo(100);
    }
    // A bucket that is not full stays: 1 per hour.
    queue.setKeyRateLimit(QUEUE, new RateLimit(1, Duration.ofHours(1), 1));
    assertThat(buckets()).as("a new limit starts with every bucket full").isZero();
    db.execute("DELETE FROM pgqueue.jobs");
    enqueue("slow", 1, 0);
    enqueue("later", 1, 0);
    db.execute("UPDATE pgqueue.jobs SET run_at = now() + interval '1 hour' WHERE concurrency_key = 'later'");
    try (Connection c = db.dataSource().getConnection()) {
      long me = registerWorker(c);
      assertThat(claim(c, me, 10).jobs()).hasSize(1);
      Thread.sleep(20);
      db.execute("UPDATE pgqueue.jobs SET run_at = now() WHERE concurrency_key = 'later'");
      assertThat(claim(c, me, 10).jobs()).hasSize(1);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.key_rate_buckets WHERE concurrency_key = 'slow'"))
          .as("not full: kept").isEqualTo(1);
    }
    queue.removeKeyRateLimit(QUEUE);
    assertThat(buckets()).as("removing the limit removes its buckets").isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.queue_controls")).isZero();
  }

  @Test
  void eachKeysStartsStayWithinItsRateAcrossWorkersRetriesIncluded() {
    queue.setKeyRateLimit(QUEUE, new RateLimit(10, Duration.ofSeconds(1), 2));
    // 10% of first attempts fail and are retried: every start takes a token, retries included.
    for (String key : List.of("a", "b", "c")) {
      enqueue(key, 25, 10);
    }
    startWorker(4, 0, Duration.ofMillis(200));
    startWorker(4, 0, Duration.ofMillis(200));
    await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);

    assertThat(db.queryLong("SELECT count(*) FROM key_starts")).as("75 jobs, 9 of them retried").isEqualTo(84);
    long perKey = maxInWindowPerKey(1_000);
    long all = db.queryLong("SELECT max((SELECT count(*) FROM key_starts b WHERE b.claimed_at >= a.claimed_at"
        + " AND b.claimed_at < a.claimed_at + interval '1 second')) FROM key_starts a");
    System.out.printf("KEY RATE 10/s burst 2, 3 keys, 2 workers, 84 starts: at most %d claims of one key and %d"
        + " of all keys in a 1 s window%n", perKey, all);
    assertThat(perKey).as("claims of one key in any 1 s window: at most 10 + burst 2").isLessThanOrEqualTo(12);
    assertThat(maxInWindowPerKey(2_000)).as("in 2 s: 2 + 10 * 2").isLessThanOrEqualTo(22);
  }

  @ParameterizedTest(name = "fair={0}")
  @ValueSource(booleans = {false, true})
  void aKeyWithoutTokensDoesNotHoldBackAnotherKey(boolean fair) {
    queue.setKeyRateLimit(QUEUE, new RateLimit(1, Duration.ofHours(1), 5));
    queue.setKeyFairness(QUEUE, fair);
    enqueue("A", 200, 0);
    startWorker(4, 0, Duration.ofMillis(100));
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM key_starts") == 5);
    // A has no token left for an hour; B's jobs come after all of A's.
    long aEmptySince = db.queryLong("SELECT (extract(epoch FROM max(claimed_at)) * 1000000)::bigint FROM key_starts");
    enqueue("B", 20, 0);
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM key_starts WHERE key = 'B'") == 5);
    assertThat(db.queryLong("SELECT count(*) FROM key_starts WHERE key = 'B' AND claimed_at > to_timestamp("
        + aEmptySince + " / 1000000.0)")).as("B's starts while A had no token").isEqualTo(5);
    assertThat(db.queryLong("SELECT count(*) FROM key_starts WHERE key = 'A'")).isEqualTo(5);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND attempt = 0"))
        .as("held back, untouched: 195 of A, 15 of B").isEqualTo(210);
    // Keys without a row get a full bucket: a third key starts at once, as many as its burst.
    enqueue("C", 3, 0);
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM key_starts WHERE key = 'C'") == 3);
  }

  @Test
  void aWorkerSleepsUntilTheKeysNextTokenInsteadOfPolling() throws Exception {
    // One start per 1.5 s per key; the worker's poll interval (5 s) is longer than that, so only
    // the wait computed from the key's bucket makes it claim when the next token comes.
    queue.setKeyRateLimit(QUEUE, RateLimit.of(2, Duration.ofSeconds(3)));
    enqueue("A", 4, 0);
    Worker w = startWorker(4, 0, Duration.ofSeconds(5));
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM key_starts") == 4);
    long claims = w.fetcher(QUEUE).claims();
    long spanMs = db.queryLong("SELECT (extract(epoch FROM max(claimed_at) - min(claimed_at)) * 1000)::bigint FROM key_starts");
    long maxGapMs = db.queryLong("SELECT (max(g) * 1000)::bigint FROM (SELECT extract(epoch FROM claimed_at"
        + " - lag(claimed_at) OVER (ORDER BY claimed_at)) AS g FROM key_starts) x");
    System.out.printf("KEY RATE wait: 4 starts of one key at 1 per 1.5 s took %d claims over %d ms (largest gap %d"
        + " ms, poll 5 s)%n", claims, spanMs, maxGapMs);
    assertThat(spanMs).as("three token intervals between the first and the last start").isGreaterThanOrEqualTo(4_499);
    assertThat(maxGapMs).as("each start when its token came, not at the 5 s poll").isLessThan(4_000);
    // The fast poll after a claim (every 20 ms) would make about 75 claims over those 4.5 s;
    // sleeping until each token makes one per start, plus one per early wake-up (start, NOTIFY).
    assertThat(claims).as("claims while the key waited for its tokens").isLessThanOrEqualTo(10);
  }

  @Test
  void combinesWithAPerKeyConcurrencyLimitAndTheQueueRateLimit() {
    queue.setKeyRateLimit(QUEUE, new RateLimit(5, Duration.ofSeconds(1), 2));
    queue.setKeyConcurrencyLimit(QUEUE, 1);
    queue.setRateLimit(QUEUE, new RateLimit(12, Duration.ofSeconds(1), 1));
    for (String key : List.of("a", "b", "c", "d")) {
      enqueue(key, 8, 0);
    }
    startWorker(4, 20, Duration.ofMillis(200));
    startWorker(4, 20, Duration.ofMillis(200));
    await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(db.queryLong("SELECT count(*) FROM key_starts")).isEqualTo(32);
    assertThat(maxInWindowPerKey(1_000)).as("per key: 5 + 2 in any second").isLessThanOrEqualTo(7);
    assertThat(db.queryLong("SELECT max((SELECT count(*) FROM key_starts b WHERE b.claimed_at >= a.claimed_at"
        + " AND b.claimed_at < a.claimed_at + interval '1 second')) FROM key_starts a"))
        .as("queue: 12 + 1 in any second").isLessThanOrEqualTo(13);
    assertThat(db.queryLong("SELECT count(*) FROM key_starts a JOIN key_starts b ON a.key = b.key AND a.id < b.id"
        + " AND a.at < b.ended AND b.at < a.ended")).as("overlapping runs of one key (limit 1)").isZero();
  }

  @Test
  void theLimitHoldsOnConnectionsWithoutPreparedStatements() {
    // prepareThreshold=0 (as behind PgBouncer in transaction mode): the claim of a queue with only
    // a pause or a global limit is one call of claim_controlled_v3; a worker that knows the queue
    // sets a per-key rate takes the statements instead (and the function hands such a queue back).
    pool.close();
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrlWithCredentials());
    c.addDataSourceProperty("prepareThreshold", "0");
    c.setMaximumPoolSize(16);
    pool = new HikariDataSource(c);
    queue.setKeyRateLimit(QUEUE, new RateLimit(1, Duration.ofHours(1), 2));
    enqueue("A", 5, 0);
    enqueue("B", 1, 0);
    startWorker(4, 0, Duration.ofMillis(50));
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM key_starts") == 3);
    await().during(Duration.ofMillis(700)).atMost(Duration.ofSeconds(3))
        .until(() -> db.queryLong("SELECT count(*) FROM key_starts") == 3);
    assertThat(db.queryLong("SELECT count(*) FROM key_starts WHERE key = 'A'")).as("A: its burst of 2").isEqualTo(2);
    assertThat(db.queryLong("SELECT count(*) FROM key_starts WHERE key = 'B'")).isEqualTo(1);
  }

  @Test
  void badValuesAreRefused() {
    assertThatThrownBy(() -> queue.setKeyRateLimit(QUEUE, null)).isInstanceOf(NullPointerException.class)
        .hasMessageContaining("limit");
    assertThatThrownBy(() -> queue.setKeyRateLimit("", RateLimit.of(1, Duration.ofSeconds(1))))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> queue.removeKeyRateLimit(" ")).isInstanceOf(IllegalArgumentException.class);
  }
}
