package io.github.pgqueue.cron;

import java.time.Instant;

/**
 * What one scheduler knows about one of its cron jobs. Confined to the scheduler's thread.
 *
 * <p>{@code cursor} is the last firing this process knows to be done: the stored {@code last_fired}
 * as last read or claimed, or, while standing down, the last firing it let pass. The next firing
 * this process tries is the first one after it.
 */
final class ScheduleState {

  final CronJob<?> job;
  final String name;
  final String definition;
  /** Failures of this job's payload function or enqueue; database failures are counted apart. */
  final FailureStreak failures;

  boolean registered;
  Instant origin;
  Instant cursor;
  /** True while the stored definition is not this process's: its claims match nothing. */
  boolean standingDown;
  /** The stored definition this process last warned about while standing down. */
  String foreignDefinition;
  /** The stored row says disabled ({@code CronAdmin.disable}): this process fires nothing for it. */
  boolean disabled;

  ScheduleState(CronJob<?> job, FailureStreak failures) {
    this.job = job;
    this.name = job.name();
    this.definition = job.schedule().definition();
    this.failures = failures;
  }

  Schedule schedule() {
    return job.schedule();
  }

  Instant next() {
    return Firings.nextAfter(job.schedule(), origin, cursor);
  }

  @Override
  public String toString() {
    return "cron job \"" + name + "\" (" + definition + ")";
  }
}
