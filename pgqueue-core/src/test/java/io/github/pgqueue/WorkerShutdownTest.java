package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class WorkerShutdownTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @Test
  void closeLetsRunningJobsFinishAndReleasesBufferedOnesWithoutCharge() throws Exception {
    CountDownLatch started = new CountDownLatch(2);
    CountDownLatch proceed = new CountDownLatch(1);
    Set<Integer> finished = ConcurrentHashMap.newKeySet();
    queue.enqueueAll(ITEM, IntStream.range(0, 50).mapToObj(Item::new).toList());
    Worker w = Worker.builder(db.dataSource()).queue("default", 2).shutdownTimeout(Duration.ofSeconds(10))
        .handle(ITEM, (item, ctx) -> {
          started.countDown();
          proceed.await();
          finished.add(item.n());
        }).build();
    w.start();
    await().atMost(Duration.ofSeconds(10)).until(() -> started.getCount() == 0);

    Thread closer = new Thread(w::close);
    closer.start();
    // close() waits for the two running jobs; let them finish now.
    await().atMost(Duration.ofSeconds(5)).until(() -> closer.getState() == Thread.State.TIMED_WAITING);
    proceed.countDown();
    closer.join(15_000);
    assertThat(closer.isAlive()).isFalse();

    assertThat(finished).hasSize(2);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(48);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state <> 'available' OR attempt <> 0"))
        .as("jobs claimed but never started go back uncharged").isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("deregistered").isZero();
    w.close(); // idempotent
  }

  @Test
  void jobsPastTheShutdownTimeoutAreInterruptedAndRunLater() throws Exception {
    AtomicBoolean firstRun = new AtomicBoolean(true);
    AtomicInteger completions = new AtomicInteger();
    CountDownLatch started = new CountDownLatch(1);
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    Worker w = Worker.builder(db.dataSource()).shutdownTimeout(Duration.ofMillis(300))
        .timeoutGrace(Duration.ofSeconds(2))
        .handle(ITEM, (item, ctx) -> {
          if (firstRun.getAndSet(false)) {
            started.countDown();
            Thread.sleep(60_000); // interrupted by close()
          }
          completions.incrementAndGet();
        }).build();
    w.start();
    started.await();
    long t0 = System.nanoTime();
    w.close();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));

    JobInfo j = queue.find(id).orElseThrow();
    assertThat(j.state()).isEqualTo(JobState.AVAILABLE);
    assertThat(j.attempt()).as("shutdown does not charge the attempt").isZero();

    Worker again = Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> completions.incrementAndGet()).build();
    again.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
      assertThat(completions.get()).isEqualTo(1);
    } finally {
      again.close();
    }
  }

  @Test
  void closeBeforeStartAndTwiceIsHarmless() {
    Worker w = Worker.builder(db.dataSource()).handle(ITEM, (i, c) -> {}).build();
    w.close();
    w.start();
    w.close();
    w.close();
    assertThat(w.isHealthy()).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
    List<Worker> none = List.of();
    assertThat(none).isEmpty();
  }
}
