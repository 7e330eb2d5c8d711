package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Pause and resume of a queue (docs/flow-control.md), with workers in this JVM. */
@PgQueueTest
class PauseTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  final List<Worker> workers = new ArrayList<>();
  final AtomicInteger ran = new AtomicInteger();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @AfterEach
  void stopWorkers() {
    workers.forEach(Worker::close);
  }

  Worker start(String q, JobHandler<Item> handler) {
    Worker w = Worker.builder(db.dataSource())
        .queue(q, 4)
        .pollInterval(Duration.ofMillis(200))
        .heartbeatInterval(Duration.ofMillis(200))
        .staleAfter(Duration.ofSeconds(2))
        .handle(ITEM, handler)
        .build();
    workers.add(w);
    w.start();
    await().atMost(Duration.ofSeconds(10)).until(() -> w.workerId() != 0);
    return w;
  }

  /** n jobs into the "reports" queue. */
  void enqueueReports(int n) {
    EnqueueOptions reports = EnqueueOptions.builder().queue("reports").build();
    for (int i = 0; i < n; i++) {
      queue.enqueue(ITEM, new Item(i), reports);
    }
  }

  long acked(String q) {
    return db.queryLong("SELECT count(*) FROM pgqueue.workers WHERE '" + q + "' = ANY(coalesce(paused_queues, '{}'))");
  }

  @Test
  void pausedQueueClaimsNothingUntilResumedWhileEnqueueWorksAndOtherQueuesRun() {
    Worker w = start("reports", (item, ctx) -> ran.incrementAndGet());
    Worker other = Worker.builder(db.dataSource()).queue("mail", 2).pollInterval(Duration.ofMillis(200))
        .handle(ITEM, (item, ctx) -> { }).build();
    workers.add(other);
    other.start();

    queue.pause("reports");
    await().atMost(Duration.ofSeconds(10)).until(() -> acked("reports") == 2);

    enqueueReports(20); // enqueue still works
    queue.enqueue(ITEM, new Item(99), EnqueueOptions.builder().queue("mail").build());
    await().atMost(Duration.ofSeconds(10))
        .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE queue = 'mail'") == 0);
    // The paused queue's jobs stay available over several poll intervals and NOTIFYs.
    await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3))
        .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE queue = 'reports' AND state = 'available'") == 20);
    assertThat(ran).hasValue(0);

    queue.resume("reports");
    await().atMost(Duration.ofSeconds(10)).until(() -> ran.get() == 20);
    await().atMost(Duration.ofSeconds(10)).until(() -> acked("reports") == 0);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.queue_controls"))
        .as("a resumed queue with no other control leaves no row").isZero();
    assertThat(w.workerId()).isNotZero();
  }

  @Test
  void runningJobsFinishAndBufferedJobsAreReleasedUncharged() throws Exception {
    java.util.concurrent.Semaphore release = new java.util.concurrent.Semaphore(0);
    AtomicInteger blocked = new AtomicInteger();
    // The first 60 jobs are quick, so claims come back full and the local buffer grows; the rest
    // block, so the buffer holds jobs that have not started when the pause comes.
    Worker w = Worker.builder(db.dataSource())
        .queue("reports", 4)
        .bufferFactor(4)
        .pollInterval(Duration.ofMillis(200))
        .handle(ITEM, (item, ctx) -> {
          ran.incrementAndGet();
          if (item.n() >= 60) {
            blocked.incrementAndGet();
            if (!release.tryAcquire(30, TimeUnit.SECONDS)) {
              throw new IllegalStateException("never released");
            }
          }
        })
        .build();
    workers.add(w);
    enqueueReports(200);
    w.start();
    await().atMost(Duration.ofSeconds(20)).until(() -> blocked.get() >= 4);
    // The buffer refills only when a slot is idle. When the claim that brought the fourth blocking
    // job ended with it, the blocked handlers took every buffered job and no slot is idle, so
    // nothing more is claimed (CI read exactly 4 running here twice). Then one handler is let
    // finish: its slot idles, and the next claim takes a buffer's worth besides, since every claim
    // so far came back full. A precondition that still fails if the buffer never fills.
    await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
      long running = db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'");
      if (running <= 4 && blocked.get() >= 4 && release.availablePermits() == 0) {
        release.release();
      }
      assertThat(running).as("precondition: jobs claimed into the buffer").isGreaterThan(4);
    });
    long inHand = db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'"); // for the report
    int ranBefore = ran.get();

    queue.pause("reports");
    await().atMost(Duration.ofSeconds(10)).until(() -> acked("reports") == 1);
    // The buffered jobs went back with their attempt given back; the 4 running ones still run.
    await().atMost(Duration.ofSeconds(10))
        .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 4);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND attempt > 0"))
        .as("released jobs were not charged an attempt").isZero();

    release.release(1_000);
    await().atMost(Duration.ofSeconds(10))
        .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'") == 0);
    assertThat(ran).as("nothing started after the pause was recorded").hasValue(ranBefore);
    long left = db.queryLong("SELECT count(*) FROM pgqueue.jobs");
    assertThat(left).isEqualTo(200 - ranBefore);

    queue.resume("reports");
    await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(ran).hasValue(200);
    System.out.printf("pause with %d jobs in hand (4 running): %d released uncharged%n", inHand, inHand - 4);
  }

  @Test
  void pauseSurvivesWorkerRestarts() {
    queue.pause("reports");
    enqueueReports(5);
    Worker first = start("reports", (item, ctx) -> ran.incrementAndGet());
    await().atMost(Duration.ofSeconds(10)).until(() -> acked("reports") == 1);
    first.close();
    Worker second = start("reports", (item, ctx) -> ran.incrementAndGet());
    await().atMost(Duration.ofSeconds(10)).until(() -> acked("reports") == 1);
    await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(3)).until(() -> ran.get() == 0);

    queue.pause("reports"); // pausing a paused queue changes nothing
    queue.resume("reports");
    await().atMost(Duration.ofSeconds(10)).until(() -> ran.get() == 5);
    assertThat(second.workerId()).isNotZero();
  }

  @Test
  void badQueueNamesAreRefused() {
    assertThatThrownBy(() -> queue.pause("no spaces")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no spaces");
    assertThatThrownBy(() -> queue.resume("")).isInstanceOf(IllegalArgumentException.class);
  }
}
