package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The worker's lifecycle rules: start twice does nothing, close is idempotent from any thread and
 * at any time, a failed start leaves nothing running and can be retried, start after close throws.
 */
@PgQueueTest
@Timeout(120)
class WorkerLifecycleTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  /** Worker threads left by earlier test classes in this JVM (abandoned handlers): not ours. */
  Set<Thread> before;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
    before = Set.copyOf(Thread.getAllStackTraces().keySet());
  }

  Worker newWorker() {
    return Worker.builder(db.dataSource()).pollInterval(Duration.ofMillis(50))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(5))
        .shutdownTimeout(Duration.ofSeconds(2))
        .handle(ITEM, (i, c) -> {}).build();
  }

  List<Thread> workerThreads() {
    List<Thread> out = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.isAlive() && t.getName().startsWith("pgqueue-worker-") && !before.contains(t)) {
        out.add(t);
      }
    }
    return out;
  }

  @Test
  void closeBeforeStartClosesForGood() {
    Worker w = newWorker();
    w.close();
    assertThatThrownBy(w::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    w.close();
    assertThat(w.isHealthy()).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
  }

  @Test
  void startTwiceStartsOnceAndCloseTwiceIsHarmless() {
    Worker w = newWorker();
    try {
      w.start();
      w.start(); // already running: nothing happens
      await().atMost(Duration.ofSeconds(10)).until(w::isHealthy);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("registered once").isEqualTo(1);
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
    } finally {
      w.close();
    }
    w.close();
    assertThat(w.isHealthy()).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("deregistered").isZero();
    assertThatThrownBy(w::start).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void aFailedStartLeavesNothingRunningAndCloseAfterItIsHarmless() {
    Worker w = Worker.builder(JobQueue.builder(db.dataSource()).schema("not_migrated").build()).handle(ITEM, (i, c) -> {}).build();
    assertThatThrownBy(w::start).isInstanceOf(SchemaVersionException.class);
    assertThat(workerThreads()).isEmpty();
    // A failed start may be retried: it fails the same way, not with "already started".
    assertThatThrownBy(w::start).isInstanceOf(SchemaVersionException.class);
    w.close();
    w.close();
    assertThat(w.isHealthy()).isFalse();
    assertThat(workerThreads()).isEmpty();
    assertThatThrownBy(w::start).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void concurrentStartsAndClosesFromSeveralThreadsLeaveNothingBehind() throws Exception {
    int threads = 6;
    Set<Throwable> unexpected = ConcurrentHashMap.newKeySet();
    for (int round = 0; round < 8; round++) {
      Worker w = newWorker();
      CyclicBarrier barrier = new CyclicBarrier(threads);
      List<Thread> callers = new ArrayList<>();
      for (int i = 0; i < threads; i++) {
        boolean starter = i % 2 == 0;
        Thread t = new Thread(() -> {
          try {
            barrier.await();
            if (ThreadLocalRandom.current().nextBoolean()) {
              Thread.onSpinWait();
            }
            if (starter) {
              w.start();
            } else {
              w.close();
            }
          } catch (IllegalStateException expected) {
            // start() after (or during) close(): the documented refusal
            if (!expected.getMessage().contains("closed")) {
              unexpected.add(expected);
            }
          } catch (Throwable e) {
            unexpected.add(e);
          }
        }, "lifecycle-caller-" + i);
        callers.add(t);
        t.start();
      }
      for (Thread t : callers) {
        t.join(60_000);
        assertThat(t.isAlive()).as("every call returns").isFalse();
      }
      w.close();
      assertThat(unexpected).as("only the documented IllegalStateException").isEmpty();
      assertThat(w.isHealthy()).isFalse();
      assertThatThrownBy(w::start).isInstanceOf(IllegalStateException.class);
    }
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(workerThreads()).isEmpty());
    await().atMost(Duration.ofSeconds(10))
        .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.workers") == 0);
  }
}
