package io.github.pgqueue.cron;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.ds.PGSimpleDataSource;

/** Bad input is refused where it is given, with a message naming the setting and the value. */
@Timeout(10)
class CronJobValidationTest {

  record Tick(Instant at) {}

  static final JobType<Tick> TICK = JobType.of("tick", Tick.class);

  /** Never connected to: building a queue and a scheduler touches no database. */
  private static final PGSimpleDataSource NOWHERE = new PGSimpleDataSource();

  private static CronJob<Tick> job(String name) {
    return CronJob.of(name, Schedule.every(Duration.ofMinutes(1)), TICK, Tick::new);
  }

  @Test
  void scheduleDefinitionsAreCanonical() {
    assertThat(Schedule.cron("0 3 * * *", ZoneId.of("Europe/Berlin")).definition())
        .isEqualTo("cron 0 3 * * * Europe/Berlin");
    assertThat(Schedule.cron("  0   3 * *\t* ").definition()).isEqualTo("cron 0 3 * * * UTC");
    assertThat(Schedule.cron("* * * * * *", ZoneId.of("Etc/UTC")).definition())
        .isEqualTo("cron * * * * * * UTC");
    assertThat(Schedule.cron("@daily", ZoneId.of("GMT"))).isEqualTo(Schedule.cron("@daily"));
    assertThat(Schedule.cron("0 9 * * MON-FRI", ZoneOffset.ofHoursMinutes(5, 30)).definition())
        .isEqualTo("cron 0 9 * * MON-FRI +05:30");
    assertThat(Schedule.every(Duration.ofMinutes(1)).definition()).isEqualTo("every PT1M");
    assertThat(Schedule.every(Duration.ofMillis(1500)).definition()).isEqualTo("every PT1.5S");
    assertThat(Schedule.every(Duration.ofSeconds(90))).isEqualTo(Schedule.every(Duration.ofMillis(90_000)));
  }

