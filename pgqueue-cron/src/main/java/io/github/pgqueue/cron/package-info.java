/**
 * Cron for pgqueue: enqueue a job at each firing of a cron expression or a fixed interval,
 * exactly once per firing however many cron processes run, with no leader election.
 *
 * <p>Describe each schedule as a {@link io.github.pgqueue.cron.CronJob} (a stable name, a {@link
 * io.github.pgqueue.cron.Schedule}, a job type, a payload function and a {@link
 * io.github.pgqueue.cron.CatchUp} policy) and run them with a {@link
 * io.github.pgqueue.cron.CronScheduler}. {@link io.github.pgqueue.cron.CronExpression} is the
 * parser and next-firing calculator. See {@code docs/cron.md}.
 */
package io.github.pgqueue.cron;
