package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Flow control across real worker JVMs (docs/flow-control.md), checked on a ledger of handler
 * start and end times by the database clock ({@link LedgerJobs}, {@link FlowWorkerProcess}).
 * The figures are scaled down for CI's 2 cores: 2 worker JVMs instead of 4, hundreds or a
 * few thousand jobs instead of 2,000-20,000. {@code -Dpgqueue.flow.fullScale=true} runs them at
 * the scale (4 worker JVMs; 20,000 jobs paused mid-run; 2,000 under the global limit; 20 s
 * of rate-limited starts):
 * {@code mvn -pl pgqueue-core -am verify -Dtest=FlowControlProcessTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dpgqueue.flow.fullScale=true -Dpgqueue.test.timeout='15 m'}.
 */
@Tag("process")
@PgQueueTest
class FlowControlProcessTest {

  static final String QUEUE = "flow";

  /** At the scale rather than CI's (see the class comment). */
  static final boolean FULL_SCALE = Boolean.getBoolean("pgqueue.flow.fullScale");

  /** Worker JVMs per test. */
  static final int JVMS = FULL_SCALE ? 4 : 2;

  static List<ChildJvm> startWorkers(TestDatabase db, int n, int concurrency, int staleMs) throws Exception {
    List<ChildJvm> children = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      children.add(ChildJvm.start(FlowWorkerProcess.class, db.jdbcUrlWithCredentials(), QUEUE,
          String.valueOf(concurrency), String.valueOf(staleMs / 5), String.valueOf(staleMs)));
    }
    for (ChildJvm c : children) {
      await().atMost(Duration.ofSeconds(60)).until(() -> c.printed("READY"));
    }
    return children;
  }

  static void enqueue(TestDatabase db, int jobs, int workMillis) {
    JobQueue queue = JobQueue.create(db.dataSource());
    EnqueueOptions flow = EnqueueOptions.builder().queue(QUEUE).build();
    queue.enqueueAll(IntStream.range(0, jobs)
        .mapToObj(n -> NewJob.of(LedgerJobs.WORK, new LedgerJobs.Work(n, workMillis, 0), flow)).toList());
  }

  static long count(TestDatabase db, String where) {
    return db.queryLong("SELECT count(*) FROM ledger WHERE " + where);
  }

  @Test
  void pauseDuringARunStopsEveryStartOnceEveryWorkerRecordedIt(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute(FlowWorkerProcess.CREATE_CLAIMS);
    db.execute("TRUNCATE ledger, claims");
    int jobs = FULL_SCALE ? 20_000 : 3_000;
    enqueue(db, jobs, 2);
    JobQueue queue = JobQueue.create(db.dataSource());
    List<ChildJvm> children = startWorkers(db, JVMS, 8, 2_000);
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> count(db, "outcome = 'succeeded'") >= jobs / 5);
      queue.pause(QUEUE);
      // The moment the last live worker had recorded the pause (observed: at most this late).
      await().pollInterval(Duration.ofMillis(5)).atMost(Duration.ofSeconds(10)).until(() -> db.queryLong(
          "SELECT count(*) FROM pgqueue.workers WHERE NOT ('" + QUEUE + "' = ANY(coalesce(paused_queues, '{}')))") == 0);
      db.execute("CREATE TABLE paused_at AS SELECT clock_timestamp() AS t");
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isEqualTo(JVMS);

      await().atMost(Duration.ofSeconds(10))
          .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 0);
      long startedWhilePaused = count(db, "outcome = 'started'");
      // Nothing starts while paused, over many poll intervals.
      await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() ->
          count(db, "outcome = 'started'") == startedWhilePaused
              && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 0);
      assertThat(db.queryLong("SELECT count(*) FROM claims WHERE at > (SELECT t FROM paused_at)"))
          .as("jobs claimed after every worker recorded the pause").isZero();
      long handedBefore = count(db, "outcome = 'started' AND at > (SELECT t FROM paused_at)");
      assertThat(handedBefore)
          .as("handlers entered before the record, whose ledger row came later: at most the running slots")
          .isLessThanOrEqualTo(8L * JVMS);
      long released = children.stream().mapToLong(c -> c.lines.stream()
          .filter(l -> l.contains("is paused: released")).count()).sum();

      queue.resume(QUEUE);
      await().atMost(Duration.ofSeconds(FULL_SCALE ? 600 : 120)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.check(db, jobs, "pause during a run");
      assertThat(count(db, "attempt > 1")).as("attempts charged (the released buffers were not)").isZero();
      System.out.printf("PAUSE: %d of %d jobs started before the pause; %d handler ledger rows after the"
              + " record (entered before it); %d workers released buffered jobs%n",
          startedWhilePaused, jobs, handedBefore, released);
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }

  /**
   * The most handler runs ever overlapping, from the ledger's start and end rows (database clock).
   * An attempt with a start and no end was cut short by a kill; it ends at {@code killedAt}.
   */
  static long maxOverlap(TestDatabase db, String killedAt) {
    return db.queryLong(
        "WITH iv AS ("
            + " SELECT s.at AS t0, coalesce(e.at, " + killedAt + ") AS t1 FROM ledger s"
            + " LEFT JOIN ledger e ON e.n = s.n AND e.attempt = s.attempt AND e.outcome IN ('succeeded', 'failed')"
            + " WHERE s.outcome = 'started'),"
            + " ev AS (SELECT t0 AS t, 1 AS d FROM iv UNION ALL SELECT t1, -1 FROM iv)"
            // At equal times an end comes before a start: the later run began once the other had ended.
            + " SELECT coalesce(max(run), 0) FROM (SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS run FROM ev) x");
  }

  @Test
  void globalLimitHoldsAcrossWorkerJvms(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute(FlowWorkerProcess.CREATE_CLAIMS);
    db.execute("TRUNCATE ledger, claims");
    int jobs = FULL_SCALE ? 2_000 : 400;
    JobQueue.create(db.dataSource()).setConcurrencyLimit(QUEUE, 3);
    enqueue(db, jobs, 20);
    List<ChildJvm> children = startWorkers(db, JVMS, 10, 2_000);
    try {
      await().atMost(Duration.ofSeconds(FULL_SCALE ? 600 : 120)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.check(db, jobs, "global limit 3, " + JVMS + " JVMs at concurrency 10");
      long overlap = maxOverlap(db, "NULL");
      assertThat(overlap).as("handler runs overlapping at most").isEqualTo(3);
      assertThat(count(db, "attempt > 1")).as("attempts charged to jobs held back by the limit").isZero();
      System.out.printf("LIMIT: %d jobs, at most %d running at once (limit 3); per JVM: %s%n", jobs, overlap,
          db.queryLong("SELECT count(DISTINCT pid) FROM ledger") + " JVMs ran jobs");
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }

  @Test
  void perKeyLimitHoldsAcrossWorkerJvms(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute(FlowWorkerProcess.CREATE_CLAIMS);
    db.execute("TRUNCATE ledger, claims");
    int keys = 1_000;
    int jobs = 2 * keys;
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.setKeyConcurrencyLimit(QUEUE, 1);
    // Job n has key n % 1000: each key's two jobs far apart in the ordinary order.
    queue.enqueueAll(IntStream.range(0, jobs)
        .mapToObj(n -> NewJob.of(LedgerJobs.WORK, new LedgerJobs.Work(n, 5, 0),
            EnqueueOptions.builder().queue(QUEUE).concurrencyKey("k" + (n % keys)).build()))
        .toList());
    List<ChildJvm> children = startWorkers(db, 2, 10, 2_000);
    try {
      await().atMost(Duration.ofSeconds(180)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.check(db, jobs, "per-key limit 1, 1,000 keys, 2 JVMs at concurrency 10");
      long overlapping = db.queryLong(
          "WITH runs AS ("
              + " SELECT s.n % " + keys + " AS k, s.job_id, s.attempt, s.at AS started, e.at AS ended FROM ledger s"
              + " JOIN ledger e ON e.job_id = s.job_id AND e.attempt = s.attempt AND e.outcome = 'succeeded'"
              + " WHERE s.outcome = 'started')"
              + " SELECT count(*) FROM runs a JOIN runs b ON a.k = b.k AND (a.job_id, a.attempt) < (b.job_id, b.attempt)"
              + " AND a.started < b.ended AND b.started < a.ended");
      assertThat(overlapping).as("pairs of overlapping runs of one key (database clock)").isZero();
      assertThat(count(db, "attempt > 1")).as("attempts charged to jobs held back by their key's limit").isZero();
      assertThat(db.queryLong("SELECT count(DISTINCT pid) FROM ledger")).as("JVMs that ran jobs").isEqualTo(2);
      System.out.printf("PER-KEY: %d jobs over %d keys (limit 1) in 2 JVMs: no overlapping runs of one key%n", jobs, keys);
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }

  @Test
  void aKilledWorkerGivesItsSlotsBackAfterTheStaleThreshold(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute(FlowWorkerProcess.CREATE_CLAIMS);
    db.execute("TRUNCATE ledger, claims");
    int jobs = FULL_SCALE ? 600 : 150;
    JobQueue.create(db.dataSource()).setConcurrencyLimit(QUEUE, 3);
    enqueue(db, jobs, 150);
    List<ChildJvm> children = startWorkers(db, JVMS, 10, 1_000);
    try {
      String holder = "SELECT w.pid FROM pgqueue.jobs j JOIN pgqueue.workers w ON w.id = j.locked_by"
          + " WHERE j.state = 'running' GROUP BY w.pid ORDER BY count(*) DESC LIMIT 1";
      await().pollInterval(Duration.ofMillis(5)).atMost(Duration.ofSeconds(60))
          .until(() -> count(db, "outcome = 'succeeded'") >= 30);
      // The victim is frozen (SIGSTOP) before its slots are counted, so it cannot finish them in
      // between (under load a 150 ms job easily ended between the query and the kill); when it
      // holds none, it is thawed and another try made. SIGKILL then ends it without a word to the
      // database, as kill -9 of a running worker does.
      ChildJvm victim = null;
      long victimId = 0;
      long held = 0;
      for (int tries = 0; tries < 100 && held == 0; tries++) {
        if (db.queryLong("SELECT count(*) FROM (" + holder + ") x") == 0) {
          Thread.sleep(5);
          continue;
        }
        long victimPid = db.queryLong(holder);
        victim = children.stream().filter(c -> c.pid() == victimPid).findFirst().orElseThrow();
        victimId = db.queryLong("SELECT id FROM pgqueue.workers WHERE pid = " + victim.pid());
        signal(victim, "STOP");
        held = db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running' AND locked_by = " + victimId);
        if (held == 0) {
          signal(victim, "CONT");
        }
      }
      assertThat(held).as("precondition: the worker to kill holds slots").isPositive();
      victim.kill();
      db.execute("CREATE TABLE killed_at AS SELECT clock_timestamp() AS t");

      await().atMost(Duration.ofSeconds(FULL_SCALE ? 600 : 120)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.Result r = LedgerCheck.check(db, jobs, "global limit 3, one of " + JVMS + " JVMs killed");
      long overlap = maxOverlap(db, "(SELECT t FROM killed_at)");
      assertThat(overlap).as("handler runs overlapping at most (a killed run ends at the kill)").isBetween(1L, 3L);
      assertThat(r.interruptedAttempts()).as("attempts cut short by the kill").isLessThanOrEqualTo(held);
      assertThat(r.attemptsStarted() - jobs).as("reruns: only the killed worker's jobs").isLessThanOrEqualTo(held);
      long backAfterMs = db.queryLong(
          "SELECT (extract(epoch FROM min(l.at) - (SELECT t FROM killed_at)) * 1000)::bigint FROM ledger l"
              + " WHERE l.outcome = 'started' AND l.attempt = 2");
      // A rescued job goes back with run_at = now(), behind the backlog: this is when it ran again,
      // not when its slot came back (the rescue, after the stale threshold).
      System.out.printf("LIMIT+KILL: %d slots held by the killed worker; its jobs ran again %d ms after"
          + " the kill (stale threshold 1000 ms, then queued behind the backlog); at most %d running at once%n",
          held, backAfterMs, overlap);
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }

  static void signal(ChildJvm child, String signal) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(child.pid())).inheritIO().start();
    assertThat(kill.waitFor()).as("kill -%s %d", signal, child.pid()).isZero();
  }

  /** The most rows of {@code table} whose {@code at} falls in a window of {@code ms} starting at one of them. */
  static long maxInWindow(TestDatabase db, String table, String where, int ms) {
    return db.queryLong("SELECT coalesce(max((SELECT count(*) FROM " + table + " b WHERE " + where.replace("%", "b")
        + " AND b.at >= a.at AND b.at < a.at + interval '" + ms + " milliseconds')), 0) FROM " + table + " a WHERE "
        + where.replace("%", "a"));
  }

  @Test
  void rateLimitHoldsAcrossWorkerJvmsWithRetries(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute(FlowWorkerProcess.CREATE_CLAIMS);
    db.execute("TRUNCATE ledger, claims");
    // 20 s at 50/s with the scale; about 8 s in CI.
    int jobs = FULL_SCALE ? 1_000 : 380;
    JobQueue.create(db.dataSource()).setRateLimit(QUEUE, RateLimit.of(50, Duration.ofSeconds(1)));
    JobQueue queue = JobQueue.create(db.dataSource());
    EnqueueOptions flow = EnqueueOptions.builder().queue(QUEUE).build();
    // 5% of attempts fail and are retried (max 25 attempts: none is discarded in practice).
    queue.enqueueAll(IntStream.range(0, jobs)
        .mapToObj(n -> NewJob.of(LedgerJobs.WORK, new LedgerJobs.Work(n, 5, 5), flow)).toList());
    List<ChildJvm> children = startWorkers(db, JVMS, 10, 2_000);
    try {
      await().atMost(Duration.ofSeconds(FULL_SCALE ? 600 : 120)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.Result r = LedgerCheck.check(db, jobs, "rate limit 50/s burst 1, " + JVMS + " JVMs, 5% failing");
      long claims = db.queryLong("SELECT count(*) FROM claims");
      assertThat(claims).as("every attempt recorded its claim").isEqualTo(r.attemptsStarted());
      long maxClaims = maxInWindow(db, "claims", "true", 1_000);
      assertThat(maxClaims).as("starts (claims, database clock) in any 1 s window: at most 50 + burst 1")
          .isLessThanOrEqualTo(51);
      long maxHandlerStarts = maxInWindow(db, "ledger", "%.outcome = 'started'", 1_000);
      double avg = db.queryLong("SELECT ((count(*) - 1) * 1000000 / (extract(epoch FROM max(at) - min(at)) * 1000))::bigint"
          + " FROM claims") / 1000.0;
      assertThat(avg).as("average starts per second").isLessThanOrEqualTo(51.0);
      String gaps = db.queryLong("SELECT (percentile_cont(0.5) WITHIN GROUP (ORDER BY g) * 1000)::bigint FROM"
          + " (SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at)) AS g FROM claims) x") + "/"
          + db.queryLong("SELECT (percentile_cont(0.9) WITHIN GROUP (ORDER BY g) * 1000)::bigint FROM"
          + " (SELECT extract(epoch FROM at - lag(at) OVER (ORDER BY at)) AS g FROM claims) x");
      System.out.printf("RATE: %d attempts (%d planned failures retried): at most %d claims and %d handler starts"
          + " in a 1 s window (limit 50 + burst 1); average %.1f starts/s (target 50); gaps between claims"
          + " p50/p90 %s ms (20 ms when on time)%n",
          r.attemptsStarted(), r.plannedFailures(), maxClaims, maxHandlerStarts, avg, gaps);
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }

  @Test
  void keyRateLimitHoldsAcrossWorkerJvmsWithRetries(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute(FlowWorkerProcess.CREATE_CLAIMS);
    db.execute("TRUNCATE ledger, claims");
    int keys = 4;
    int jobs = FULL_SCALE ? 1_600 : 320; // 80 per key at 20/s: about 4 s (20 s at full scale)
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.setKeyRateLimit(QUEUE, RateLimit.of(20, Duration.ofSeconds(1)));
    // Job n has key n % 4; 5% of attempts fail and are retried, each retry taking its key's token.
    queue.enqueueAll(IntStream.range(0, jobs)
        .mapToObj(n -> NewJob.of(LedgerJobs.WORK, new LedgerJobs.Work(n, 5, 5),
            EnqueueOptions.builder().queue(QUEUE).concurrencyKey("k" + (n % keys)).build()))
        .toList());
    List<ChildJvm> children = startWorkers(db, JVMS, 10, 2_000);
    try {
      await().atMost(Duration.ofSeconds(FULL_SCALE ? 600 : 120)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.Result r = LedgerCheck.check(db, jobs, "rate limit 20/s burst 1 per key, 4 keys, " + JVMS + " JVMs, 5% failing");
      assertThat(db.queryLong("SELECT count(*) FROM claims")).as("every attempt recorded its claim").isEqualTo(r.attemptsStarted());
      long perKey = db.queryLong("SELECT max((SELECT count(*) FROM claims b WHERE b.n % " + keys + " = a.n % " + keys
          + " AND b.at >= a.at AND b.at < a.at + interval '1 second')) FROM claims a");
      assertThat(perKey).as("claims of one key (database clock) in any 1 s window: at most 20 + burst 1")
          .isLessThanOrEqualTo(21);
      long all = maxInWindow(db, "claims", "true", 1_000);
      assertThat(db.queryLong("SELECT count(DISTINCT pid) FROM claims")).as("JVMs that claimed").isEqualTo(JVMS);
      System.out.printf("KEY RATE: %d attempts (%d planned failures retried) over %d keys in %d JVMs: at most %d"
          + " claims of one key in a 1 s window (limit 20 + burst 1), %d of all keys%n",
          r.attemptsStarted(), r.plannedFailures(), keys, JVMS, perKey, all);
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }
}
