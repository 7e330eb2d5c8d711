package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The lifecycle contract of every long-lived part of a worker ({@link Service}): start twice
 * starts one thread, stop twice is harmless, stop before start leaves nothing to start, a start
 * after a stop does nothing, and concurrent starts and stops from several threads leave no thread
 * behind. The parts that talk to the database do so against a real PostgreSQL.
 */
@PgQueueTest
@Timeout(120)
class ServiceContractTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final List<String> KINDS = List.of("completer", "watchdog", "maintenance", "control", "fetcher", "rollup");

  TestDatabase db;
  JobStore store = new JobStore(new Sql("pgqueue"));
  WorkerConfig config;
  WorkerState state;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    config = new WorkerConfig(Worker.builder(db.dataSource()).pollInterval(Duration.ofMillis(50))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(5))
        .handle(ITEM, (i, c) -> {}));
    state = new WorkerState(config.maxAbandonedThreads, config.staleNanos);
  }

  Service newPart(String kind) {
    Completer completer = new Completer(db.dataSource(), store);
    return switch (kind) {
      case "completer" -> completer;
      case "watchdog" -> new Watchdog(config.graceNanos, state);
      case "maintenance" -> new Maintenance(config, db.dataSource(), store, state, Map.of(), null);
      case "control" -> new ControlLoop(config, db.dataSource(), store, state, Map.of(), config.queueNames(),
          config.jobNames(), (owner, id, token) -> {});
      case "fetcher" -> new Fetcher("default", 1, 0, config.pollNanos, config.jobNames(), db.dataSource(), store,
          (job, from) -> {}, completer, state, config.staleNanos);
      case "rollup" -> new Rollups(db.dataSource(), store.sql, config.rollupNanos, state::workerId);
      default -> throw new IllegalArgumentException(kind);
    };
  }

  static String uniqueName(String kind) {
    return "pgqueue-test-" + kind + "-" + UUID.randomUUID();
  }

  static List<Thread> threadsNamed(String name) {
    List<Thread> out = new ArrayList<>();
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.isAlive() && t.getName().equals(name)) {
        out.add(t);
      }
    }
    return out;
  }

  @Test
  void startTwiceStartsOneThreadAndStopEndsIt() {
    for (String kind : KINDS) {
      Service part = newPart(kind);
      String name = uniqueName(kind);
      part.start(name);
      part.start(name);
      assertThat(threadsNamed(name)).as(kind + ": threads after two starts").hasSize(1);
      assertThat(part.stop(5_000)).as(kind + ": stop ended the thread").isTrue();
      assertThat(threadsNamed(name)).as(kind + ": threads after stop").isEmpty();
    }
  }

  @Test
  void stopTwiceIsHarmlessAndAStartAfterStopDoesNothing() {
    for (String kind : KINDS) {
      Service part = newPart(kind);
      String name = uniqueName(kind);
      part.start(name);
      assertThat(part.stop(5_000)).as(kind + ": first stop").isTrue();
      assertThat(part.stop(5_000)).as(kind + ": second stop").isTrue();
      part.start(name);
      assertThat(threadsNamed(name)).as(kind + ": a stopped part stays stopped").isEmpty();
    }
  }

  @Test
  void stopBeforeStartIsHarmlessAndLeavesNothingToStart() {
    for (String kind : KINDS) {
      Service part = newPart(kind);
      String name = uniqueName(kind);
      assertThat(part.stop(1_000)).as(kind + ": stop before start").isTrue();
      part.start(name);
      assertThat(threadsNamed(name)).as(kind + ": start after an early stop").isEmpty();
      assertThat(part.stop(1_000)).as(kind + ": stop again").isTrue();
    }
  }

  @Test
  void concurrentStartsAndStopsFromSeveralThreadsLeaveNoThreadBehind() throws Exception {
    for (String kind : KINDS) {
      for (int round = 0; round < 5; round++) {
        Service part = newPart(kind);
        String name = uniqueName(kind);
        int callers = 6;
        CyclicBarrier barrier = new CyclicBarrier(callers);
        ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < callers; i++) {
          boolean starter = i % 2 == 0;
          Thread t = new Thread(() -> {
            try {
              barrier.await(10, TimeUnit.SECONDS);
              if (starter) {
                part.start(name);
                part.start(name);
              } else {
                part.stop(5_000);
              }
            } catch (Throwable e) {
              failures.add(e);
            }
          });
          t.start();
          threads.add(t);
        }
        for (Thread t : threads) {
          t.join(30_000);
          assertThat(t.isAlive()).as(kind + ": a caller returned").isFalse();
        }
        assertThat(failures).as(kind + ": no call threw").isEmpty();
        // Whichever way the race went, at most one thread ran, and a stop now ends it.
        assertThat(threadsNamed(name).size()).as(kind + ": threads while racing").isLessThanOrEqualTo(1);
        assertThat(part.stop(5_000)).as(kind + ": final stop").isTrue();
        assertThat(threadsNamed(name)).as(kind + ": threads after the race").isEmpty();
        part.start(name);
        assertThat(threadsNamed(name)).as(kind + ": start after the race").isEmpty();
      }
    }
  }

  /**
   * The rules the parts get from {@link ServiceThread}, seen without the race a part's own loop
   * adds (a told-to-stop loop may end before anyone can see its thread): no start after a stop,
   * one thread however many starts, the first stop alone tells the loop to end.
   */
  @Test
  void serviceThreadStartsAtMostOneThreadAndNeverAfterAStop() throws Exception {
    java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    Runnable loop = () -> {
      runs.incrementAndGet();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };

    ServiceThread early = new ServiceThread(loop);
    java.util.concurrent.atomic.AtomicInteger told = new java.util.concurrent.atomic.AtomicInteger();
    assertThat(early.stop(told::incrementAndGet)).as("never started").isNull();
    early.start(uniqueName("early"));
    assertThat(early.thread()).as("a start after a stop").isNull();
    early.stop(told::incrementAndGet);
    assertThat(told).as("only the first stop tells the loop").hasValue(1);

    ServiceThread raced = new ServiceThread(loop);
    int callers = 8;
    CyclicBarrier barrier = new CyclicBarrier(callers);
    List<Thread> threads = new ArrayList<>();
    String name = uniqueName("raced");
    for (int i = 0; i < callers; i++) {
      Thread t = new Thread(() -> {
        try {
          barrier.await(10, TimeUnit.SECONDS);
          raced.start(name);
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      t.start();
      threads.add(t);
    }
    for (Thread t : threads) {
      t.join(30_000);
    }
    Thread started = raced.thread();
    assertThat(started).as("one of the racing starts started it").isNotNull();
    assertThat(raced.stop(() -> {})).as("stop returns the one thread").isSameAs(started);
    raced.start(name);
    assertThat(raced.thread()).as("no second thread after the stop").isSameAs(started);
    release.countDown();
    assertThat(ServiceThread.join(started, 10_000)).isTrue();
    assertThat(runs).as("the loop ran once over both").hasValue(1);
  }

  @Test
  void theControlLoopRegistersAndConcurrentStopsDeregisterItOnce() throws Exception {
    ControlLoop control = (ControlLoop) newPart("control");
    String name = uniqueName("control");
    control.start(name);
    await().atMost(Duration.ofSeconds(20)).until(() -> state.workerId() != 0);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("registered").isEqualTo(1);
    List<Thread> stoppers = new ArrayList<>();
    ConcurrentLinkedQueue<Boolean> results = new ConcurrentLinkedQueue<>();
    CyclicBarrier barrier = new CyclicBarrier(4);
    for (int i = 0; i < 4; i++) {
      Thread t = new Thread(() -> {
        try {
          barrier.await(10, TimeUnit.SECONDS);
          results.add(control.stop(5_000));
        } catch (Exception e) {
          results.add(false);
        }
      });
      t.start();
      stoppers.add(t);
    }
    for (Thread t : stoppers) {
      t.join(30_000);
    }
    assertThat(results).as("every stop saw the thread end").hasSize(4).containsOnly(true);
    assertThat(threadsNamed(name)).isEmpty();
    await().atMost(Duration.ofSeconds(10))
        .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.workers") == 0);
  }

  @Test
  void aStopOnAnInterruptedThreadStillWaitsForThePartAndKeepsTheInterrupt() {
    for (String kind : KINDS) {
      Service part = newPart(kind);
      String name = uniqueName(kind);
      part.start(name);
      Thread.currentThread().interrupt();
      boolean ended;
      try {
        ended = part.stop(5_000);
        assertThat(Thread.currentThread().isInterrupted()).as(kind + ": the caller's interrupt is kept").isTrue();
      } finally {
        Thread.interrupted();
      }
      assertThat(ended).as(kind + ": stop waited through the interrupt").isTrue();
      assertThat(threadsNamed(name)).as(kind + ": threads after stop").isEmpty();
    }
  }
}
