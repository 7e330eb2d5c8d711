package io.github.pgqueue.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Keeps the benchmark compiling and working: a tiny run of every phase. It asserts that each
 * phase produced its figures, never how fast anything was.
 */
@PgQueueTest
class BenchSmokeTest {

  @Test
  void everyPhaseOfATinyRunReportsItsFigures(TestDatabase db) throws Exception {
    Bench.Options o = Bench.parse(new String[] {"--n", "1000", "--samples", "5", "--ceiling-batches", "50"});
    Map<String, Object> r = new Workload(o, db.jdbcUrl(), db.user(), db.password()).run();

    for (String rate : List.of("enqueue_single", "process_c10", "enqueue_bulk", "process_c20",
        "raw_enqueue_single", "raw_enqueue_single_notify_every", "raw_enqueue_bulk", "raw_process_b50",
        "raw_process_1rt_b50")) {
      assertThat(r).containsKey(rate);
      assertThat(((Number) r.get(rate)).doubleValue()).as(rate).isPositive();
    }
    assertThat(r).doesNotContainKey("process_c10_timed_out");
    assertThat(r.get("latency_n")).isEqualTo(5);
    assertThat(r.get("latency_timeouts")).isEqualTo(0);
    assertThat(((Number) r.get("process_c10_mean_claim")).doubleValue()).isPositive();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
  }

  @Test
  void theRollupComparisonProcessesTheLastPhaseOffThenOn(TestDatabase db) throws Exception {
    db.truncate(); // the other tiny run shares this database
    Bench.Options o = Bench.parse(new String[] {"--n", "1000", "--samples", "2", "--no-ceiling", "--rollup-compare"});
    Map<String, Object> r = new Workload(o, db.jdbcUrl(), db.user(), db.password()).run();

    for (String rate : List.of("process_c20", "process_c20_rollup_off", "process_c20_rollup_on")) {
      assertThat(((Number) r.get(rate)).doubleValue()).as(rate).isPositive();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    // Every phase but the "off" one counted its jobs: warm-up 500, then 3 phases of 1,000.
    assertThat(db.queryLong("SELECT sum(count) FROM pgqueue.job_rollups WHERE outcome = 'succeeded'"))
        .isEqualTo(500 + 3 * 1_000 + 2);
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> Bench.parse(new String[] {"--concurrency", "20", "--rollup-compare"}))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--rollup-compare");
  }

  @Test
  void severalWorkerProcessesEachRunThePhasesConcurrencyAndTheScalingPhasesReportEachCount(TestDatabase db)
      throws Exception {
    db.truncate(); // the other tiny runs share this database
    Bench.Options o = Bench.parse(new String[] {
        "--n", "1000", "--samples", "2", "--no-ceiling", "--worker-processes", "2", "--process-scaling", "1,2",
        "--child-warm-up", "500"});
    Map<String, Object> r = new Workload(o, db.jdbcUrl(), db.user(), db.password()).run();

    for (String rate : List.of("process_c10", "process_c20", "process_c10_x1", "process_c10_x2")) {
      assertThat(((Number) r.get(rate)).doubleValue()).as(rate).isPositive();
      assertThat(((Number) r.get(rate + "_claims")).longValue()).as(rate + "_claims").isPositive();
      assertThat(r).as(rate).doesNotContainKey(rate + "_timed_out");
    }
    // The other process reported its handler calls: the phase ended on the total.
    assertThat(r).containsKey("process_c10_x1_handlers_done_ms").containsKey("process_c10_x2_handlers_done_ms");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    // The worker processes deregistered when they stopped.
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
    // Each other process warmed up on a schema of its own and dropped it (its jobs never reached
    // the phases' table, checked empty above).
    assertThat(db.queryLong("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgqueue\\_warm\\_%'")).isZero();
  }

