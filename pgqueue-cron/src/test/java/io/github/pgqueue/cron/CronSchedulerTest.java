package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronDb.FIRED;
import static io.github.pgqueue.cron.CronDb.dbNow;
import static io.github.pgqueue.cron.CronDb.jobs;
import static io.github.pgqueue.cron.CronDb.lastFired;
import static io.github.pgqueue.cron.CronDb.row;
import static io.github.pgqueue.cron.CronDb.runAts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.SchemaVersionException;
import io.github.pgqueue.cron.CronDb.Fired;
import io.github.pgqueue.cron.CronDb.Job;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The scheduler against a real PostgreSQL, on an injected clock that only moves when a test moves
 * it. Several schedulers in one JVM stand in for several processes: each has its own connections.
 */
@PgQueueTest
@Timeout(30)
class CronSchedulerTest {

  private static final Duration WAIT = Duration.ofSeconds(10);

  private final List<CronScheduler> started = new ArrayList<>();
  private TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @AfterEach
  void closeSchedulers() {
    started.forEach(CronScheduler::close);
  }

  // ---- registration -----------------------------------------------------------------------------

  @Test
  void aNewScheduleStartsFromNowByTheDatabaseClock() {
    TestClock clock = TestClock.atSystemTime();
    Instant before = dbNow(db);
    CronScheduler s = start(clock, every("first", "* * * * *", "a"));

    CronDb.Row row = await().atMost(WAIT).until(() -> row(db, "first"), Objects::nonNull);
    Instant after = dbNow(db);
    assertThat(row.definition()).isEqualTo("cron * * * * * UTC");
    assertThat(row.origin()).isEqualTo(row.lastFired()).isBetween(before, after);

    // Nothing fires for the past: the first job is the first firing after registration.
    Instant first = CronExpression.parse("* * * * *").nextAfter(row.lastFired(), ZoneOffset.UTC);
    advanceTo(clock, first, s);
    await().atMost(WAIT).until(() -> jobs(db).size() == 1);
    Job job = jobs(db).get(0);
    assertThat(job.runAt()).as("run_at is the scheduled instant").isEqualTo(first);
    assertThat(job.payloadAt()).as("the payload function got the scheduled instant").isEqualTo(first);
    assertThat(job.name()).isEqualTo("cron_fired");
    assertThat(job.context()).isEqualTo("cron:first");
    assertThat(lastFired(db, "first")).isEqualTo(first);
  }

  @Test
  void runAtIsTheScheduledInstantWhenFiredLateOrEarly() {
    TestClock clock = TestClock.atSystemTime();
    CronScheduler s = start(clock, every("late-early", "* * * * * *", "a"));
    Instant last = await().atMost(WAIT).until(() -> lastFired(db, "late-early"), Objects::nonNull);
    List<Instant> t = firings("* * * * * *", last, 4);

    // 2.5 s after the first firing, three are due: each is enqueued (late, but within
    // missedAfter), each with its own scheduled instant as run_at.
    advanceTo(clock, t.get(0).plusMillis(2500), s);
    await().atMost(WAIT).until(() -> t.get(2).equals(lastFired(db, "late-early")));
    assertThat(jobs(db)).extracting(Job::runAt).containsExactly(t.get(0), t.get(1), t.get(2));
    assertThat(jobs(db)).extracting(Job::payloadAt).containsExactly(t.get(0), t.get(1), t.get(2));
    s.close();

    // A scheduler whose clock runs 5 s ahead fires early; the job still runs at the instant.
    TestClock behind = new TestClock(t.get(3).minusSeconds(5));
    start(InstantSource.offset(behind, Duration.ofSeconds(5)), every("late-early", "* * * * * *", "early"));
    await().atMost(WAIT).until(() -> t.get(3).equals(lastFired(db, "late-early")));
    assertThat(jobs(db)).extracting(Job::runAt).containsExactlyElementsOf(t);
    assertThat(jobs(db).get(3).by()).isEqualTo("early");
  }

