package com.example;

import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.cron.CronJob;
import io.github.pgqueue.cron.CronScheduler;
import io.github.pgqueue.cron.Schedule;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** pgqueue-cron, versioned by the imported BOM, enqueues from a project outside the repository. */
@PgQueueTest
class CronConsumerTest {

  record Tick(Instant at) {}

  static final JobType<Tick> TICK = JobType.of("tick", Tick.class);

  @Test
  void anIntervalScheduleEnqueuesJobs(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    try (CronScheduler cron = CronScheduler.builder(queue, db.dataSource())
        .add(CronJob.of("tick", Schedule.every(Duration.ofSeconds(1)), TICK, Tick::new))
        .build()) {
      cron.start();
      await().atMost(Duration.ofSeconds(30))
          .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'tick'") >= 1);
    }
  }
}
