package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The rescuer, against worker rows made to look dead. The kill -9 version is WorkerCrashProcessTest. */
@PgQueueTest
class RescueTest {

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

  /** Marks a job running under {@code owner}, as a claim by that worker would. */
  void holdAsRunning(JobId id, long owner) {
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = attempt + 1, locked_by = " + owner
        + ", lock_token = 1, locked_at = now() WHERE id = " + id.value());
  }

  @Test
  void jobsOfDeadOrUnknownWorkersGoBackCountingTheAttemptAndLiveWorkersAreLeftAlone() {
    // Each worker is judged by the threshold on its own row (a row without one counts as 30 s).
    db.execute("INSERT INTO pgqueue.workers (id, host, heartbeat_at, heartbeat_ms, stale_after_ms) OVERRIDING SYSTEM VALUE"
        + " VALUES (1001, 'dead', now() - interval '1 hour', 100, 300), (1002, 'alive', now() + interval '1 hour', 100, 300)");
    JobId ofDead = queue.enqueue(ITEM, new Item(1)).id();
    JobId ofNobody = queue.enqueue(ITEM, new Item(2)).id();
    JobId ofLive = queue.enqueue(ITEM, new Item(3)).id();
    JobId lastAttempt = queue.enqueue(ITEM, new Item(4), EnqueueOptions.builder().maxAttempts(1).build()).id();
    holdAsRunning(ofDead, 1001);
    holdAsRunning(ofNobody, 424242);
    holdAsRunning(ofLive, 1002);
    holdAsRunning(lastAttempt, 1001);

    List<JobEvent> events = new CopyOnWriteArrayList<>();
    List<Integer> ran = new CopyOnWriteArrayList<>();
    Worker w = Worker.builder(db.dataSource())
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofMillis(300))
        .listener(events::add)
        .handle(ITEM, (item, ctx) -> ran.add(item.n())).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> ran.size() == 2);
      assertThat(ran).containsExactlyInAnyOrder(1, 2);
      await().atMost(Duration.ofSeconds(5)).until(() -> queue.find(ofDead).isEmpty() && queue.find(ofNobody).isEmpty());

      JobInfo live = queue.find(ofLive).orElseThrow();
      assertThat(live.state()).isEqualTo(JobState.RUNNING);
      assertThat(live.lockedBy()).isEqualTo(1002L);

      JobInfo last = queue.find(lastAttempt).orElseThrow();
      assertThat(last.state()).isEqualTo(JobState.DISCARDED);
      assertThat(last.errors()).singleElement().satisfies(e -> {
        assertThat(e.kind()).isEqualTo(JobError.Kind.RESCUED);
        assertThat(e.message()).contains("worker 1001 stopped heartbeating");
      });
      assertThat(events.stream().filter(e -> e.kind() == JobEvent.Kind.RESCUED).count()).isEqualTo(3);
      // Maintenance removes the stale row in a statement of its own after the rescue: wait for it.
      await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
          assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers WHERE id = 1001")).as("stale row removed").isZero());
    } finally {
      w.close();
    }
  }

  @Test
  void aWorkerWhoseRowVanishedReRegistersUnderANewId() {
    Worker w = Worker.builder(db.dataSource()).heartbeatInterval(Duration.ofMillis(50))
        .staleAfter(Duration.ofSeconds(5)).handle(ITEM, (i, c) -> {}).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> w.workerId() != 0);
      long first = w.workerId();
      db.execute("DELETE FROM pgqueue.workers WHERE id = " + first);
      await().atMost(Duration.ofSeconds(10)).until(() -> w.workerId() != first);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers WHERE id = " + w.workerId())).isEqualTo(1);
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
    } finally {
      w.close();
    }
  }

  @Test
  void theClaimLeavesTheBorrowedConnectionsSettingsAlone() throws Exception {
    queue.enqueue(ITEM, new Item(1));
    JobStore store = new JobStore(new Sql("pgqueue"));
    try (var c = db.dataSource().getConnection(); var st = c.createStatement()) {
      long me = store.registerWorker(c, "test", 1, new String[] {"default"}, new Integer[] {1}, new String[] {"item"}, 100, 30_000);
      st.execute("SET synchronous_commit = on"); // the test server runs with it off
      assertThat(store.claim(c, "default", new String[] {"item"}, 10, me, 1)).hasSize(1);
      try (var rs = st.executeQuery("SHOW synchronous_commit")) {
        rs.next();
        assertThat(rs.getString(1)).as("set for the claim's own transaction only").isEqualTo("on");
      }
    }
  }

  @Test
  void aLateOutcomeOfARescuedAttemptChangesNothing() throws Exception {
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    holdAsRunning(id, 77);
    // The job was rescued and claimed again by worker 78: attempt 2 now.
    db.execute("UPDATE pgqueue.jobs SET attempt = 2, locked_by = 78, lock_token = 1 WHERE id = " + id.value());
    JobStore store = new JobStore(new Sql("pgqueue"));
    JobInfo row = queue.find(id).orElseThrow();
    ClaimedJob stale = new ClaimedJob(id.value(), "item", "default", "{}", 1, 25, 0, row.runAt(), row.createdAt(), "", 77, 1, null, row.runAt(), System.nanoTime());
    try (var c = db.dataSource().getConnection()) {
      assertThat(store.complete(c, List.of(Outcome.success(stale)))).isZero();
      assertThat(store.settle(c, List.of(Outcome.retry(stale, 0, "{}")))).isZero();
    }
    JobInfo after = queue.find(id).orElseThrow();
    assertThat(after.state()).isEqualTo(JobState.RUNNING);
    assertThat(after.lockedBy()).isEqualTo(78L);
    assertThat(after.attempt()).isEqualTo(2);
  }
}
