package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Flow control across real worker JVMs (docs/flow-control.md), checked on a ledger of handler
 * start and end times by the database clock ({@link LedgerJobs}, {@link FlowWorkerProcess}).
 * The figures are scaled down for CI's 2 cores: 2 worker JVMs instead of 4, hundreds or a
 * few thousand jobs instead of 2,000-20,000.
 */
@Tag("process")
@PgQueueTest
class FlowControlProcessTest {

  static final String QUEUE = "flow";

  static List<ChildJvm> startWorkers(TestDatabase db, int n, int concurrency, int staleMs) throws Exception {
    List<ChildJvm> children = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      children.add(ChildJvm.start(FlowWorkerProcess.class, db.jdbcUrlWithCredentials(), QUEUE,
          String.valueOf(concurrency), String.valueOf(staleMs / 5), String.valueOf(staleMs)));
    }
    for (ChildJvm c : children) {
      await().atMost(Duration.ofSeconds(60)).until(() -> c.printed("READY"));
    }
    return children;
  }

  static void enqueue(TestDatabase db, int jobs, int workMillis) {
    JobQueue queue = JobQueue.create(db.dataSource());
    EnqueueOptions flow = EnqueueOptions.builder().queue(QUEUE).build();
    queue.enqueueAll(IntStream.range(0, jobs)
        .mapToObj(n -> NewJob.of(LedgerJobs.WORK, new LedgerJobs.Work(n, workMillis, 0), flow)).toList());
  }

  static long count(TestDatabase db, String where) {
    return db.queryLong("SELECT count(*) FROM ledger WHERE " + where);
  }

  @Test
  void pauseDuringARunStopsEveryStartOnceEveryWorkerRecordedIt(TestDatabase db) throws Exception {
    db.truncate();
    db.execute(LedgerJobs.CREATE_LEDGER);
    db.execute("TRUNCATE ledger");
    int jobs = 3_000;
    enqueue(db, jobs, 2);
    JobQueue queue = JobQueue.create(db.dataSource());
    List<ChildJvm> children = startWorkers(db, 2, 8, 2_000);
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> count(db, "outcome = 'succeeded'") >= 600);
      queue.pause(QUEUE);
      // The moment the last live worker had recorded the pause (observed: at most this late).
      await().pollInterval(Duration.ofMillis(5)).atMost(Duration.ofSeconds(10)).until(() -> db.queryLong(
          "SELECT count(*) FROM pgqueue.workers WHERE NOT ('" + QUEUE + "' = ANY(coalesce(paused_queues, '{}')))") == 0);
      db.execute("CREATE TABLE paused_at AS SELECT clock_timestamp() AS t");
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isEqualTo(2);

      await().atMost(Duration.ofSeconds(10))
          .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 0);
      long startedWhilePaused = count(db, "outcome = 'started'");
      // Nothing starts while paused, over many poll intervals.
      await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() ->
          count(db, "outcome = 'started'") == startedWhilePaused
              && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 0);
      assertThat(count(db, "outcome = 'claimed' AND at > (SELECT t FROM paused_at)"))
          .as("jobs claimed after every worker recorded the pause").isZero();
      long handedBefore = count(db, "outcome = 'started' AND at > (SELECT t FROM paused_at)");
      assertThat(handedBefore)
          .as("handlers entered before the record, whose ledger row came later: at most the running slots")
          .isLessThanOrEqualTo(16);
      long released = children.stream().mapToLong(c -> c.lines.stream()
          .filter(l -> l.contains("is paused: released")).count()).sum();

      queue.resume(QUEUE);
      await().atMost(Duration.ofSeconds(120)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      LedgerCheck.check(db, jobs, "pause during a run");
      assertThat(count(db, "attempt > 1")).as("attempts charged (the released buffers were not)").isZero();
      System.out.printf("PAUSE: %d of %d jobs started before the pause; %d handler ledger rows after the"
              + " record (entered before it); %d workers released buffered jobs%n",
          startedWhilePaused, jobs, handedBefore, released);
    } finally {
      for (ChildJvm c : children) {
        c.close();
      }
    }
  }
}
