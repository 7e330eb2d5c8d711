package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** kill -9 of a real worker JVM mid-job: nothing is lost, nothing stays locked. */
@Tag("process")
@PgQueueTest
class WorkerCrashProcessTest {

  @Test
  void jobsOfAKilledWorkerAreRescuedAndCompletedByAnother(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueueAll(LedgerJobs.WORK, IntStream.range(0, 30).mapToObj(n -> new LedgerJobs.Work(n, 4_000, 0)).toList());

    Worker rescuer = null;
    try (ChildJvm child = ChildJvm.start(WorkerProcess.class, db.jdbcUrlWithCredentials(), "200", "1000", "10")) {
      await().atMost(Duration.ofSeconds(30)).until(() -> child.printed("READY"));
      await().atMost(Duration.ofSeconds(30))
          .until(() -> db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'started' AND pid = " + child.pid()) == 10);
      child.kill();
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'"))
          .as("the dead worker's jobs stay locked until rescued").isEqualTo(10);

      long t0 = System.nanoTime();
      rescuer = Worker.builder(db.dataSource())
          .heartbeatInterval(Duration.ofMillis(200)).staleAfter(Duration.ofMillis(1_000))
          .queue("default", 30).pollInterval(Duration.ofMillis(100))
          .handle(LedgerJobs.WORK, (work, ctx) -> LedgerJobs.record(db.dataSource(), work.n(), ctx, -1, "started"))
          .build();
      rescuer.start();
      await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      System.out.printf("all 30 jobs done %d ms after the kill%n", (System.nanoTime() - t0) / 1_000_000);

      assertThat(db.queryLong("SELECT count(DISTINCT n) FROM ledger")).as("no job lost").isEqualTo(30);
      assertThat(db.queryLong("SELECT count(*) FROM ledger WHERE pid = -1")).as("each finished once by the rescuer").isEqualTo(30);
      assertThat(db.queryLong("SELECT count(*) FROM ledger WHERE pid = -1 AND attempt = 2"))
          .as("the killed attempts were counted").isEqualTo(10);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers WHERE pid = " + child.pid()))
          .as("the dead worker's registration is removed").isZero();
    } finally {
      if (rescuer != null) {
        rescuer.close();
      }
    }
  }

  @Test
  void sigtermStopsAWorkerProcessGracefully(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueueAll(LedgerJobs.WORK, IntStream.range(0, 3).mapToObj(n -> new LedgerJobs.Work(n, 500, 0)).toList());
    try (ChildJvm child = ChildJvm.start(WorkerProcess.class, db.jdbcUrlWithCredentials(), "200", "1000", "10")) {
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'started'") == 3);
      child.terminate();
      assertThat(child.process.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      // The exit code alone does not prove the hook ran: the worker's last log line does.
      await().atMost(Duration.ofSeconds(5)).until(() -> child.printed("worker stopped"));
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).as("running jobs finished before exit").isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
  }
}
