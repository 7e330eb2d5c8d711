package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A fleet whose workers run different heartbeat settings, and a worker with a large pruning
 * backlog: a live worker's jobs never run twice.
 */
@PgQueueTest
class FleetSettingsTest {

  record Item(int n, int workMillis) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  Worker worker(Duration heartbeat, Duration stale, Duration retention, Map<Integer, AtomicInteger> runs,
      List<JobEvent> events) {
    return Worker.builder(db.dataSource())
        .heartbeatInterval(heartbeat).staleAfter(stale).pollInterval(Duration.ofMillis(50))
        .discardedRetention(retention)
        .listener(events::add)
        .handle(ITEM, (item, ctx) -> {
          runs.computeIfAbsent(item.n(), k -> new AtomicInteger()).incrementAndGet();
          Thread.sleep(item.workMillis());
        }).build();
  }

  /**
   * Worker A heartbeats every second and counts as dead after 6 s; B heartbeats every 100 ms and
   * counts as dead after 400 ms. B must judge A by A's own threshold, not by its own.
   */
  @Test
  void aPeerWithAShorterStaleThresholdDoesNotRescueALiveWorkersJobs() {
    Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    Worker a = worker(Duration.ofSeconds(1), Duration.ofSeconds(6), Duration.ZERO, runs, events);
    Worker b = null;
    a.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> a.workerId() != 0);
      queue.enqueueAll(ITEM, IntStream.range(0, 5).mapToObj(n -> new Item(n, 4_000)).toList());
      await().atMost(Duration.ofSeconds(10)).until(() -> runs.size() == 5);
      b = worker(Duration.ofMillis(100), Duration.ofMillis(400), Duration.ZERO, runs, events);
      b.start();
      await().atMost(Duration.ofSeconds(20)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(events).noneMatch(e -> e.kind() == JobEvent.Kind.RESCUED);
      assertThat(runs.values()).as("runs per job").allSatisfy(n -> assertThat(n.get()).isEqualTo(1));
    } finally {
      a.close();
      if (b != null) {
        b.close();
      }
    }
  }

  /** stats() judges each worker by the threshold on its own row, as the rescuer does. */
  @Test
  void aWorkersRowRecordsEachQueuesConcurrencyAndDrainRecordsOne() {
    Worker w = Worker.builder(db.dataSource()).queue("mail", 3).queue("reports", 7)
        .handle(ITEM, (item, ctx) -> {}).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> w.workerId() != 0);
      for (String q : List.of("mail", "reports")) {
        assertThat(db.queryLong("SELECT concurrency[array_position(queues, '" + q + "')] FROM pgqueue.workers"
            + " WHERE id = " + w.workerId())).as("slots of %s", q).isEqualTo(q.equals("mail") ? 3 : 7);
      }
      assertThat(db.queryLong("SELECT cardinality(concurrency) FROM pgqueue.workers WHERE id = " + w.workerId()))
          .isEqualTo(2);
    } finally {
      w.close();
    }
    // drain() runs one job at a time, and its row says so while it runs.
    List<Long> seen = new CopyOnWriteArrayList<>();
    queue.enqueue(ITEM, new Item(1, 0));
    Worker.builder(db.dataSource()).queue("default", 5).handle(ITEM, (item, ctx) -> seen.add(
        db.queryLong("SELECT concurrency[1] FROM pgqueue.workers WHERE host = 'drain'"))).build().drain(10);
    assertThat(seen).containsExactly(1L);
  }

  @Test
  void statsCountsEachWorkerAsLiveByItsOwnThreshold() {
    db.execute("DELETE FROM pgqueue.workers");
    db.execute("INSERT INTO pgqueue.workers (host, queues, job_names, heartbeat_at, heartbeat_ms, stale_after_ms) VALUES"
        + " ('slow-but-alive', '{default}', '{item}', now() - interval '40 seconds', 10000, 60000),"
        + " ('fast-and-dead', '{other}', '{other}', now() - interval '2 seconds', 100, 1000),"
        + " ('fast-and-dead-too', '{other}', '{other}', now() - interval '2 seconds', 100, 1000)");
    queue.enqueue(ITEM, new Item(1, 0));
    queue.enqueue(JobType.of("other", Item.class), new Item(2, 0), EnqueueOptions.builder().queue("other").build());
    QueueStats stats = queue.stats();
    assertThat(stats.liveWorkers()).isEqualTo(1);
    assertThat(stats.unhandled()).extracting(QueueStats.Unhandled::name).containsExactly("other");
  }

  /**
   * 200,000 discarded jobs past their retention: the worker that prunes them keeps heartbeating,
   * so a peer never judges it dead and never rescues its jobs, and the backlog is pruned in slices.
   */
  @Test
  void pruningABigBacklogDoesNotStallTheHeartbeat() {
    db.execute("INSERT INTO pgqueue.jobs (name, payload, state, discarded_at)"
        + " SELECT 'item', '{}', 'discarded', now() - interval '2 days' FROM generate_series(1, 200000)");
    // A real backlog builds up over days, with statistics kept by autovacuum; rows inserted in one
    // go have none until it runs, and the planner would sort the whole backlog for every batch.
    db.execute("ANALYZE pgqueue.jobs");
    Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
    List<JobEvent> events = new CopyOnWriteArrayList<>();
    Worker pruner = worker(Duration.ofMillis(100), Duration.ofMillis(1_000), Duration.ofDays(1), runs, events);
    Worker peer = worker(Duration.ofMillis(100), Duration.ofMillis(1_000), Duration.ZERO, runs, new CopyOnWriteArrayList<>());
    pruner.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> pruner.workerId() != 0);
      queue.enqueueAll(ITEM, IntStream.range(0, 2).mapToObj(n -> new Item(n, 6_000)).toList());
      await().atMost(Duration.ofSeconds(10)).until(() -> runs.size() == 2);
      peer.start();
      await().atMost(Duration.ofSeconds(60)).until(
          () -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state <> 'discarded'") == 0);
      assertThat(runs.values()).as("runs per job").allSatisfy(n -> assertThat(n.get()).isEqualTo(1));
      // Pruning goes on in slices, tick after tick (not once per prune period, 10 minutes here):
      // more than two ticks' worth is gone.
      long twoTicks = 2L * Maintenance.MAX_STATEMENTS_PER_TICK * Maintenance.ROWS_PER_STATEMENT;
      await().atMost(Duration.ofMinutes(3)).until(
          () -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'") < 200_000 - twoTicks);
    } finally {
      pruner.close();
      peer.close();
    }
  }
}