  @Test
  void invalidCronExpressionsFailWithTheParsersMessage() {
    String expected = catchMessage(() -> CronExpression.parse("61 * * * *"));
    assertThat(expected).isEqualTo("Invalid minute '61' in cron expression '61 * * * *': the value 61 is out of range 0-59");
    assertThatThrownBy(() -> Schedule.cron("61 * * * *"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(expected);
    assertThatThrownBy(() -> Schedule.cron("61 * * * *", ZoneId.of("Europe/Berlin")))
        .hasMessage(expected);
    assertThatThrownBy(() -> Schedule.cron(null)).hasMessage("Cron expression must not be null");
    assertThatThrownBy(() -> Schedule.cron("0 3 * * *", null))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("zone must not be null (cron expression '0 3 * * *')");
  }

  @Test
  void intervalsMustBeAtLeastOneSecondInWholeMilliseconds() {
    assertThatThrownBy(() -> Schedule.every(Duration.ofMillis(999)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("interval must be at least 1 second (PT1S), got: PT0.999S");
    assertThatThrownBy(() -> Schedule.every(Duration.ZERO))
        .hasMessage("interval must be at least 1 second (PT1S), got: PT0S");
    assertThatThrownBy(() -> Schedule.every(Duration.ofSeconds(-5)))
        .hasMessage("interval must be at least 1 second (PT1S), got: PT-5S");
    assertThatThrownBy(() -> Schedule.every(Duration.ofSeconds(1).plusNanos(500)))
        .hasMessage("interval must be a whole number of milliseconds, got: PT1.0000005S");
    assertThatThrownBy(() -> Schedule.every(Duration.ofDays(3661)))
        .hasMessage("interval must be at most 3660 days, got: PT87864H");
    assertThatThrownBy(() -> Schedule.every(null)).hasMessage("interval must not be null");
    assertThat(Schedule.every(Duration.ofSeconds(1))).isEqualTo(new Schedule.Every(Duration.ofMillis(1000)));
  }

  @Test
  void cronJobNamesFollowTheRulesOfJobNames() {
    assertThatThrownBy(() -> job(""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cron job name must be 1 to 200 characters and not blank, got: \"\"");
    assertThatThrownBy(() -> job("   "))
        .hasMessage("cron job name must be 1 to 200 characters and not blank, got: \"   \"");
    assertThatThrownBy(() -> job(null))
        .hasMessage("cron job name must be 1 to 200 characters and not blank, got: null");
    assertThatThrownBy(() -> job("x".repeat(201)))
        .hasMessageStartingWith("cron job name must be 1 to 200 characters and not blank, got: \"xxx")
        .hasMessageContaining("(201 chars)");
    assertThatThrownBy(() -> job("nightly\nreport"))
        .hasMessage("cron job name must not contain control characters, got: \"nightly\\u000areport\"");
    assertThatThrownBy(() -> job(" nightly"))
        .hasMessage("cron job name must not start or end with whitespace, got: \" nightly\"");
    assertThatThrownBy(() -> job("night\0ly")).hasMessageStartingWith("cron job name must not contain control");
    assertThatThrownBy(() -> job("night\uD800ly"))
        .hasMessageStartingWith("cron job name must not contain an unpaired UTF-16 surrogate (U+D800 at index 5;");
    assertThatThrownBy(() -> job("night\uDC00"))
        .hasMessageStartingWith("cron job name must not contain an unpaired UTF-16 surrogate (U+DC00 at index 5;");
    assertThat(job("nightly \uD83D\uDE34").name()).as("a paired surrogate (an emoji) is fine")
        .isEqualTo("nightly \uD83D\uDE34");
    assertThat(job("x".repeat(200)).name()).hasSize(200);
    assertThat(job("nightly report (Europe/Berlin)").name()).isEqualTo("nightly report (Europe/Berlin)");
  }

  @Test
  void cronJobPartsMustBeGiven() {
    assertThatThrownBy(() -> CronJob.of("n", null, TICK, Tick::new))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("schedule of cron job \"n\" must not be null");
    Schedule s = Schedule.every(Duration.ofMinutes(1));
    assertThatThrownBy(() -> CronJob.of("n", s, null, Tick::new))
        .hasMessage("type of cron job \"n\" must not be null");
    assertThatThrownBy(() -> CronJob.of("n", s, TICK, null))
        .hasMessage("payload of cron job \"n\" must not be null");
    assertThatThrownBy(() -> job("n").withOptions(null))
        .hasMessage("options of cron job \"n\" must not be null");
    assertThatThrownBy(() -> job("n").withCatchUp(null))
        .hasMessage("catchUp of cron job \"n\" must not be null");
  }

  @Test
  void optionsMayNotSetTheRunTime() {
    Instant at = Instant.parse("2030-01-01T00:00:00Z");
    assertThatThrownBy(() -> job("n").withOptions(EnqueueOptions.builder().runAt(at).build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("options of cron job \"n\" must not set runAt or delay (got runAt=2030-01-01T00:00:00Z,"
            + " delay=null): each job runs at its scheduled instant");
    assertThatThrownBy(() -> job("n").withOptions(EnqueueOptions.builder().delay(Duration.ofSeconds(5)).build()))
        .hasMessageContaining("must not set runAt or delay");
    EnqueueOptions fine = EnqueueOptions.builder().queue("reports").priority(3).uniqueKey("nightly").build();
    assertThat(job("n").withOptions(fine).options()).isEqualTo(fine);
    assertThat(job("n").catchUp()).isEqualTo(CatchUp.one());
  }

  @Test
  void catchUpPoliciesCheckTheirBound() {
    assertThat(CatchUp.all(5).max()).isEqualTo(5);
    assertThat(CatchUp.all(5)).hasToString("CatchUp.all(5)");
    assertThat(CatchUp.one()).hasToString("CatchUp.one()");
    assertThat(CatchUp.skip()).isEqualTo(new CatchUp(CatchUp.Mode.SKIP, 0));
    assertThatThrownBy(() -> CatchUp.all(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("max must be between 1 and 10000 for CatchUp.all, got: 0");
    assertThatThrownBy(() -> CatchUp.all(10_001)).hasMessageContaining("got: 10001");
    assertThatThrownBy(() -> new CatchUp(CatchUp.Mode.ONE, 2))
        .hasMessage("max must be 1 for CatchUp mode ONE, got: 2");
    assertThatThrownBy(() -> new CatchUp(null, 1)).hasMessage("mode must not be null");
  }

  @Test
  void builderRejectsBadSettingsAtTheSetter() {
    JobQueue queue = JobQueue.create(NOWHERE);
    assertThatThrownBy(() -> CronScheduler.builder(null, NOWHERE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("queue must not be null");
    assertThatThrownBy(() -> CronScheduler.builder(queue, null)).hasMessage("dataSource must not be null");
    CronScheduler.Builder b = CronScheduler.builder(queue, NOWHERE);
    assertThatThrownBy(() -> b.add(null)).hasMessage("cronJob must not be null");
    assertThatThrownBy(() -> b.clock(null)).hasMessage("clock must not be null");
    assertThatThrownBy(() -> b.retryBackoff(Duration.ZERO, Duration.ofSeconds(1)))
        .hasMessage("retryBackoff min must be at least 1 ms, got: PT0S");
    assertThatThrownBy(() -> b.retryBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
        .hasMessage("retryBackoff max must not be less than min, got: min=PT2S, max=PT1S");
    assertThatThrownBy(() -> b.retryBackoff(Duration.ofSeconds(1), Duration.ofHours(2)))
        .hasMessage("retryBackoff max must be at most 1 hour, got: PT2H");
    assertThatThrownBy(() -> b.retryBackoff(null, Duration.ofHours(2)))
        .hasMessage("retryBackoff min and max must not be null, got: min=null, max=PT2H");
    assertThatThrownBy(() -> b.missedAfter(Duration.ofMillis(500)))
        .hasMessage("missedAfter must be between 1 second and 1 day, got: PT0.5S");
    assertThatThrownBy(() -> b.missedAfter(null))
        .hasMessage("missedAfter must be between 1 second and 1 day, got: null");
  }

  @Test
  void duplicateNamesFailAtBuild() {
    CronScheduler.Builder b =
        CronScheduler.builder(JobQueue.create(NOWHERE), NOWHERE)
            .add(job("nightly"))
            .add(job("hourly"))
            .add(CronJob.of("nightly", Schedule.cron("@daily"), TICK, Tick::new));
    assertThatThrownBy(b::build)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cron job name \"nightly\" is used twice: names must be unique within a scheduler");
  }

  @Test
  void aBuiltSchedulerListsItsJobsAndIsNotRunning() {
    CronScheduler s =
        CronScheduler.builder(JobQueue.create(NOWHERE), NOWHERE).add(job("a")).add(job("b")).build();
    assertThat(s.cronJobs()).extracting(CronJob::name).containsExactly("a", "b");
    assertThat(s.isRunning()).isFalse();
    s.close();
    s.close();
    assertThatThrownBy(s::start)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }

  private static String catchMessage(Runnable r) {
    try {
      r.run();
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
    throw new AssertionError("no exception");
  }
}
