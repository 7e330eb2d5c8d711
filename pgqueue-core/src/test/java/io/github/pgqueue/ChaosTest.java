package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Chaos with real processes: three worker JVMs ({@link ChaosWorkerProcess}, HikariCP pool plus a
 * dedicated connection) burn through a few thousand {@link LedgerJobs} jobs, some of which fail at
 * random and run out of attempts, while the test kills workers with kill -9, terminates their
 * database connections, or restarts PostgreSQL. Afterwards {@link LedgerCheck} proves that no job
 * was lost or left stuck and that the handlers' ledger agrees with the jobs table, and prints the
 * duplicates (at-least-once reruns) as a count.
 *
 * <p>Runs on an embedded PostgreSQL of its own (it restarts it and terminates backends), one fresh
 * database per test. The moments of chaos are chosen by progress (after a random number of
 * attempts), not by sleeping, and the seed is printed so a failing run can be replayed.
 */
@Tag("process")
class ChaosTest {

  static final int WORKERS = 3;
  static final int CONCURRENCY = 8;
  static final String HEARTBEAT_MS = "200";
  static final String STALE_MS = "1000";
  static final String APP_NAME = "pgqueue-chaos-worker";

  static TestPostgres server;

  TestDatabase db;
  Random random;
  final List<ChildJvm> workers = new ArrayList<>();

