package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.TestDatabase;
import io.github.pgqueue.testing.TestPostgres;
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
    while (kills < 6 && remaining() > jobs / 10) {
      int victim = random.nextInt(WORKERS);
      ChildJvm w = workers.get(victim);
      long target = startedBy(w) + 20 + random.nextInt(120);
      // Kill it mid-run: once it has started a random number of further attempts.
      await().atMost(Duration.ofSeconds(60)).until(() -> startedBy(w) >= target || remaining() <= jobs / 10);
      if (remaining() <= jobs / 10) {
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