  @Test
  void restartNeitherRepeatsNorDropsAFiring() {
    TestClock clock = TestClock.atSystemTime();
    CronScheduler a = start(clock, every("restart", "* * * * * *", "a"));
    Instant last = await().atMost(WAIT).until(() -> lastFired(db, "restart"), Objects::nonNull);
    List<Instant> t = firings("* * * * * *", last, 7);

    for (int i = 0; i < 3; i++) {
      advanceTo(clock, t.get(i), a);
      int n = i;
      await().atMost(WAIT).until(() -> t.get(n).equals(lastFired(db, "restart")));
    }
    a.close();
    // Two firings come due while no scheduler runs; the next one enqueues both, late.
    clock.set(t.get(4).plusMillis(300));
    CronScheduler b = start(clock, every("restart", "* * * * * *", "b"));
    await().atMost(WAIT).until(() -> t.get(4).equals(lastFired(db, "restart")));
    for (int i = 5; i < 7; i++) {
      advanceTo(clock, t.get(i), b);
      int n = i;
      await().atMost(WAIT).until(() -> t.get(n).equals(lastFired(db, "restart")));
    }
    b.close();

    List<Job> jobs = jobs(db);
    assertThat(runAts(jobs)).containsExactlyElementsOf(t);
    assertThat(jobs).extracting(Job::by).containsExactly("a", "a", "a", "b", "b", "b", "b");
  }

  @Test
  void renamingStartsANewScheduleAndRemovingOneLeavesItsRow() {
    TestClock clock = TestClock.atSystemTime();
    CronScheduler before = start(clock, every("report-v1", "* * * * * *", "v1"));
    Instant last = await().atMost(WAIT).until(() -> lastFired(db, "report-v1"), Objects::nonNull);
    Instant t1 = CronExpression.parse("* * * * * *").nextAfter(last, ZoneOffset.UTC);
    advanceTo(clock, t1, before);
    await().atMost(WAIT).until(() -> t1.equals(lastFired(db, "report-v1")));
    before.close();

    // The next release renames the cron job: a new schedule, starting from now.
    clock.set(t1.plusSeconds(5));
    Instant renamedAt = dbNow(db);
    CronScheduler after = start(clock, every("report-v2", "* * * * * *", "v2"));
    CronDb.Row renamed = await().atMost(WAIT).until(() -> row(db, "report-v2"), Objects::nonNull);
    assertThat(renamed.lastFired()).isAfterOrEqualTo(renamedAt);
    Instant t2 = CronExpression.parse("* * * * * *").nextAfter(renamed.lastFired(), ZoneOffset.UTC);
    advanceTo(clock, t2.isAfter(clock.instant()) ? t2 : clock.instant(), after);
    await().atMost(WAIT).until(() -> !jobs(db).stream().filter(j -> j.by().equals("v2")).toList().isEmpty());

    // The old name fires no more; its row stays as it was.
    assertThat(lastFired(db, "report-v1")).isEqualTo(t1);
    assertThat(jobs(db)).filteredOn(j -> j.by().equals("v1")).extracting(Job::runAt).containsExactly(t1);
  }

  // ---- exactly once across processes ------------------------------------------------------------

