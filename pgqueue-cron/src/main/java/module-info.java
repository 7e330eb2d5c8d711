/**
 * pgqueue-cron: {@link io.github.pgqueue.cron.CronScheduler} enqueues each cron or interval firing
 * exactly once, however many cron processes run.
 */
module io.github.pgqueue.cron {
  // JobQueue, JobType and EnqueueOptions are in this module's API.
  requires transitive io.github.pgqueue;
  requires java.sql;
  requires org.slf4j;

  exports io.github.pgqueue.cron;
}