  @Test
  void aWarmStartRunsTheWarmUpThroughEveryProcessAndCountsOnlyThePhasesJobs(TestDatabase db) throws Exception {
    db.truncate(); // the other tiny runs share this database
    Bench.Options o = Bench.parse(new String[] {
        "--n", "1000", "--samples", "2", "--no-ceiling", "--process-scaling", "1,2", "--scaling-warm-up", "300"});
    Map<String, Object> r = new Workload(o, db.jdbcUrl(), db.user(), db.password()).run();

    for (String rate : List.of("process_c10_x1", "process_c10_x2")) {
      assertThat(((Number) r.get(rate)).doubleValue()).as(rate).isPositive();
      assertThat(r).as(rate).doesNotContainKey(rate + "_timed_out").doesNotContainKey(rate + "_late_start");
      // The warm-up's 300 jobs and their claims are not the phase's: the claimed jobs add up to
      // the phase's 1,000 (mean_claim is rounded to a tenth).
      double claimed = ((Number) r.get(rate + "_claims")).doubleValue() * ((Number) r.get(rate + "_mean_claim")).doubleValue();
      assertThat(claimed).as(rate + " jobs claimed").isBetween(950.0, 1_050.0);
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Bench.parse(new String[] {"--scaling-warm-up", "10"}))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--scaling-warm-up")
        .hasMessageContaining("without --process-scaling");
  }

