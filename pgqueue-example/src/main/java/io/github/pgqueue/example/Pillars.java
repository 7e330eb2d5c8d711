package io.github.pgqueue.example;

import io.github.pgqueue.Backoff;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Worker;
import io.github.pgqueue.cron.CronJob;
import io.github.pgqueue.cron.CronScheduler;
import io.github.pgqueue.cron.Schedule;
import java.io.IOException;
import java.time.Duration;
import javax.sql.DataSource;

/**
 * How each pillar is wired: the same code runs as its own process ({@link WebMain}, {@link
 * WorkerMain}, {@link CronMain}) or all together in one JVM ({@link AllInOne}).
 */
final class Pillars {
  private Pillars() {}

  static WebApp web(Config config, DataSource pool) throws IOException {
    return web(config, pool, config.database().dev());
  }

  /**
   * @param dashboardActions whether the dashboard may act: on an embedded dev database only
   */
  static WebApp web(Config config, DataSource pool, boolean dashboardActions) throws IOException {
    WebApp web = new WebApp(pool, JobQueue.create(pool), config.port(), dashboardActions);
    web.start();
    return web;
  }

  static Worker worker(Config config, DataSource pool) {
    Handlers handlers = new Handlers(pool, config.flakyFailureRate());
    Worker worker =
        // Built from a queue, as the web and cron pillars are: one place for schema and mapper.
        Worker.builder(JobQueue.create(pool))
            .queue("default", config.workerConcurrency())
            .queue("mail", Math.max(1, config.workerConcurrency() / 2))
            .dedicatedConnection(Database.direct(config.database()))
            // Short waits between attempts, so the flaky CRM's retries show up while you watch.
            .backoff(Backoff.exponential(Duration.ofSeconds(1), Duration.ofSeconds(10)))
            .handle(Jobs.WELCOME_EMAIL, handlers::welcomeEmail)
            .handle(Jobs.SYNC_CRM, handlers::syncCrm)
            .handle(Jobs.CLEANUP, handlers::cleanup)
            .handle(Jobs.REPORT, handlers::report)
            .build();
    worker.start();
    return worker;
  }

  static CronScheduler cron(Config config, DataSource pool) {
    CronScheduler cron =
        CronScheduler.builder(JobQueue.create(pool), pool)
            .add(CronJob.of("nightly-cleanup", Schedule.cron(config.cleanupCron()), Jobs.CLEANUP, Jobs.Cleanup::new))
            .add(CronJob.of("report", Schedule.every(config.reportEvery()), Jobs.REPORT, Jobs.Report::new))
            .build();
    cron.start();
    return cron;
  }

  /** Pool sizes per pillar: the web serves requests, the worker claims and completes, cron fires. */
  static int poolSize(Config config, String pillar) {
    if (config.poolSize() > 0) {
      return config.poolSize();
    }
    return switch (pillar) {
      case "web" -> 8;
      case "worker" -> 4 + config.workerConcurrency(); // claims + completer + handlers' own queries
      case "cron" -> 2;
      default -> 4;
    };
  }
}
