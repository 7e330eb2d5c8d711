package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The seeded, replayable fault-injection property test: several real {@link Worker}s run thousands
 * of {@link LedgerJobs} jobs against real PostgreSQL while {@link FaultInjection} breaks their
 * connections (lost replies after the server committed, backends terminated mid-transaction,
 * {@code close()} that throws, slow statements, stalled heartbeats). Enqueueing, the handlers'
 * ledger and the checks use a separate, uninjected pool. Afterwards the run must show:
 *
 * <ol>
 *   <li>every job succeeded or is discarded, none left {@code available} or {@code running};
 *   <li>no job ran twice at overlapping times while the owner of the first run was alive (its
 *       last heartbeat, by the database clock, within its own stale threshold, as recorded on its
 *       {@code workers} row, when the second run's claim was made);
 *   <li>nothing is left {@code running} under a live worker (by its own threshold) once all is
 *       quiet;
 *   <li>no attempt was charged for a job that never started it (jobs rescued from a worker judged
 *       dead are exempt);
 *   <li>no job was deleted as succeeded while the attempt holding it had not succeeded;
 *   <li>and {@link LedgerCheck}'s invariants (no loss, the last attempt is the one that succeeded,
 *       no attempt number started twice).
 * </ol>
 *
 * <p>The evidence comes from the database itself: triggers created by the test log every heartbeat
 * (the {@code workers} row's {@code heartbeat_at} and {@code stale_after_ms}) and every change of a job's state with {@code
 * clock_timestamp()}; the handlers log each attempt's start and end in the ledger.
 *
 * <p>Settings (system properties): {@code pgqueue.fault.seed} (replay one seed), {@code
 * pgqueue.fault.seeds} (how many seeds; default 3, fixed seeds 1..3 unless a seed or a duration
 * is given), {@code pgqueue.fault.minutes} (total time the workers run under faults, split over
 * the seeds; default 3 × 15 s, a CI budget of about 90 s with the quiet phases). A long run: {@code
 * mvn -B test -pl pgqueue-core -am -Dtest=FaultInjectionTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dpgqueue.fault.minutes=30}. Over all its seeds a run must have injected every kind of fault, and
 * faults into every kind of worker statement ({@link FaultInjection.StatementClass#TARGETS}): each
 * at least once in CI, at least 100 times per 30 minutes in a long run.
 */
@Tag("process")
@Tag("fault")
class FaultInjectionTest {

  static final int WORKERS = 3;
  static final int CONCURRENCY = 4;
  /**
   * Each worker's own heartbeat interval and stale threshold (ms): a fleet with mixed settings, each
   * worker judged by the threshold on its own row.
   */
  static final long[] HEARTBEAT_MS = {100, 150, 200};
  static final long[] STALE_MS = {600, 900, 1200};
  /** Short, so pruning runs (once a second) under faults; see {@link #EVIDENCE} for what it deletes. */
  static final Duration RETENTION = Duration.ofSeconds(2);
  static final int FAIL_PERCENT = 10;
  static final int MAX_ATTEMPTS = 25;
  /** Jobs enqueued per second while faults run. */
  static final int RATE = 100;
  static final long DEFAULT_SEED_MILLIS = 15_000;
  /** With no change at all for this long, the run is quiet: whatever is left is stuck. */
  static final Duration QUIET = Duration.ofSeconds(8);
  static final Duration SETTLE_CAP = Duration.ofSeconds(120);
  static final int EXAMPLES = 10;

  static TestPostgres server;

  @BeforeAll
  static void startServer() {
    server = TestPostgres.startEmbedded();
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  @TestFactory
  Stream<DynamicTest> seededRunsKeepEveryGuarantee() {
    Long given = Long.getLong("pgqueue.fault.seed");
    String minutes = System.getProperty("pgqueue.fault.minutes");
    int seeds = Integer.getInteger("pgqueue.fault.seeds",
        given != null ? 1 : minutes != null ? Math.max(3, (int) (Double.parseDouble(minutes) / 5)) : 3);
    long perSeed = minutes != null ? (long) (Double.parseDouble(minutes) * 60_000 / seeds) : DEFAULT_SEED_MILLIS;
    long first = given != null ? given : minutes != null ? System.nanoTime() & 0xFFFFFFFFL : 1;
    System.out.printf("FAULT INJECTION: %d seeds from %d, %d ms of faults each%n", seeds, first, perSeed);
    // A long run must inject at least 100 faults of each kind and into each kind of statement
    // (pro rata for a shorter one); CI at least one over its seeds: a loaded machine runs fewer
    // statements per second, and one seed alone may miss a rare kind.
    long required = minutes == null ? 1 : Math.max(1, Math.round(100 * Double.parseDouble(minutes) / 30));
    Totals totals = new Totals();
    return Stream.concat(
        LongStream.range(first, first + seeds)
            .mapToObj(seed -> DynamicTest.dynamicTest("seed " + seed, () -> new Run(seed, perSeed, totals).run())),
        Stream.of(DynamicTest.dynamicTest("every kind of fault and of statement was injected over all seeds",
            () -> totals.check(required))));
  }

  /** Figures summed over the seeds of one test run, printed and checked after the last seed. */
  static final class Totals {
    final Map<String, Long> kinds = new TreeMap<>();
    final Map<String, Long> classes = new TreeMap<>();
    final Map<String, Long> figures = new LinkedHashMap<>();
    int seeds;

    synchronized void add(List<FaultInjection> faults, Map<String, Long> runFigures) {
      seeds++;
      for (FaultInjection f : faults) {
        for (FaultInjection.Kind k : FaultInjection.Kind.values()) {
          kinds.merge(k.name(), f.count(k), Long::sum);
        }
        f.classCounts().forEach((c, n) -> classes.merge(c.name(), n, Long::sum));
      }
      runFigures.forEach((k, v) -> figures.merge(k, v, Long::sum));
    }

    synchronized void check(long required) {
      System.out.printf("FAULT TOTAL over %d seed(s): injected %s%n", seeds, kinds);
      System.out.printf("FAULT TOTAL over %d seed(s): by statement kind %s%n", seeds, classes);
      System.out.printf("FAULT TOTAL over %d seed(s): %s%n", seeds, figures);
      assertThat(seeds).as("seeds run").isPositive();
      List<String> short_ = new ArrayList<>();
      for (FaultInjection.Kind k : FaultInjection.Kind.values()) {
        if (kinds.getOrDefault(k.name(), 0L) < required) {
          short_.add(k + " faults: " + kinds.getOrDefault(k.name(), 0L));
        }
      }
      for (FaultInjection.StatementClass c : FaultInjection.StatementClass.TARGETS) {
        if (classes.getOrDefault(c.name(), 0L) < required) {
          short_.add("faults into " + c + " statements: " + classes.getOrDefault(c.name(), 0L));
        }
      }
      assertThat(short_)
          .as("kinds of fault or statement with fewer than %d injected faults (the run proves nothing about them)", required)
          .isEmpty();
    }
  }

  /**
   * The schedule is what makes a seed replayable: the same (seed, worker, statement kind, ordinal)
   * always gets the same fault, different seeds get different schedules, and every kind comes up
   * at about its configured rate.
   */
  @Test
  void theFaultScheduleIsAPureFunctionOfTheSeed() {
    Map<FaultInjection.Kind, Integer> kinds = new TreeMap<>();
    int differ = 0;
    int claimLost = 0;
    for (String key : List.of("POOL/CLAIM/exec", "POOL/COMPLETE/commit", "POOL/SETTLE/close", "CONTROL/HEARTBEAT/exec",
        "CONTROL/REGISTER/exec", "POOL/RELEASE_LOST/exec", "POOL/PRUNE/exec")) {
      for (long i = 0; i < 20_000; i++) {
        FaultInjection.Decision d = FaultInjection.schedule(42, 1, key, i, 600);
        assertThat(FaultInjection.schedule(42, 1, key, i, 600)).isEqualTo(d);
        if (!d.equals(FaultInjection.schedule(43, 1, key, i, 600))) {
          differ++;
        }
        if (d.kind() != null) {
          kinds.merge(d.kind(), 1, Integer::sum);
        }
        if (key.equals("POOL/CLAIM/exec") && d.kind() == FaultInjection.Kind.LOST_REPLY) {
          claimLost++;
        }
        if (d.kind() == FaultInjection.Kind.HEARTBEAT_STALL) {
          assertThat(d.delayMillis()).isBetween(120L, 360L);
        } else if (d.kind() == FaultInjection.Kind.HEARTBEAT_STALL_PAST) {
          assertThat(d.delayMillis()).isBetween(660L, 1200L);
        } else if (d.kind() == FaultInjection.Kind.SLOW) {
          assertThat(d.delayMillis()).isBetween(50L, 500L);
        }
      }
    }
    assertThat(differ).as("another seed, another schedule").isGreaterThan(500);
    assertThat(kinds).containsOnlyKeys(FaultInjection.Kind.values());
    // 20,000 claims at 30 per mille: about 600 lost replies.
    assertThat(claimLost).isBetween(450, 750);
  }

  /** A job's events (claims with their owner, releases, rescues, retries), for the examples. */
  static final String HISTORY =
      "(SELECT string_agg(e.event || ' a' || e.attempt || coalesce(' w' || e.owner, '')"
          + " || ' ' || to_char(e.at, 'HH24:MI:SS.MS'), ' > ' ORDER BY e.seq) FROM job_log e WHERE e.job_id = r.job_id)";

  /** One seed's run: its own database, workers, faults and checks. */
  static final class Run {
    final long seed;
    final long runMillis;
    final TestDatabase db;
    final HikariDataSource clean;
    final List<HikariDataSource> pools = new ArrayList<>();
    final List<FaultInjection> faults = new ArrayList<>();
    final List<Worker> workers = new ArrayList<>();
    final Map<String, List<String>> violations = new LinkedHashMap<>();
    final AtomicInteger fed = new AtomicInteger();
    final Totals totals;

    Run(long seed, long runMillis, Totals totals) {
      this.seed = seed;
      this.runMillis = runMillis;
      this.totals = totals;
      this.db = server.createDatabase("pgqueue");
      Migrator.create(db.dataSource()).migrate();
      db.execute(LedgerJobs.CREATE_LEDGER);
      db.execute(EVIDENCE);
      this.clean = pool(db, "pgqueue-fault-clean", 3 * CONCURRENCY + 6);
    }

    void run() throws Exception {
      System.out.printf(
          "FAULT seed %d: %d workers x %d slots, heartbeat %s ms, stale after %s ms, %d jobs/s for %d ms;"
              + " replay with -Dpgqueue.fault.seed=%d -Dpgqueue.fault.minutes=%s%n",
          seed, WORKERS, CONCURRENCY, java.util.Arrays.toString(HEARTBEAT_MS), java.util.Arrays.toString(STALE_MS),
          RATE, runMillis, seed,
          runMillis / 60_000.0);
      printSchedulePreview();
      long t0 = System.nanoTime();
      try {
        startWorkers();
        System.out.printf("FAULT seed %d: workers registered after %d ms; faults on%n", seed, millisSince(t0));
        faults.forEach(f -> f.enabled(true));
        feed();
        faults.forEach(f -> f.enabled(false));
        long calm = System.nanoTime();
        boolean settled = awaitQuiet();
        System.out.printf("FAULT seed %d: faults off after %d ms; %s %d ms later%n", seed, millisSince(t0),
            settled ? "settled" : "quiet but NOT settled", millisSince(calm));
        checkLeftOver();
      } finally {
        workers.forEach(Worker::close);
        pools.forEach(HikariDataSource::close);
      }
      try {
        check();
        report();
      } finally {
        clean.close();
        db.drop();
      }
      if (!violations.isEmpty()) {
        StringBuilder msg = new StringBuilder("fault injection seed " + seed + " broke "
            + violations.size() + " guarantee(s) (replay: -Dpgqueue.fault.seed=" + seed + "):");
        violations.forEach((check, examples) -> {
          msg.append("\n- ").append(check);
          examples.forEach(e -> msg.append("\n    ").append(e));
        });
        throw new AssertionError(msg.toString());
      }
    }

    private void printSchedulePreview() {
      StringBuilder s = new StringBuilder("FAULT seed " + seed + " schedule of worker 0 (first 400 claims):");
      for (long i = 0; i < 400; i++) {
        FaultInjection.Decision d = FaultInjection.schedule(seed, 0, "POOL/CLAIM/exec", i, STALE_MS[0]);
        if (d.kind() != null) {
          s.append(' ').append(i).append('=').append(d.kind()).append(d.delayMillis() > 0 ? "/" + d.delayMillis() + "ms" : "");
        }
      }
      System.out.println(s);
    }

    private void startWorkers() {
      for (int i = 0; i < WORKERS; i++) {
        String app = "pgqueue-fault-w" + i;
        HikariDataSource pool = pool(db, app, CONCURRENCY + 4);
        pools.add(pool);
        FaultInjection f = new FaultInjection(seed, i, STALE_MS[i], clean, pool::evictConnection);
        faults.add(f);
        String direct = db.jdbcUrlWithCredentials() + "&ApplicationName=" + app + "-control&tcpKeepAlive=true";
        AtomicReference<Worker> self = new AtomicReference<>();
        Worker w = Worker.builder(f.wrap(pool))
            .heartbeatInterval(Duration.ofMillis(HEARTBEAT_MS[i]))
            .staleAfter(Duration.ofMillis(STALE_MS[i]))
            .discardedRetention(RETENTION)
            .queue("default", CONCURRENCY)
            .pollInterval(Duration.ofMillis(100))
            .backoff(Backoff.fixed(Duration.ZERO))
            .jobTimeout(Duration.ofSeconds(30))
            .shutdownTimeout(Duration.ofSeconds(5))
            .dedicatedConnection(f.dedicated(() -> DriverManager.getConnection(direct)))
            .handle(LedgerJobs.WORK, LedgerJobs.handler(clean, () -> self.get().workerId(), this::fails))
            .build();
        self.set(w);
        workers.add(w);
        w.start();
      }
      await().atMost(Duration.ofSeconds(60)).until(() -> workers.stream().allMatch(w -> w.workerId() != 0));
    }

    /** Planned failures: a pure function of (seed, job, attempt). */
    boolean fails(LedgerJobs.Work work, int attempt) {
      return new SplittableRandom(seed * 31 + work.n() * 1_000_003L + attempt).nextInt(100) < work.failPercent();
    }

    /** Enqueues RATE jobs a second, in batches every 100 ms, for the run's duration. */
    private void feed() throws InterruptedException {
      JobQueue queue = JobQueue.create(clean);
      SplittableRandom work = new SplittableRandom(seed);
      EnqueueOptions options = EnqueueOptions.builder().maxAttempts(MAX_ATTEMPTS).build();
      long start = System.nanoTime();
      long batches = 0;
      while (millisSince(start) < runMillis) {
        int from = fed.get();
        List<LedgerJobs.Work> batch = IntStream.range(from, from + RATE / 10)
            .mapToObj(n -> new LedgerJobs.Work(n, work.nextInt(21), FAIL_PERCENT))
            .toList();
        queue.enqueueAll(LedgerJobs.WORK, batch, options);
        fed.addAndGet(batch.size());
        batches++;
        // Pacing only (the feed rate); nothing is concluded from this wait.
        long due = start + batches * 100_000_000L;
        long wait = (due - System.nanoTime()) / 1_000_000;
        if (wait > 0) {
          Thread.sleep(wait);
        }
      }
    }

    /**
     * Waits until every job succeeded or was discarded, or until nothing changed for {@link
     * #QUIET} (no job row, job event or ledger row): then whatever is left is stuck.
     *
     * @return true if settled
     */
    private boolean awaitQuiet() {
      String signature =
          "SELECT (SELECT count(*) FROM pgqueue.jobs WHERE state <> 'discarded') || '/'"
              + " || (SELECT count(*) FROM job_log) || '/' || (SELECT count(*) FROM ledger)";
      AtomicReference<String> last = new AtomicReference<>("");
      long[] changedAt = {System.nanoTime()};
      await().atMost(SETTLE_CAP).pollInterval(Duration.ofMillis(250)).until(() -> {
        if (remaining() == 0) {
          return true;
        }
        String now = queryString(signature);
        if (!now.equals(last.getAndSet(now))) {
          changedAt[0] = System.nanoTime();
        }
        return System.nanoTime() - changedAt[0] > QUIET.toNanos();
      });
      return remaining() == 0;
    }

    long remaining() {
      return db.queryLong(LedgerCheck.notStuckSql(db.schema()));
    }

    /** Once quiet, before the workers close: jobs left running under a live worker, or not settled. */
    private void checkLeftOver() {
      // Each worker is alive by its own threshold, from its row (as the rescuer judges it).
      String alive = "w.heartbeat_at > now() - w.stale_after_ms * interval '1 millisecond'";
      violation("jobs left running under a live worker once all was quiet", query(
          "SELECT 'job ' || j.id || ' (n ' || (j.payload->>'n') || ') attempt ' || j.attempt || ' locked by worker '"
              + " || j.locked_by || ' since ' || j.locked_at || '; worker heartbeat ' || (clock_timestamp() - w.heartbeat_at)"
              + " || ' ago' FROM pgqueue.jobs j JOIN pgqueue.workers w ON w.id = j.locked_by"
              + " WHERE j.state = 'running' AND " + alive
              + " ORDER BY j.id"));
      violation("jobs neither succeeded nor discarded once all was quiet", query(
          "SELECT 'job ' || j.id || ' (n ' || (j.payload->>'n') || ') ' || j.state || ' attempt ' || j.attempt"
              + " || coalesce(' locked by worker ' || j.locked_by || ' (no live row)', '')"
              + " || ' run_at ' || j.run_at FROM pgqueue.jobs j"
              + " WHERE j.state <> 'discarded' AND NOT (j.state = 'running' AND EXISTS (SELECT 1 FROM pgqueue.workers w"
              + "   WHERE w.id = j.locked_by AND " + alive + "))"
              + " ORDER BY j.id"));
    }

    /** The checks on the evidence, after the workers closed. */
    private void check() {
      db.execute(RESTORE_PRUNED);
      db.execute(RUNS);
      violation("a job ran twice at overlapping times while the first run's owner was alive", query(
          "SELECT 'job ' || a.job_id || ' (n ' || a.n || '): attempt ' || a.attempt || ' by worker ' || a.owner"
              + " || ' ran ' || a.started || ' .. ' || a.ended || '; attempt ' || b.attempt || ' by worker ' || b.owner"
              + " || ' claimed ' || b.claimed || ', started ' || b.started || '; worker ' || a.owner"
              + " || ' had heartbeated ' || (b.claimed - hb.last) || ' before that claim (its threshold '"
              + " || hb.stale_ms || ' ms); history: ' || "
              + HISTORY.replace("r.job_id", "a.job_id")
              + " FROM runs a JOIN runs b ON a.job_id = b.job_id AND (a.claimed, a.attempt, a.k) < (b.claimed, b.attempt, b.k)"
              + " CROSS JOIN LATERAL (SELECT max(h.beat_at) AS last, max(h.stale_after_ms) AS stale_ms FROM heartbeat_log h"
              + "   WHERE h.worker_id = a.owner AND h.beat_at <= b.claimed) hb"
              + " WHERE b.started < a.ended AND a.started < b.ended"
              + "   AND hb.last > b.claimed - hb.stale_ms * interval '1 millisecond'"
              + " ORDER BY a.job_id"));
      violation("an attempt ran without a claim the database recorded", query(
          "SELECT 'job ' || job_id || ' (n ' || n || ') attempt ' || attempt || ' started ' || started"
              + " FROM runs WHERE claimed IS NULL ORDER BY job_id"));
      violation("an attempt number started twice (one claim handed to two runs, or a claim reused)", query(
          "SELECT 'job ' || r.job_id || ' (n ' || r.n || ') attempt ' || r.attempt || ' started ' || count(*) || ' times, by workers '"
              + " || string_agg(coalesce(owner::text, '?'), ', ' ORDER BY started) || '; its history: ' || " + HISTORY
              + " FROM runs r GROUP BY r.job_id, r.n, r.attempt HAVING count(*) > 1 ORDER BY r.job_id"));
      violation("a job was deleted as succeeded while the attempt holding it had not succeeded", query(
          "SELECT 'job ' || r.job_id || ' deleted at attempt ' || r.attempt || coalesce(' under worker ' || r.owner, '')"
              + " || ' at ' || to_char(r.at, 'HH24:MI:SS.MS') || ', no success of that attempt before; ledger: '"
              + " || (SELECT string_agg('a' || l.attempt || ' ' || l.outcome || ' w' || l.pid || ' ' || to_char(l.at, 'HH24:MI:SS.MS'),"
              + "   ' > ' ORDER BY l.at) FROM ledger l WHERE l.job_id = r.job_id) || '; its history: ' || " + HISTORY
              + " FROM job_log r WHERE r.event = 'deleted' AND NOT EXISTS (SELECT 1 FROM ledger l"
              + "   WHERE l.job_id = r.job_id AND l.attempt = r.attempt AND l.outcome = 'succeeded' AND l.at <= r.at)"
              + " ORDER BY r.job_id"));
      violation("an attempt was charged for a job that never started it (no rescue involved)", query(
          "WITH final AS ("
              + "  SELECT job_id, attempt AS f FROM job_log WHERE event = 'deleted'"
              + "  UNION ALL SELECT id, attempt FROM pgqueue.jobs WHERE state = 'discarded'),"
              + " missing AS (SELECT f.job_id, k FROM final f, generate_series(1, f.f) k"
              + "  WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.job_id = f.job_id AND l.attempt = k AND l.outcome = 'started'))"
              + " SELECT 'job ' || m.job_id || ': attempts ' || string_agg(k::text, ', ' ORDER BY k) || ' charged, never started;'"
              + " || ' its history: ' || " + HISTORY.replace("r.job_id", "m.job_id")
              + " FROM missing m WHERE NOT EXISTS (SELECT 1 FROM job_log r WHERE r.job_id = m.job_id AND r.event = 'rescued')"
              + " GROUP BY m.job_id ORDER BY m.job_id"));
      if (violations.isEmpty()) {
        try {
          LedgerCheck.check(db, fed.get(), "fault seed " + seed);
        } catch (AssertionError e) {
          violation("ledger check", List.of(e.getMessage().replace('\n', ' ')));
        }
      }
    }

    private void report() {
      Map<FaultInjection.Kind, Long> perKind = new TreeMap<>();
      Map<String, Long> detail = new TreeMap<>();
      for (FaultInjection f : faults) {
        for (FaultInjection.Kind k : FaultInjection.Kind.values()) {
          perKind.merge(k, f.count(k), Long::sum);
        }
        f.counts().forEach((k, v) -> detail.merge(k, v, Long::sum));
      }
      Map<FaultInjection.StatementClass, Long> perClass = new TreeMap<>();
      faults.forEach(f -> f.classCounts().forEach((c, n) -> perClass.merge(c, n, Long::sum)));
      System.out.printf("FAULT seed %d: injected %s%n", seed, perKind);
      System.out.printf("FAULT seed %d: by statement kind %s%n", seed, perClass);
      System.out.printf("FAULT seed %d: by statement %s%n", seed, detail);
      Map<String, Long> figures = new LinkedHashMap<>();
      figures.put("jobs", (long) fed.get());
      for (String f : List.of(
          "attempts started:SELECT count(*) FROM ledger WHERE outcome = 'started'",
          "planned failures:SELECT count(*) FROM ledger WHERE outcome = 'failed'",
          "successful reruns:SELECT (SELECT count(*) FROM ledger WHERE outcome = 'succeeded')"
              + " - (" + fed.get() + " - (SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'))",
          "discarded:SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'",
          "pruned:SELECT count(*) FROM job_log WHERE event = 'pruned'",
          "claims:SELECT count(*) FROM job_log WHERE event = 'claimed'",
          "rescues:SELECT count(*) FROM job_log WHERE event = 'rescued'",
          "releases:SELECT count(*) FROM job_log WHERE event = 'released'",
          "worker registrations:SELECT count(DISTINCT worker_id) FROM heartbeat_log")) {
        int colon = f.indexOf(':');
        figures.put(f.substring(0, colon), Long.parseLong(queryString(f.substring(colon + 1))));
      }
      figures.put("reruns beyond one attempt per job", figures.get("attempts started") - fed.get());
      figures.put("violated guarantees", (long) violations.size());
      totals.add(faults, figures);
      System.out.printf("FAULT seed %d: %s%n", seed, queryString(
          "SELECT count(*) FILTER (WHERE outcome = 'started') || ' attempts started for ' || " + fed.get()
              + " || ' jobs; reruns beyond one attempt per job ' || (count(*) FILTER (WHERE outcome = 'started') - " + fed.get() + ")"
              + " || '; successes beyond one per job ' || (count(*) FILTER (WHERE outcome = 'succeeded')"
              + "   - (" + fed.get() + " - (SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded')))"
              + " || '; planned failures ' || count(*) FILTER (WHERE outcome = 'failed')"
              + " || '; discarded ' || (SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded')"
              + " || '; claims ' || (SELECT count(*) FROM job_log WHERE event = 'claimed')"
              + " || ', rescues ' || (SELECT count(*) FROM job_log WHERE event = 'rescued')"
              + " || ', releases ' || (SELECT count(*) FROM job_log WHERE event = 'released')"
              + " || '; worker registrations ' || (SELECT count(DISTINCT worker_id) FROM heartbeat_log)"
              + " FROM ledger"));
      System.out.printf("FAULT seed %d: %s%n", seed, queryString(
          "WITH c AS (SELECT e.*, lead(e.event) OVER w AS next_event, lead(e.at) OVER w AS next_at"
              + "   FROM job_log e WINDOW w AS (PARTITION BY e.job_id ORDER BY e.seq)),"
              + " idle AS (SELECT c.*, c.next_at - c.at AS held FROM c WHERE c.event = 'claimed'"
              + "   AND c.next_event IN ('released', 'rescued') AND NOT EXISTS (SELECT 1 FROM ledger l"
              + "     WHERE l.job_id = c.job_id AND l.attempt = c.attempt AND l.outcome = 'started' AND l.at >= c.at AND l.at < c.next_at))"
              + " SELECT 'claims given back unstarted: ' || count(*) FILTER (WHERE next_event = 'released') || ' released, '"
              + " || count(*) FILTER (WHERE next_event = 'rescued') || ' rescued; held unstarted over 2 s: '"
              + " || count(*) FILTER (WHERE held > interval '2 seconds') || ', longest ' || coalesce(max(held)::text, '-')"
              + " FROM idle"));
      System.out.printf("FAULT seed %d: %d violated guarantee(s)%s%n", seed, violations.size(),
          violations.isEmpty() ? "" : ": " + violations.keySet());
      violations.forEach((check, examples) -> {
        System.out.println("  VIOLATION " + check);
        examples.forEach(e -> System.out.println("    " + e));
      });
    }

    /** Records a violated guarantee with its count and the first examples; nothing if none. */
    private void violation(String check, List<String> rows) {
      if (rows.isEmpty()) {
        return;
      }
      List<String> examples = new ArrayList<>();
      examples.add(rows.size() + " case(s)" + (rows.size() > EXAMPLES ? ", the first " + EXAMPLES : "") + ":");
      examples.addAll(rows.subList(0, Math.min(EXAMPLES, rows.size())));
      violations.put(check, examples);
    }

    private List<String> query(String sql) {
      try (Connection c = clean.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
        List<String> rows = new ArrayList<>();
        ResultSetMetaData md = rs.getMetaData();
        while (rs.next()) {
          rows.add(md.getColumnCount() == 1 ? rs.getString(1) : rs.getString(1) + " " + rs.getString(2));
        }
        return rows;
      } catch (SQLException e) {
        throw new IllegalStateException("SQL failed: " + sql, e);
      }
    }

    private String queryString(String sql) {
      List<String> rows = query(sql);
      return rows.isEmpty() ? "" : rows.get(0);
    }
  }

  /**
   * The test's own evidence, in the test database: every heartbeat (and registration) of every
   * worker, and every change of a job's state, stamped with the database clock.
   */
  static final String EVIDENCE =
      """
      CREATE TABLE heartbeat_log (
        worker_id bigint NOT NULL, beat_at timestamptz NOT NULL, stale_after_ms bigint NOT NULL,
        logged_at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE INDEX ON heartbeat_log (worker_id, beat_at);
      CREATE FUNCTION log_heartbeat() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- The worker's own threshold, from its row: the row itself is deleted once it is judged dead.
        INSERT INTO heartbeat_log (worker_id, beat_at, stale_after_ms) VALUES (NEW.id, NEW.heartbeat_at, NEW.stale_after_ms);
        RETURN NULL;
      END $$;
      CREATE TRIGGER workers_heartbeat_log AFTER INSERT OR UPDATE OF heartbeat_at ON pgqueue.workers
        FOR EACH ROW EXECUTE FUNCTION log_heartbeat();

      CREATE TABLE job_log (
        seq bigint GENERATED ALWAYS AS IDENTITY, job_id bigint NOT NULL, event text NOT NULL, attempt int NOT NULL,
        owner bigint, at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE INDEX ON job_log (job_id, attempt);
      CREATE TABLE pruned_jobs (LIKE pgqueue.jobs);
      CREATE FUNCTION log_job() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND OLD.state = 'discarded' THEN
          -- Pruned past the retention: kept aside, and put back before the checks (RESTORE_PRUNED).
          INSERT INTO pruned_jobs SELECT OLD.*;
          INSERT INTO job_log (job_id, event, attempt, owner) VALUES (OLD.id, 'pruned', OLD.attempt, OLD.locked_by);
        ELSIF TG_OP = 'DELETE' THEN
          INSERT INTO job_log (job_id, event, attempt, owner) VALUES (OLD.id, 'deleted', OLD.attempt, OLD.locked_by);
        ELSIF NEW.state = 'running' AND (OLD.state <> 'running' OR OLD.locked_by IS DISTINCT FROM NEW.locked_by) THEN
          INSERT INTO job_log (job_id, event, attempt, owner) VALUES (NEW.id, 'claimed', NEW.attempt, NEW.locked_by);
        ELSIF OLD.state = 'running' AND NEW.state <> 'running' THEN
          INSERT INTO job_log (job_id, event, attempt, owner) VALUES (NEW.id,
            CASE WHEN NEW.attempt < OLD.attempt THEN 'released'
                 WHEN NEW.errors IS DISTINCT FROM OLD.errors AND NEW.errors -> -1 ->> 'kind' = 'rescued' THEN 'rescued'
                 WHEN NEW.state = 'discarded' THEN 'discarded'
                 ELSE 'retried' END,
            NEW.attempt, OLD.locked_by);
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER jobs_log AFTER UPDATE OR DELETE ON pgqueue.jobs FOR EACH ROW EXECUTE FUNCTION log_job();
      CREATE INDEX ON ledger (job_id, attempt);
      """;

  /**
   * Discarded jobs the workers pruned (their retention is {@link #RETENTION}, so that pruning runs
   * under faults), put back once the workers are closed: the checks then see every discarded job.
   */
  static final String RESTORE_PRUNED = "INSERT INTO pgqueue.jobs OVERRIDING SYSTEM VALUE SELECT * FROM pruned_jobs";

  /**
   * Every attempt that reached its handler, from the ledger: start, end (the outcome row; infinity
   * if none), and the claim the database recorded for it, with its owner: the last claim of that
   * attempt number before the start by the worker that ran it (the handler records the running
   * worker's id in the ledger's {@code pid} column), else the last claim of that attempt number
   * before the start (the worker re-registered under a new id between claim and start). A run that
   * started after its claim was given back and taken by another worker is so still attributed to
   * the worker that ran it.
   */
  static final String RUNS =
      """
      CREATE TABLE runs AS
      WITH starts AS (
        SELECT job_id, n, attempt, pid, at AS started,
               row_number() OVER (PARTITION BY job_id, attempt ORDER BY at) AS k
        FROM ledger WHERE outcome = 'started'),
      ends AS (
        SELECT job_id, attempt, at AS ended,
               row_number() OVER (PARTITION BY job_id, attempt ORDER BY at) AS k
        FROM ledger WHERE outcome <> 'started')
      SELECT s.job_id, s.n, s.attempt, s.k, s.started, coalesce(e.ended, 'infinity') AS ended, c.owner, c.at AS claimed
      FROM starts s
      LEFT JOIN ends e USING (job_id, attempt, k)
      LEFT JOIN LATERAL (
        SELECT l.owner, l.at FROM job_log l
        WHERE l.job_id = s.job_id AND l.attempt = s.attempt AND l.event = 'claimed' AND l.at <= s.started
        ORDER BY l.owner = s.pid DESC, l.at DESC LIMIT 1) c ON true;
      CREATE INDEX ON runs (job_id);
      ANALYZE runs;
      """;

  static HikariDataSource pool(TestDatabase db, String name, int size) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrl() + (db.jdbcUrl().contains("?") ? "&" : "?") + "ApplicationName=" + name);
    c.setUsername(db.user());
    c.setPassword(db.password());
    c.setMaximumPoolSize(size);
    // Grow on demand: opening every connection up front costs seconds on a busy 2-core machine.
    c.setMinimumIdle(2);
    c.setConnectionTimeout(5_000);
    c.setValidationTimeout(1_000);
    c.setPoolName(name);
    return new HikariDataSource(c);
  }

  static long millisSince(long t0) {
    return (System.nanoTime() - t0) / 1_000_000;
  }
}