  @BeforeAll
  static void startServer() {
    server = TestPostgres.startEmbedded();
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  @BeforeEach
  void setUp() {
    db = server.createDatabase("pgqueue");
    Migrator.create(db.dataSource()).migrate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    long seed = Long.getLong("pgqueue.chaos.seed", System.nanoTime());
    System.out.println("chaos seed " + seed + " (replay with -Dpgqueue.chaos.seed=" + seed + ")");
    random = new Random(seed);
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    for (ChildJvm w : workers) {
      w.close();
    }
    workers.clear();
    db.drop();
  }

  @Test
  void killMinusNineAtRandomMomentsLosesNothingAndLeavesNothingStuck() throws Exception {
    int jobs = 3_000;
    enqueue(jobs, 10, 50, 10, 3);
    long t0 = System.nanoTime();
    startWorkers();
    int kills = 0;
    while (kills < 6 && remaining() > jobs / 20) {
      // The victim is a worker that is running jobs: one still starting its JVM (a fresh
      // replacement) may not start any before the others finish the queue, and a kill is only
      // worth something mid-run.
      List<Integer> busy = new ArrayList<>();
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        busy.clear();
        for (int i = 0; i < WORKERS; i++) {
          if (startedBy(workers.get(i)) > 0) {
            busy.add(i);
          }
        }
        return !busy.isEmpty() || remaining() <= jobs / 20;
      });
      if (remaining() <= jobs / 20) {
        break;
      }
      int victim = busy.get(random.nextInt(busy.size()));
      ChildJvm w = workers.get(victim);
      long target = startedBy(w) + 15 + random.nextInt(80);
      // Kill it mid-run: once it has started a random number of further attempts.
      await().atMost(Duration.ofSeconds(60)).until(() -> startedBy(w) >= target || remaining() <= jobs / 20);
      if (remaining() <= jobs / 20) {
        break;
      }
      w.kill();
      kills++;
      System.out.printf("kill -9 of worker %d (pid %d) after %d attempts; %d jobs left%n",
          victim, w.pid(), startedBy(w), remaining());
      workers.set(victim, startWorker());
    }
    awaitSettled(jobs, Duration.ofSeconds(90));
    System.out.printf("CHAOS kill -9: %d kills, settled %d ms after the start%n", kills, millisSince(t0));
    assertThat(kills).as("the workers were killed mid-run").isGreaterThanOrEqualTo(3);
    ledgerCheck(jobs, "kill -9 x" + kills);
  }

  @Test
  void terminatedConnectionsMidRunLoseNothingAndLeaveNothingStuck() throws Exception {
    int jobs = 3_000;
    enqueue(jobs, 10, 50, 10, 3);
    long t0 = System.nanoTime();
    startWorkers();
    int rounds = 0;
    long terminated = 0;
    while (rounds < 6 && remaining() > jobs / 10) {
      long target = startedTotal() + 100 + random.nextInt(150);
      await().atMost(Duration.ofSeconds(60)).until(() -> startedTotal() >= target || remaining() <= jobs / 10);
      long n = db.queryLong(
          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
              + " WHERE datname = current_database() AND application_name = '" + APP_NAME + "'");
      terminated += n;
      rounds++;
      System.out.printf("pg_terminate_backend round %d: %d worker connections; %d jobs left%n", rounds, n, remaining());
    }
    awaitSettled(jobs, Duration.ofSeconds(90));
    System.out.printf("CHAOS pg_terminate_backend: %d rounds, %d connections terminated, settled %d ms after the start%n",
        rounds, terminated, millisSince(t0));
    assertThat(terminated).as("worker connections were terminated mid-run").isGreaterThanOrEqualTo(WORKERS * 2L);
    ledgerCheck(jobs, "pg_terminate_backend x" + rounds);
  }

  @Test
  void postgresRestartsMidRunLoseNothingAndLeaveNothingStuck() throws Exception {
    int jobs = 3_000;
    enqueue(jobs, 10, 50, 10, 3);
    long t0 = System.nanoTime();
    startWorkers();
    int restarts = 0;
    for (int k = 1; k <= 2; k++) {
      long target = (long) jobs * k / 3;
      await().atMost(Duration.ofSeconds(60)).until(() -> startedTotal() >= target);
      server.stopServer();
      long down = System.nanoTime();
      // Down for well over the stale threshold: every heartbeat in the table is stale on return.
      await().pollDelay(Duration.ofMillis(2_500)).atMost(Duration.ofSeconds(5)).until(() -> true);
      server.startServer();
      restarts++;
      System.out.printf("PostgreSQL restart %d: down %d ms; %d jobs left%n", k, millisSince(down), remaining());
    }
    awaitSettled(jobs, Duration.ofSeconds(90));
    System.out.printf("CHAOS restart: %d restarts, settled %d ms after the start%n", restarts, millisSince(t0));
    ledgerCheck(jobs, "PostgreSQL restart x" + restarts);
  }

  record Noop(int n) {}

  static final JobType<Noop> NOOP = JobType.of("noop", Noop.class);

  /** What one phase of the long-transaction test measured. */
  record Phase(String name, long jobs, long millis, long deadAfterVacuum, long totalBytes,
      long claimBuffers, double claimMillis, Long xminAge, Duration oldestTx) {
    @Override
    public String toString() {
      return String.format(
          "%-28s %6d jobs in %5d ms (%5.0f/s); after VACUUM %6d dead tuples; table+indexes %5d kB;"
              + " claim SELECT %5d buffers %6.2f ms; oldest xmin age %s, oldest transaction %s",
          name, jobs, millis, jobs * 1000.0 / Math.max(1, millis), deadAfterVacuum, totalBytes / 1024,
          claimBuffers, claimMillis, xminAge, oldestTx);
    }
  }

  /**
   * A transaction left open on another connection ({@code BEGIN; SELECT txid_current();}) holds
   * back vacuum while the queue churns. The queue keeps working; dead tuples cannot be removed,
   * so the table grows and every claim walks over them; {@link JobQueue#stats()} names the cause.
   * Ending the transaction and vacuuming is the remedy. The same amount of work runs in each
   * phase, and each ends with a manual VACUUM (autovacuum wakes only once a minute by default,
   * too rarely for a test), so the figures compare.
   */
  @Test
  void aLongTransactionHoldingBackVacuumSlowsClaimsButTheQueueKeepsWorking() throws Exception {
    int perPhase = 6_000;
    JobQueue queue = JobQueue.create(db.dataSource());
    com.zaxxer.hikari.HikariConfig hc = new com.zaxxer.hikari.HikariConfig();
    hc.setJdbcUrl(db.jdbcUrl());
    hc.setUsername(db.user());
    hc.setMaximumPoolSize(6);
    java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
    List<Phase> phases = new ArrayList<>();
    try (com.zaxxer.hikari.HikariDataSource pool = new com.zaxxer.hikari.HikariDataSource(hc)) {
      Worker worker = Worker.builder(pool).queue("default", 10).pollInterval(Duration.ofMillis(50))
          .handle(NOOP, (job, ctx) -> done.incrementAndGet()).build();
      worker.start();
      try {
        phases.add(churn("no long transaction", queue, done, perPhase));
        try (java.sql.Connection blocker = db.dataSource().getConnection()) {
          blocker.setAutoCommit(false);
          try (java.sql.Statement st = blocker.createStatement()) {
            st.execute("SELECT txid_current()");
          }
          // Idle in transaction with a transaction id, as an application that wrote and then
          // waited would be: it has no snapshot (backend_xmin is null), yet it holds vacuum back.
          phases.add(churn("long transaction open", queue, done, perPhase));
          phases.add(churn("long transaction still open", queue, done, perPhase));
          blocker.commit();
        }
        phases.add(churn("ended, then VACUUM", queue, done, perPhase));
      } finally {
        worker.close();
      }
    }
    System.out.println("LONG TRANSACTION (same churn per phase; VACUUM at the end of each):");
    phases.forEach(p -> System.out.println("  " + p));
    Phase before = phases.get(0);
    Phase held = phases.get(2);
    Phase after = phases.get(3);
    assertThat(held.jobs()).as("the queue kept working").isEqualTo(perPhase);
    assertThat(before.oldestTx()).as("stats() reports no old transaction when there is none")
        .satisfiesAnyOf(d -> assertThat(d).isNull(), d -> assertThat(d).isLessThan(Duration.ofSeconds(2)));
    assertThat(held.oldestTx()).as("stats() names the transaction holding vacuum back")
        .isGreaterThanOrEqualTo(Duration.ofMillis(held.millis()));
    assertThat(held.xminAge()).isGreaterThan(50L);
    assertThat(held.deadAfterVacuum()).as("VACUUM cannot remove what the open transaction may still see")
        .isGreaterThan(perPhase);
    assertThat(held.claimBuffers()).as("claims walk over the dead entries").isGreaterThan(before.claimBuffers());
    assertThat(after.deadAfterVacuum()).as("ending the transaction lets VACUUM clean up").isLessThan(perPhase / 10);
    assertThat(after.claimBuffers()).as("and claims are cheap again").isLessThan(held.claimBuffers());
  }

  /** Enqueues n jobs in batches while the worker runs them; then VACUUMs and measures. */
  private Phase churn(String name, JobQueue queue, java.util.concurrent.atomic.AtomicLong done, int n) {
    long start = done.get();
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i += 100) {
      queue.enqueueAll(NOOP, IntStream.range(i, Math.min(n, i + 100)).mapToObj(Noop::new).toList());
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> done.get() - start >= n);
    // A handler's return is not yet the delete: the completer writes it a few milliseconds later.
    // VACUUM before the last deletes would count their dead tuples as ones it could not remove.
    await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    long millis = millisSince(t0);
    db.execute("VACUUM pgqueue.jobs");
    QueueStats.Table t = queue.stats().table();
    long[] buffers = new long[1];
    double claimMillis = claimProbe(buffers);
    return new Phase(name, done.get() - start, millis, t.deadTuples(), t.totalBytes(), buffers[0], claimMillis,
        t.oldestXminAge(), t.oldestTransactionAge());
  }

  /**
   * The claim's SELECT (without its row locks) as EXPLAIN ANALYZE sees it, on an empty queue: the
   * shared buffers it touches and its time are the cost of walking the fetch index's dead entries.
   */
  private double claimProbe(long[] buffers) {
    String explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM pgqueue.jobs"
        + " WHERE state = 'available' AND queue = 'default' AND run_at <= now() AND name = ANY('{noop}')"
        + " ORDER BY priority DESC, run_at, id LIMIT 10";
    double best = Double.MAX_VALUE;
    for (int i = 0; i < 3; i++) {
      try (java.sql.Connection c = db.dataSource().getConnection(); java.sql.Statement st = c.createStatement();
          java.sql.ResultSet rs = st.executeQuery(explain)) {
        rs.next();
        com.fasterxml.jackson.databind.JsonNode plan = new com.fasterxml.jackson.databind.ObjectMapper().readTree(rs.getString(1)).get(0);
        best = Math.min(best, plan.get("Execution Time").asDouble());
        com.fasterxml.jackson.databind.JsonNode top = plan.get("Plan");
        buffers[0] = top.get("Shared Hit Blocks").asLong() + top.get("Shared Read Blocks").asLong();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
    return best;
  }

  // ---- helpers -------------------------------------------------------------------------------

  private void ledgerCheck(int jobs, String scenario) {
    LedgerCheck.check(db, jobs, scenario);
  }

  /** Jobs numbered 0..n-1, each working a random time and failing with the given chance. */
  private void enqueue(int n, int minWorkMs, int maxWorkMs, int failPercent, int maxAttempts) {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<LedgerJobs.Work> work = IntStream.range(0, n)
        .mapToObj(i -> new LedgerJobs.Work(i, minWorkMs + random.nextInt(maxWorkMs - minWorkMs + 1), failPercent))
        .toList();
    queue.enqueueAll(LedgerJobs.WORK, work, EnqueueOptions.builder().maxAttempts(maxAttempts).build());
  }

  private void startWorkers() throws Exception {
    for (int i = 0; i < WORKERS; i++) {
      workers.add(startWorker());
    }
    for (ChildJvm w : workers) {
      await().atMost(Duration.ofSeconds(60)).until(() -> w.printed("READY"));
    }
  }

  private ChildJvm startWorker() throws Exception {
    String url = db.jdbcUrlWithCredentials() + "&ApplicationName=" + APP_NAME;
    // Thousands of planned failures and rescues: keep the per-job log lines out of the report.
    List<String> quiet = List.of(
        "-Dorg.slf4j.simpleLogger.log.io.github.pgqueue.JobRun=error",
        "-XX:TieredStopAtLevel=1");
    return ChildJvm.start(quiet, ChaosWorkerProcess.class, url, HEARTBEAT_MS, STALE_MS, Integer.toString(CONCURRENCY));
  }

  private long remaining() {
    return db.queryLong(LedgerCheck.notStuckSql(db.schema()));
  }

  private long startedBy(ChildJvm w) {
    return db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'started' AND pid = " + w.pid());
  }

  private long startedTotal() {
    return db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'started'");
  }

  /** Waits until every job succeeded or was discarded: none available or running. */
  private void awaitSettled(int jobs, Duration atMost) {
    await().atMost(atMost).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
        .until(() -> remaining() == 0);
  }

  private static long millisSince(long t0) {
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