  @Test
  void theScalingPhasesCanRunTheirWorkersInOneJvm(TestDatabase db) throws Exception {
    db.truncate(); // the other tiny runs share this database
    Bench.Options o = Bench.parse(new String[] {
        "--n", "1000", "--samples", "2", "--no-ceiling", "--concurrency", "10,20", "--process-scaling", "2,1",
        "--scaling-in-one-jvm"});
    Map<String, Object> r = new Workload(o, db.jdbcUrl(), db.user(), db.password()).run();

    for (String rate : List.of("process_c10_x2", "process_c10_x1")) {
      assertThat(((Number) r.get(rate)).doubleValue()).as(rate).isPositive();
      assertThat(((Number) r.get(rate + "_claims")).longValue()).as(rate + "_claims").isPositive();
      assertThat(r).as(rate).doesNotContainKey(rate + "_timed_out");
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
  }

  @Test
  void thePartitioningExperimentReportsBothTables() throws Exception {
    TestDatabase own = io.github.pgqueue.testing.postgres.TestPostgres.server().createDatabase("pgqueue");
    try {
      Map<String, Object> r = PartitionBench.run(own.jdbcUrl(), own.user(), own.password(), 2_000, 1_000, 2);
      for (String figure : List.of("plain_claim_delete_b50", "part_claim_delete_b50", "plain_claim_ms", "part_claim_ms",
          "plain_vacuum_ms", "part_vacuum_ms")) {
        assertThat(((Number) r.get(figure)).doubleValue()).as(figure).isPositive();
      }
      // Every job of the rounds was claimed and deleted, the timed claims were rolled back (their
      // backlog stays available), and the discarded jobs stayed, in their partition.
      assertThat(own.queryLong("SELECT count(*) FROM plain.jobs WHERE state = 'discarded'")).isEqualTo(2_000);
      assertThat(own.queryLong("SELECT count(*) FROM plain.jobs WHERE state = 'available'"))
          .isEqualTo(PartitionBench.CLAIM_BACKLOG);
      assertThat(own.queryLong("SELECT count(*) FROM part.jobs_discarded")).isEqualTo(2_000);
      assertThat(own.queryLong("SELECT count(*) FROM part.jobs_live WHERE state = 'available'"))
          .isEqualTo(PartitionBench.CLAIM_BACKLOG);
      assertThat(own.queryLong("SELECT count(*) FROM part.jobs_live")).isEqualTo(PartitionBench.CLAIM_BACKLOG);
    } finally {
      own.drop();
    }
  }

  @Test
  void processCountsBelowOneAreRefusedByName() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Bench.parse(new String[] {"--worker-processes", "0"}))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--worker-processes").hasMessageContaining("0");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Bench.parse(new String[] {"--process-scaling", "1,0"}))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--process-scaling").hasMessageContaining("[1, 0]");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> Bench.parse(new String[] {"--child-warm-up", "-1"}))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--child-warm-up").hasMessageContaining("-1");
  }

  @Test
  void theLatencyBreakdownTakesSamplesWithAndWithoutTheInProcessWake(TestDatabase db) throws Exception {
    db.truncate(); // the other tiny runs share this database
    Bench.Options o = Bench.parse(new String[] {
        "--n", "1000", "--concurrency", "10", "--samples", "3", "--no-ceiling", "--latency-breakdown"});
    Map<String, Object> r = new Workload(o, db.jdbcUrl(), db.user(), db.password()).run();

    assertThat(r.get("latency_n")).isEqualTo(3);
    assertThat(r.get("latency_notify_only_n")).isEqualTo(3);
    assertThat(r.get("latency_timeouts")).isEqualTo(0);
    assertThat(r.get("latency_notify_only_timeouts")).isEqualTo(0);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
  }

  @Test
  void theBreakdownSplitsASampleIntoItsSegments() {
    PickupTrace t = new PickupTrace();
    PickupTrace.Sample s = t.begin(1_000_000);
    t.at("COMMITTED", 2_000_000, 0);
    t.at("WAKE_LOCAL", 2_100_000, 0);
    t.at("CLAIM_SENT", 2_300_000, 0);
    t.at("CLAIM_RETURNED", 3_300_000, 1);
    t.at("WAKE_NOTIFY", 3_400_000, 0);
    t.at("CLAIM_SENT", 3_500_000, 0); // the NOTIFY's claim, which finds nothing
    t.at("CLAIM_RETURNED", 4_000_000, 0);
    t.at("SLOT_ENTERED", 3_500_000, 0);
    t.handler(3_600_000);
    t.end();
    t.at("COMMITTED", 9_000_000, 0); // after the sample: ignored

    assertThat(PickupTrace.source(s)).isEqualTo("local");
    assertThat(PickupTrace.segments(s)).containsExactly(
        new double[] {1.0, 0.1, 1.4, 0.2, 1.0, 0.2, 0.1, 2.6}, org.assertj.core.data.Offset.offset(1e-9));
    assertThat(PickupTrace.table(Map.of("in-process wake", List.of(s)))).contains("| 1 / 0 / 0 |");
  }

  @Test
  void thePrepareThresholdOptionRunsTheWorkloadAgainWithoutPreparedStatementsBesideTheDefault(TestDatabase db)
      throws Exception {
    String out = mainOutput(db, "--prepare-threshold", "0");
    assertThat(out).contains("prepare_threshold=0")
        .contains("| pt0_enqueue_single |").contains("| pt0_process_c20 |").contains("| pt0_raw_process_b50 |")
        .contains("Without server-side prepared statements")
        .containsPattern("\\| process_c20 \\| \\d+ \\| \\d+ \\| \\d+% \\| \\d+ \\(raw_process_b50\\) \\|");
  }

  @Test
  void thePgBouncerOptionRunsTheWorkloadThroughARealPgBouncerInTransactionMode(TestDatabase db) throws Exception {
    String unavailable = io.github.pgqueue.testsupport.PgBouncer.unavailableReason();
    org.junit.jupiter.api.Assumptions.assumeTrue(unavailable == null, unavailable);
    String out = mainOutput(db, "--pgbouncer");
    assertThat(out).contains("pgbouncer=transaction")
        .contains("| pgbouncer_enqueue_bulk |").contains("| pgbouncer_process_c10 |").contains("| pgbouncer_latency_p50_ms |")
        .containsPattern("\\| enqueue_single \\| \\d+ \\| \\d+ \\| \\d+% \\| \\d+ \\(raw_enqueue_single\\) \\|");
  }

  @Test
  void theBulkMethodsOptionTimesEveryMethodAndChecksEachAnswersEveryItem(TestDatabase db) throws Exception {
    // BulkMethods throws if a method that keeps per-item results answers fewer items than it got.
    String out = mainOutput(db, "--bulk-methods", "--rounds", "1");
    assertThat(out).contains("| method | 1,000 | 1,000 keyed | 10,000 | 10,000 keyed |");
    for (String m : BulkMethods.METHODS) {
      assertThat(out).containsPattern("\\| " + m + " \\| \\d+ \\| (\\d+|-) \\| \\d+ \\| (\\d+|-) \\|");
    }
  }

  @Test
  void theClaimFormsOptionTimesBothFormsOfTheClaimOnEachQueue(TestDatabase db) throws Exception {
    // ClaimForms throws unless every claim of either form takes its 50 jobs.
    String out = mainOutput(db, "--claim-forms", "--rounds", "1");
    assertThat(out).contains("| queue | the statement, prepared | claim_v2 | statement / claim_v2 |");
    for (int size : ClaimForms.SIZES) {
      assertThat(out).containsPattern("\\| " + size + " \\| [0-9.]+ \\| [0-9.]+ \\| \\d+% \\|");
    }
  }

  @Test
  void theBacklogOptionTimesTheClaimAndInsertOnEachTable(TestDatabase db) throws Exception {
    // BacklogBench throws if a claim takes fewer than its 20 handled jobs.
    String out = mainOutput(db, "--backlog", "100", "--backlog-seconds", "1");
    for (String t : List.of("empty", "unhandled", "discarded", "many_queues")) {
      assertThat(out).containsPattern("\\| " + t + " \\| [0-9.]+ \\| \\d+% \\| [0-9.]+ \\| \\d+% \\| [0-9.]+ \\| \\d+% \\|");
    }
    // The churn rounds throw unless each takes its 20 jobs; the workers' maintenance (each paced
    // span waits for its pruner's first batch) and then the fast pruner deleted all 5,000 discarded.
    assertThat(out).containsPattern("\\| a transaction open throughout \\| [0-9.]+ \\| [0-9.]+ \\|");
    java.util.regex.Matcher paced = java.util.regex.Pattern.compile(
        "\\| while a worker's maintenance prunes them \\((\\d+) pruned, \\d+/s\\) \\| [0-9.]+ \\| [0-9.]+ \\|").matcher(out);
    java.util.regex.Matcher fast = java.util.regex.Pattern.compile(
        "\\| while they are pruned as fast as one session can \\((\\d+) pruned, \\d+/s\\) \\| [0-9.]+ \\| [0-9.]+ \\|")
        .matcher(out);
    assertThat(paced.find()).as("the paced pruning row").isTrue();
    assertThat(fast.find()).as("the fast pruning row").isTrue();
    assertThat(Long.parseLong(paced.group(1))).as("pruned by the workers' maintenance").isPositive();
    assertThat(Long.parseLong(paced.group(1)) + Long.parseLong(fast.group(1))).isEqualTo(5000);
    // Each pruning span printed its profile.
    assertThat(out).contains("PROFILE backlog: beside 5000 discarded jobs", "PROFILE backlog: while a worker's maintenance",
        "PROFILE backlog: while one session prunes them as fast as it can");
  }

  /** Bench's whole output for a tiny run with {@code extra} options, on fresh databases of db's server. */
  private static String mainOutput(TestDatabase db, String... extra) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("--url", db.server().jdbcUrl("postgres") + "?user=" + db.user(),
        "--repeats", "1", "--n", "1000", "--samples", "2", "--ceiling-batches", "50"));
    args.addAll(List.of(extra));
    java.io.PrintStream stdout = System.out;
    java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
    System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      Bench.main(args.toArray(new String[0]));
    } finally {
      System.setOut(stdout);
    }
    String out = buf.toString(java.nio.charset.StandardCharsets.UTF_8);
    stdout.println(out);
    return out;
  }

  @Test
  void mulberry32DrawsTheWorkloadsGaps() {
    Mulberry32 r = new Mulberry32(42);
    int[] first = new int[5];
    for (int i = 0; i < first.length; i++) {
      first[i] = (int) Math.floor(r.next() * 100);
    }
    // The sequence every driver must draw (mulberry32, seed 42), from the workload's generator (docs/performance.md).
    assertThat(first).containsExactly(60, 44, 85, 66, 17);
  }

  @Test
  void nearestRankPercentiles() {
    double[] s = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assertThat(Workload.nearestRank(s, 50)).isEqualTo(5);
    assertThat(Workload.nearestRank(s, 90)).isEqualTo(9);
    assertThat(Workload.nearestRank(s, 99)).isEqualTo(10);
  }
}