  @Test
  void twoSchedulersRacingAndOneLaggingFireEachFiringOnce() {
    TestClock clock = TestClock.atSystemTime();
    String cron = "* * * * * *";
    CronScheduler a = start(clock, every("race", cron, "a"));
    CronScheduler b = start(clock, every("race", cron, "b"));
    // A third process whose clock is 3 s behind: it tries every firing after it was claimed and
    // after its job was deleted by the "worker" below, so only the schedule row can stop it.
    SwitchableDataSource laggingConnections = new SwitchableDataSource(db.dataSource());
    CronScheduler lagging = start(laggingConnections,
        InstantSource.offset(clock, Duration.ofSeconds(-3)), every("race", cron, "lagging"));
    Instant last = await().atMost(WAIT).until(() -> lastFired(db, "race"), Objects::nonNull);
    List<Instant> t = firings(cron, last, 20);

    List<Job> ledger = new ArrayList<>();
    for (Instant firing : t) {
      advanceTo(clock, firing, a, b, lagging);
      await().atMost(WAIT).until(() -> firing.equals(lastFired(db, "race")));
      ledger.addAll(CronDb.takeJobs(db));
    }
    // One connection to register, then one per firing it tried. Each try finds the firing
    // claimed and moves it to the stored last_fired, so it tries about every fourth firing.
    await().atMost(WAIT).until(() -> laggingConnections.served() >= 1 + 3);
    ledger.addAll(CronDb.takeJobs(db));

    assertThat(runAts(ledger)).containsExactlyElementsOf(t);
    assertThat(ledger).extracting(Job::by).doesNotContain("lagging");
    assertThat(ledger).extracting(Job::by).containsAnyOf("a", "b");
  }

  @Test
  void racingUnderSerializableIsolationRetriesAndStaysExactlyOnce() {
    PGSimpleDataSource serializable = new PGSimpleDataSource();
    serializable.setURL(db.jdbcUrlWithCredentials());
    serializable.setOptions("-c default_transaction_isolation=serializable");
    TestClock clock = TestClock.atSystemTime();
    String cron = "* * * * * *";
    try (LogCapture log = new LogCapture()) {
      CronScheduler a = start(serializable, clock, every("serial", cron, "a"));
      CronScheduler b = start(serializable, clock, every("serial", cron, "b"));
      Instant last = await().atMost(WAIT).until(() -> lastFired(db, "serial"), Objects::nonNull);
      List<Instant> t = firings(cron, last, 15);
      for (Instant firing : t) {
        advanceTo(clock, firing, a, b);
        await().atMost(WAIT).until(() -> firing.equals(lastFired(db, "serial")));
      }
      assertThat(runAts(jobs(db))).containsExactlyElementsOf(t);
      assertThat(log.warnings("pgqueue cron")).as("serialization failures are retried, not reported").isEmpty();
    }
  }

  @Test
  void intervalGridIsSharedByProcessesStartedAtDifferentTimes() {
    TestClock clock = TestClock.atSystemTime();
    Function<String, CronJob<Fired>> grid =
        by -> CronJob.of("grid", Schedule.every(Duration.ofSeconds(3)), FIRED, t -> new Fired(by, t));
    CronScheduler a = start(clock, grid.apply("a"));
    CronDb.Row row = await().atMost(WAIT).until(() -> row(db, "grid"), Objects::nonNull);
    Instant origin = row.origin();
    assertThat(row.definition()).isEqualTo("every PT3S");

    advanceTo(clock, origin.plusSeconds(3), a);
    await().atMost(WAIT).until(() -> origin.plusSeconds(3).equals(lastFired(db, "grid")));

    // Started 4.4 s after the origin, with a clock 1.3 s ahead: it must still use the stored grid.
    clock.set(origin.plusMillis(4400));
    CronScheduler b = start(InstantSource.offset(clock, Duration.ofMillis(1300)), grid.apply("b"));
    for (int ms = 4400; ms <= 16_000; ms += 700) {
      advanceTo(clock, origin.plusMillis(ms), a, b);
      // b reads 1.3 s more than a, so it is the first to see each grid point come due.
      Instant due = origin.plusSeconds(3L * ((ms + 1300) / 3000));
      await().atMost(WAIT).until(() -> due.equals(lastFired(db, "grid")));
    }
    List<Job> jobs = jobs(db);
    assertThat(runAts(jobs)).containsExactly(origin.plusSeconds(3), origin.plusSeconds(6),
        origin.plusSeconds(9), origin.plusSeconds(12), origin.plusSeconds(15));
    assertThat(jobs).extracting(Job::by).containsExactly("a", "b", "b", "b", "b");
  }

