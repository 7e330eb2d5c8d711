package io.github.pgqueue.cron;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobType;
import io.github.pgqueue.internal.Identifiers;
import java.time.Instant;
import java.util.function.Function;

/**
 * A named schedule that enqueues a job of one type at each firing.
 *
 * <pre>{@code
 * record NightlyReport(Instant scheduledFor) {}
 * static final JobType<NightlyReport> NIGHTLY_REPORT = JobType.of("nightly_report", NightlyReport.class);
 *
 * CronJob<NightlyReport> nightly =
 *     CronJob.of("nightly-report", Schedule.cron("0 3 * * *", ZoneId.of("Europe/Berlin")),
 *             NIGHTLY_REPORT, NightlyReport::new)
 *         .withOptions(EnqueueOptions.builder().queue("reports").build())
 *         .withCatchUp(CatchUp.skip());
 * }</pre>
 *
 * <p>The name identifies the schedule in the database ({@code cron_schedules.name}): keep it stable.
 * Renaming a cron job starts a new schedule from now; the old name's row stays and nothing fires
 * for it any more.
 *
 * <p>The payload function receives the scheduled instant of the firing (never "now") and returns
 * the job's payload. It runs inside the transaction that claims the firing, so it may run more
 * than once for one firing (when that transaction is retried after a failure) and should have no
 * side effects. If it throws, nothing is enqueued and the firing is retried.
 *
 * <p>Each job is enqueued with its run time set to the scheduled instant, and with the context
 * {@code cron:<name>} unless the options or the job type's defaults set one.
 *
 * @param name the schedule name: 1 to 200 characters, not blank, no control characters, no
 *     leading or trailing whitespace (the rules of job names)
 * @param schedule when it fires
 * @param type the type of the jobs it enqueues
 * @param payload computes each job's payload from the scheduled instant
 * @param options enqueue options for its jobs (queue, priority, max attempts, unique key,
 *     context); they may not set a run time or delay, which the firing decides
 * @param catchUp what to do with missed firings; defaults to {@link CatchUp#one()}
 * @param <T> the payload type
 */
public record CronJob<T>(
    String name,
    Schedule schedule,
    JobType<T> type,
    Function<Instant, T> payload,
    EnqueueOptions options,
    CatchUp catchUp) {

  /** The longest name accepted, in characters; the same limit as job names. */
  public static final int MAX_NAME_LENGTH = Identifiers.MAX_JOB_NAME_LENGTH;

  /**
   * Validates every part.
   *
   * @throws IllegalArgumentException naming the first invalid part and its value
   */
  public CronJob {
    checkName(name);
    if (schedule == null) {
      throw new IllegalArgumentException("schedule of cron job \"" + name + "\" must not be null");
    }
    if (type == null) {
      throw new IllegalArgumentException("type of cron job \"" + name + "\" must not be null");
    }
    if (payload == null) {
      throw new IllegalArgumentException("payload of cron job \"" + name + "\" must not be null");
    }
    if (options == null) {
      throw new IllegalArgumentException("options of cron job \"" + name + "\" must not be null");
    }
    if (options.runAt() != null || options.delay() != null) {
      throw new IllegalArgumentException(
          "options of cron job \"" + name + "\" must not set runAt or delay (got runAt="
              + options.runAt() + ", delay=" + options.delay()
              + "): each job runs at its scheduled instant");
    }
    if (catchUp == null) {
      throw new IllegalArgumentException("catchUp of cron job \"" + name + "\" must not be null");
    }
  }

  /**
   * A cron job with default options (the job type's) and {@link CatchUp#one()}.
   *
   * @param name the schedule name, stable across releases
   * @param schedule when it fires
   * @param type the type of the jobs it enqueues
   * @param payload computes each job's payload from the scheduled instant
   * @param <T> the payload type
   * @return the cron job
   * @throws IllegalArgumentException if any argument is invalid; the message names it
   */
  public static <T> CronJob<T> of(
      String name, Schedule schedule, JobType<T> type, Function<Instant, T> payload) {
    return new CronJob<>(name, schedule, type, payload, EnqueueOptions.DEFAULTS, CatchUp.one());
  }

  /**
   * A copy with other enqueue options.
   *
   * @param options the options; no run time or delay
   * @return the new cron job
   * @throws IllegalArgumentException if the options are null or set a run time or delay
   */
  public CronJob<T> withOptions(EnqueueOptions options) {
    return new CronJob<>(name, schedule, type, payload, options, catchUp);
  }

  /**
   * A copy with another catch-up policy.
   *
   * @param catchUp the policy
   * @return the new cron job
   * @throws IllegalArgumentException if null
   */
  public CronJob<T> withCatchUp(CatchUp catchUp) {
    return new CronJob<>(name, schedule, type, payload, options, catchUp);
  }

  @Override
  public String toString() {
    return "CronJob[" + name + ", " + schedule.definition() + ", " + type.name() + ", " + catchUp
        + "]";
  }

  private static void checkName(String name) {
    // The rule of job names, core's one implementation: PostgreSQL stores both as text.
    Identifiers.name("cron job name", name);
  }
}
