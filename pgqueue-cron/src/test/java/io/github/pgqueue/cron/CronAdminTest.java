package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronDb.FIRED;
import static io.github.pgqueue.cron.CronDb.dbNow;
import static io.github.pgqueue.cron.CronDb.jobs;
import static io.github.pgqueue.cron.CronDb.row;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.cron.CronAdmin.ScheduleInfo;
import io.github.pgqueue.cron.CronAdmin.TriggerResult;
import io.github.pgqueue.cron.CronDb.Fired;
import io.github.pgqueue.cron.CronDb.Job;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link CronAdmin} against a real PostgreSQL and real schedulers: two schedulers in one JVM stand
 * in for two cron processes (each has its own connections).
 */
@PgQueueTest
@Timeout(90)
class CronAdminTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final ZoneId BERLIN = ZoneId.of("Europe/Berlin");

  private final List<CronScheduler> started = new ArrayList<>();
  private TestDatabase db;
  private CronAdmin admin;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    admin = CronAdmin.create(db.dataSource());
  }

  @AfterEach
  void closeSchedulers() {
    started.forEach(CronScheduler::close);
  }

  @Test
  void listsEverySchedulesDefinitionZoneCatchUpJobAndFirings() {
    CronJob<Fired> nightly = CronJob.of("nightly", Schedule.cron("0 3 * * *", BERLIN), FIRED, t -> new Fired("a", t))
        .withOptions(EnqueueOptions.builder().queue("reports").build())
        .withCatchUp(CatchUp.skip());
    CronJob<Fired> minutely = CronJob.of("minutely", Schedule.every(Duration.ofMinutes(1)), FIRED, t -> new Fired("a", t))
        .withCatchUp(CatchUp.all(5));
    start(nightly, minutely);
    await().atMost(WAIT).until(() -> row(db, "nightly") != null && row(db, "minutely") != null);

    List<ScheduleInfo> all = admin.schedules();
    assertThat(all).extracting(ScheduleInfo::name).containsExactly("minutely", "nightly");
    ScheduleInfo n = admin.schedule("nightly").orElseThrow();
    assertThat(n).isEqualTo(all.get(1));
    assertThat(n.definition()).isEqualTo("cron 0 3 * * * Europe/Berlin");
    assertThat(n.schedule()).isEqualTo(Schedule.cron("0 3 * * *", BERLIN));
    assertThat(n.zone()).isEqualTo(BERLIN);
    assertThat(n.catchUp()).isEqualTo(CatchUp.skip());
    assertThat(n.jobName()).isEqualTo("cron_fired");
    assertThat(n.jobQueue()).isEqualTo("reports");
    assertThat(n.enabled()).isTrue();
    assertThat(n.lastFired()).isEqualTo(row(db, "nightly").lastFired());
    assertThat(n.nextFiring()).isEqualTo(CronExpression.parse("0 3 * * *").nextAfter(n.lastFired(), BERLIN));
    assertThat(n.triggerRequestedAt()).isNull();
    assertThat(n.lastTriggeredAt()).isNull();

    ScheduleInfo m = all.get(0);
    assertThat(m.definition()).isEqualTo("every PT1M");
    assertThat(m.zone()).isNull();
    assertThat(m.catchUp()).isEqualTo(CatchUp.all(5));
    assertThat(m.jobQueue()).isEqualTo("default");
    assertThat(m.nextFiring()).isEqualTo(row(db, "minutely").origin().plus(Duration.ofMinutes(1)));

    assertThat(admin.schedule("no-such-schedule")).isEmpty();
  }

  @Test
  void aDisabledScheduleFiresInNoSchedulerUntilEnabledAndMissedFiringsAreNotCaughtUp() {
    CronJob<Fired> tick = CronJob.of("tick", Schedule.every(Duration.ofSeconds(1)), FIRED, t -> new Fired("x", t));
    start(tick);
    start(tick);
    await().atMost(WAIT).until(() -> jobs(db).size() >= 2);

    assertThat(admin.disable("tick")).isTrue();
    Instant disabledAt = dbNow(db);
    int before = jobs(db).size();
    assertThat(admin.schedule("tick").orElseThrow()).satisfies(i -> {
      assertThat(i.enabled()).isFalse();
      assertThat(i.nextFiring()).isNull();
    });
    // Three seconds hold three firings: the claim checks the flag, so none is enqueued.
    await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(10)).until(() -> jobs(db).size() == before);
    assertThat(jobs(db)).allSatisfy(j -> assertThat(j.runAt()).isBefore(disabledAt));
    assertThat(admin.disable("tick")).as("idempotent").isTrue();

    Instant beforeEnable = dbNow(db);
    assertThat(admin.enable("tick")).isTrue();
    await().atMost(WAIT).until(() -> jobs(db).size() >= before + 2);
    List<Job> all = jobs(db);
    List<Job> after = all.subList(before, all.size());
    assertThat(after).as("nothing for the disabled period").allSatisfy(j -> assertThat(j.runAt()).isAfter(beforeEnable));
    assertThat(new HashSet<>(CronDb.runAts(all))).as("each firing once across both schedulers").hasSize(all.size());
    assertThat(admin.schedule("tick").orElseThrow().enabled()).isTrue();
  }

  @Test
  void triggerNowEnqueuesOnceAcrossTwoSchedulersAndRefusesADoubleRequest() {
    // Fires once a year: only triggers enqueue anything here.
    CronJob<Fired> yearly = CronJob.of("yearly", Schedule.cron("0 0 1 1 *"), FIRED, t -> new Fired("x", t));
    CronScheduler first = start(yearly);
    await().atMost(WAIT).until(() -> row(db, "yearly") != null);
    first.close(); // no scheduler runs: the request waits

    Instant before = dbNow(db);
    assertThat(admin.triggerNow("yearly")).isEqualTo(TriggerResult.REQUESTED);
    assertThat(admin.triggerNow("yearly")).as("a double click").isEqualTo(TriggerResult.ALREADY_PENDING);
    ScheduleInfo pending = admin.schedule("yearly").orElseThrow();
    assertThat(pending.triggerRequestedAt()).isAfterOrEqualTo(before);
    assertThat(jobs(db)).isEmpty();

    start(yearly);
    start(yearly);
    await().atMost(WAIT).until(() -> jobs(db).size() == 1);
    await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10)).until(() -> jobs(db).size() == 1);
    Job job = jobs(db).get(0);
    assertThat(job.runAt()).as("run at the request's instant").isEqualTo(pending.triggerRequestedAt());
    assertThat(job.payloadAt()).as("the payload function got the request's instant").isEqualTo(pending.triggerRequestedAt());
    assertThat(job.context()).isEqualTo("cron:yearly");
    ScheduleInfo served = admin.schedule("yearly").orElseThrow();
    assertThat(served.triggerRequestedAt()).isNull();
    assertThat(served.lastTriggeredAt()).isAfterOrEqualTo(pending.triggerRequestedAt());
    assertThat(served.lastFired()).as("a trigger does not move the firings").isEqualTo(pending.lastFired());

    // Served again, while disabled too: a trigger is a manual run.
    assertThat(admin.disable("yearly")).isTrue();
    assertThat(admin.triggerNow("yearly")).isEqualTo(TriggerResult.REQUESTED);
    await().atMost(WAIT).until(() -> jobs(db).size() == 2);
    await().atMost(WAIT).until(() -> admin.schedule("yearly").orElseThrow().triggerRequestedAt() == null);
    assertThat(admin.triggerNow("nope")).isEqualTo(TriggerResult.UNKNOWN_SCHEDULE);
  }

  @Test
  void aTriggerIsDeduplicatedByTheJobsUniqueKeyLikeAFiring() {
    CronJob<Fired> keyed = CronJob.of("keyed", Schedule.cron("0 0 1 1 *"), FIRED, t -> new Fired("x", t))
        .withOptions(EnqueueOptions.builder().uniqueKey("only-one").build());
    start(keyed);
    await().atMost(WAIT).until(() -> row(db, "keyed") != null);
    assertThat(admin.triggerNow("keyed")).isEqualTo(TriggerResult.REQUESTED);
    await().atMost(WAIT).until(() -> jobs(db).size() == 1);
    await().atMost(WAIT).until(() -> admin.schedule("keyed").orElseThrow().triggerRequestedAt() == null);
    assertThat(admin.triggerNow("keyed")).isEqualTo(TriggerResult.REQUESTED);
    await().atMost(WAIT).until(() -> admin.schedule("keyed").orElseThrow().triggerRequestedAt() == null);
    assertThat(jobs(db)).as("the pending job holds the key").hasSize(1);
  }

  @Test
  void badInputIsRefusedWithClearErrors() {
    assertThatThrownBy(() -> CronAdmin.create(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> CronAdmin.create(db.dataSource(), "Bad-Schema"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("schema").hasMessageContaining("Bad-Schema");
    assertThatThrownBy(() -> admin.triggerNow("")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cron schedule name");
    assertThatThrownBy(() -> admin.disable(null)).isInstanceOf(IllegalArgumentException.class);
    assertThat(admin.disable("nope")).isFalse();
    assertThat(admin.enable("nope")).isFalse();
    assertThatThrownBy(() -> CronScheduler.builder(JobQueue.create(db.dataSource()), db.dataSource())
        .pollInterval(Duration.ofMillis(99))).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("pollInterval").hasMessageContaining("PT0.099S");
    assertThatThrownBy(() -> CronAdmin.create(db.dataSource(), "no_such_schema").schedules())
        .isInstanceOf(io.github.pgqueue.SchemaVersionException.class);
  }

  private CronScheduler start(CronJob<?>... jobs) {
    CronScheduler.Builder b = CronScheduler.builder(JobQueue.create(db.dataSource()), db.dataSource())
        .clock(InstantSource.system())
        .pollInterval(Duration.ofMillis(200))
        .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(40));
    for (CronJob<?> job : jobs) {
      b.add(job);
    }
    CronScheduler s = b.build();
    started.add(s);
    s.start();
    Objects.requireNonNull(s);
    return s;
  }
}