  // ---- definitions ------------------------------------------------------------------------------

  @Test
  void aChangedDefinitionIsOverwrittenAtStartReanchoredAndLogged() {
    TestClock clock = TestClock.atSystemTime();
    CronScheduler a = start(clock,
        CronJob.of("redefined", Schedule.every(Duration.ofSeconds(2)), FIRED, t -> new Fired("a", t)));
    CronDb.Row first = await().atMost(WAIT).until(() -> row(db, "redefined"), Objects::nonNull);
    advanceTo(clock, first.origin().plusSeconds(2), a);
    await().atMost(WAIT).until(() -> first.origin().plusSeconds(2).equals(lastFired(db, "redefined")));
    a.close();

    CronDb.Row second;
    Instant before = dbNow(db);
    try (LogCapture log = new LogCapture()) {
      start(clock,
          CronJob.of("redefined", Schedule.every(Duration.ofSeconds(5)), FIRED, t -> new Fired("b", t)));
      second = await().atMost(WAIT).until(() -> row(db, "redefined"),
          r -> r.definition().equals("every PT5S"));
      await().atMost(WAIT).until(() -> !log.warnings("\"redefined\"").isEmpty());
      assertThat(log.warnings("\"redefined\""))
          .singleElement()
          .satisfies(line -> assertThat(line).contains("every PT2S", "every PT5S", "re-anchored"));
    }
    assertThat(second.origin()).as("re-anchored at the database's now").isAfterOrEqualTo(before)
        .isAfter(first.origin());
    assertThat(second.lastFired()).as("last_fired never moves back")
        .isAfterOrEqualTo(first.origin().plusSeconds(2));

    Instant next = Firings.nextAfter(Schedule.every(Duration.ofSeconds(5)), second.origin(), second.lastFired());
    assertThat(Duration.between(second.origin(), next).toMillis() % 5000).isZero();
    advanceTo(clock, next, started.toArray(new CronScheduler[0]));
    await().atMost(WAIT).until(() -> next.equals(lastFired(db, "redefined")));
    assertThat(jobs(db)).extracting(Job::by, Job::runAt)
        .containsExactly(tuple("a", first.origin().plusSeconds(2)), tuple("b", next));
  }

  @Test
  void aProcessWithAnOutdatedDefinitionStandsDownAndFiresNothing() {
    TestClock clock = TestClock.atSystemTime();
    try (LogCapture log = new LogCapture()) {
      CronScheduler old = start(clock,
          CronJob.of("deploy", Schedule.every(Duration.ofSeconds(2)), FIRED, t -> new Fired("old", t)));
      await().atMost(WAIT).until(() -> row(db, "deploy"), Objects::nonNull);
      // A rolling deploy starts a process with a new definition while the old one still runs.
      CronScheduler neu = start(clock,
          CronJob.of("deploy", Schedule.every(Duration.ofSeconds(3)), FIRED, t -> new Fired("new", t)));
      CronDb.Row row = await().atMost(WAIT).until(() -> row(db, "deploy"),
          r -> r.definition().equals("every PT3S"));

      for (int ms = 500; ms <= 12_500; ms += 500) {
        advanceTo(clock, row.origin().plusMillis(ms), old, neu);
      }
      await().atMost(WAIT).until(() -> row.origin().plusSeconds(12).equals(lastFired(db, "deploy")));
      assertThat(jobs(db)).extracting(Job::by).containsOnly("new");
      assertThat(runAts(jobs(db))).containsExactly(row.origin().plusSeconds(3),
          row.origin().plusSeconds(6), row.origin().plusSeconds(9), row.origin().plusSeconds(12));
      assertThat(log.warnings("\"deploy\"", "stands down"))
          .as("one warning however many firings it let pass")
          .singleElement()
          .satisfies(line -> assertThat(line).contains("every PT2S", "every PT3S"));
      assertThat(old.isRunning()).isTrue();
    }
  }

  // ---- catch-up ---------------------------------------------------------------------------------

  static Stream<Arguments> catchUpPolicies() {
    return Stream.of(
        Arguments.of(CatchUp.one(), List.of(10)),
        Arguments.of(CatchUp.skip(), List.of()),
        Arguments.of(CatchUp.all(5), List.of(6, 7, 8, 9, 10)),
        Arguments.of(CatchUp.all(20), List.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("catchUpPolicies")
  void aSchedulerDownForTenFiringsAppliesItsCatchUpPolicy(CatchUp policy, List<Integer> expected) {
    String cron = "* * * * *";
    TestClock clock = TestClock.atSystemTime();
    CronScheduler first = start(clock, every("catch-up", cron, "first"));
    Instant registered = await().atMost(WAIT).until(() -> lastFired(db, "catch-up"), Objects::nonNull);
    first.close();

    List<Instant> t = firings(cron, registered, 11);
    // Down for ten firings: the tenth is 30 s overdue (beyond missedAfter), the eleventh not due.
    clock.set(t.get(9).plusSeconds(30));
    try (LogCapture log = new LogCapture()) {
      CronScheduler back = start(clock, every("catch-up", cron, "back").withCatchUp(policy));
      await().atMost(WAIT).until(() -> t.get(9).equals(lastFired(db, "catch-up")));
      assertThat(runAts(jobs(db)))
          .containsExactlyElementsOf(expected.stream().map(i -> t.get(i - 1)).toList());
      await().atMost(WAIT).until(() -> !log.lines().stream().filter(l -> l.contains("were missed")).toList().isEmpty());
      assertThat(log.lines()).filteredOn(l -> l.contains("were missed")).singleElement()
          .satisfies(l -> assertThat(l).contains("from " + t.get(0) + " to " + t.get(9),
              policy.toString(), "enqueued " + expected.size() + " job(s)"));

      // Then it goes on as usual.
      advanceTo(clock, t.get(10), back);
      await().atMost(WAIT).until(() -> t.get(10).equals(lastFired(db, "catch-up")));
      assertThat(runAts(jobs(db))).hasSize(expected.size() + 1).last().isEqualTo(t.get(10));
    }
  }

  // ---- failures ---------------------------------------------------------------------------------

  @Test
  void aThrowingPayloadFunctionLosesNothing() {
    TestClock clock = TestClock.atSystemTime();
    AtomicInteger calls = new AtomicInteger();
    CronJob<Fired> flaky = CronJob.of("flaky", Schedule.cron("* * * * * *"), FIRED, t -> {
      if (calls.incrementAndGet() <= 2) {
        throw new IllegalStateException("report service not ready (call " + calls.get() + ")");
      }
      return new Fired("a", t);
    });
    // A healthy neighbour keeps firing while the flaky one backs off.
    try (LogCapture log = new LogCapture()) {
      CronScheduler s = start(clock, flaky, every("healthy", "* * * * * *", "a"));
      Instant last = await().atMost(WAIT).until(() -> lastFired(db, "flaky"), Objects::nonNull);
      Instant t = CronExpression.parse("* * * * * *").nextAfter(last, ZoneOffset.UTC);
      // Read before the clock moves, while it still holds the registration time.
      Instant healthyFrom = await().atMost(WAIT).until(() -> lastFired(db, "healthy"), Objects::nonNull);
      advanceTo(clock, t, s);

      await().atMost(WAIT).until(() -> t.equals(lastFired(db, "flaky")));
      assertThat(jobs(db)).filteredOn(j -> j.context().equals("cron:flaky")).extracting(Job::runAt)
          .containsExactly(t);
      assertThat(calls).hasValue(3);
      assertThat(log.warnings("\"flaky\"", "payload function for firing " + t, "report service not ready"))
          .as("the first failure is logged; the second, 20 ms later, is only counted")
          .hasSize(1);
      await().atMost(WAIT).until(() ->
          log.lines().stream().anyMatch(l -> l.contains("\"flaky\": working again after 2 failure(s)")));
      // The healthy schedule was registered a moment after the flaky one, by the database clock,
      // possibly in the next second: its first firing is t or the second after. Move the clock
      // there if need be, then wait for it (it may be committed after the flaky one's in the
      // same tick, so wait rather than read once).
      Instant h = CronExpression.parse("* * * * * *").nextAfter(healthyFrom, ZoneOffset.UTC);
      if (h.isAfter(t)) {
        advanceTo(clock, h, s);
      }
      await().atMost(WAIT).untilAsserted(() ->
          assertThat(jobs(db)).filteredOn(j -> j.context().equals("cron:healthy")).extracting(Job::runAt)
              .contains(h));
    }
  }

  @Test
  void anUnreachableDatabaseIsRetriedWithBackoffAndFiringsResumeWhenItIsBack() {
    TestClock clock = TestClock.atSystemTime();
    SwitchableDataSource ds = new SwitchableDataSource(db.dataSource());
    ds.down(true);
    try (LogCapture log = new LogCapture()) {
      CronScheduler s = start(ds, clock, every("outage", "* * * * * *", "a"));
      await().atMost(WAIT).until(() -> ds.refused() >= 8);
      assertThat(row(db, "outage")).isNull();
      assertThat(s.isRunning()).isTrue();
      assertThat(log.warnings("database")).as("one WARN per 30 s, not one per retry").hasSize(1);

      ds.down(false);
      Instant last = await().atMost(WAIT).until(() -> lastFired(db, "outage"), Objects::nonNull);
      await().atMost(WAIT).until(() ->
          log.lines().stream().anyMatch(l -> l.contains("database: working again after")));
      List<Instant> t = firings("* * * * * *", last, 2);
      advanceTo(clock, t.get(0), s);
      await().atMost(WAIT).until(() -> t.get(0).equals(lastFired(db, "outage")));

      // The next firing comes due during an outage; it is enqueued once the database is back.
      int refusedBefore = ds.refused();
      ds.down(true);
      advanceTo(clock, t.get(1).plusMillis(500), s);
      await().atMost(WAIT).until(() -> ds.refused() >= refusedBefore + 5);
      ds.down(false);
      await().atMost(WAIT).until(() -> t.get(1).equals(lastFired(db, "outage")));
      assertThat(runAts(jobs(db))).containsExactlyElementsOf(t);
    }
  }

  @Test
  void startRefusesAMissingSchemaAndNamesTheMigrator() {
    JobQueue queue = JobQueue.builder(db.dataSource()).schema("never_installed").build();
    CronScheduler s = CronScheduler.builder(queue, db.dataSource())
        .add(every("x", "@daily", "a")).build();
    assertThatThrownBy(s::start)
        .isInstanceOf(SchemaVersionException.class)
        .hasMessageContaining("Migrator");
    assertThat(s.isRunning()).isFalse();
    s.close();
  }

  // ---- lifecycle: the same rules as the worker's -------------------------------------------------

  private List<Thread> cronThreads(java.util.Set<Thread> before) {
    List<Thread> out = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.isAlive() && t.getName().startsWith("pgqueue-cron-") && !before.contains(t)) {
        out.add(t);
      }
    }
    return out;
  }

  @Test
  void aFailedStartLeavesNothingRunningCanBeRetriedAndCloseAfterItIsHarmless() {
    java.util.Set<Thread> before = java.util.Set.copyOf(Thread.getAllStackTraces().keySet());
    JobQueue queue = JobQueue.builder(db.dataSource()).schema("never_installed").build();
    CronScheduler s = CronScheduler.builder(queue, db.dataSource()).add(every("x", "@daily", "a")).build();
    assertThatThrownBy(s::start).isInstanceOf(SchemaVersionException.class);
    assertThatThrownBy(s::start).as("retried, it fails the same way").isInstanceOf(SchemaVersionException.class);
    assertThat(cronThreads(before)).isEmpty();
    s.close();
    s.close();
    assertThat(s.isRunning()).isFalse();
    assertThatThrownBy(s::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
  }

  @Test
  void closeBeforeStartClosesForGood() {
    CronScheduler s = CronScheduler.builder(JobQueue.create(db.dataSource()), db.dataSource())
        .add(every("never", "@daily", "a")).build();
    s.close();
    assertThatThrownBy(s::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    assertThat(s.isRunning()).isFalse();
    assertThat(row(db, "never")).as("nothing was registered").isNull();
  }

  @Test
  void concurrentStartsAndClosesFromSeveralThreadsLeaveNothingBehind() throws Exception {
    java.util.Set<Thread> before = java.util.Set.copyOf(Thread.getAllStackTraces().keySet());
    java.util.Set<Throwable> unexpected = java.util.concurrent.ConcurrentHashMap.newKeySet();
    int threads = 6;
    for (int round = 0; round < 10; round++) {
      CronScheduler s = CronScheduler.builder(JobQueue.create(db.dataSource()), db.dataSource())
          .clock(TestClock.atSystemTime()).add(every("racing", "@hourly", "a")).build();
      java.util.concurrent.CyclicBarrier barrier = new java.util.concurrent.CyclicBarrier(threads);
      List<Thread> callers = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        boolean starter = i % 2 == 0;
        Thread t = new Thread(() -> {
          try {
            barrier.await();
            if (starter) {
              s.start();
            } else {
              s.close();
            }
          } catch (IllegalStateException expected) {
            if (!expected.getMessage().contains("closed")) {
              unexpected.add(expected);
            }
          } catch (Throwable e) {
            unexpected.add(e);
          }
        });
        callers.add(t);
        t.start();
      }
      for (Thread t : callers) {
        t.join(30_000);
        assertThat(t.isAlive()).as("every call returns").isFalse();
      }
      s.close();
      assertThat(s.isRunning()).isFalse();
      assertThatThrownBy(s::start).isInstanceOf(IllegalStateException.class);
    }
    assertThat(unexpected).as("only the documented IllegalStateException").isEmpty();
    await().atMost(WAIT).untilAsserted(() -> assertThat(cronThreads(before)).isEmpty());
  }

  @Test
  void closeIsGracefulIdempotentAndQuick() {
    TestClock clock = TestClock.atSystemTime();
    CronScheduler s = start(clock, every("closing", "@hourly", "a"));
    await().atMost(WAIT).until(() -> row(db, "closing"), Objects::nonNull);
    assertThat(s.isRunning()).isTrue();
    s.start(); // already running: nothing happens
    long t0 = System.nanoTime();
    s.close();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(2));
    assertThat(s.isRunning()).isFalse();
    s.close();
    assertThatThrownBy(s::start).isInstanceOf(IllegalStateException.class);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private static CronJob<Fired> every(String name, String cron, String by) {
    return CronJob.of(name, Schedule.cron(cron), FIRED, t -> new Fired(by, t));
  }

  private CronScheduler start(InstantSource clock, CronJob<?>... jobs) {
    return start(db.dataSource(), clock, jobs);
  }

  private CronScheduler start(DataSource ds, InstantSource clock, CronJob<?>... jobs) {
    CronScheduler.Builder b = CronScheduler.builder(JobQueue.create(db.dataSource()), ds)
        .clock(clock)
        .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(40));
    for (CronJob<?> job : jobs) {
      b.add(job);
    }
    CronScheduler s = b.build();
    started.add(s);
    s.start();
    return s;
  }

  /** Moves the clock and wakes the schedulers, as time passing would. */
  private static void advanceTo(TestClock clock, Instant to, CronScheduler... schedulers) {
    clock.set(to);
    for (CronScheduler s : schedulers) {
      s.wake();
    }
  }

  private static List<Instant> firings(String cron, Instant after, int n) {
    return CronFirings.next(cron, "UTC", after, n);
  }
}
