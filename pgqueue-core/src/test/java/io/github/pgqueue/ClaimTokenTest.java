package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every claim stamps its rows with its own token, and every outcome write and release is guarded
 * by it: a write from an earlier claim never acts on a later claim of the same job, even by the
 * same worker with the same attempt number (a snooze or release gives the attempt back).
 */
@PgQueueTest
class ClaimTokenTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  JobStore store = new JobStore(new Sql("pgqueue"));

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  long register(Connection c) throws Exception {
    return store.registerWorker(c, "test", 1, new String[] {"default"}, new Integer[] {1}, new String[] {"item"}, 100, 30_000);
  }

  @Test
  void aReplayedReleaseFromAnEarlierClaimDoesNotActOnALaterClaimOfTheSameJobBySameWorker() throws Exception {
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      ClaimedJob first = store.claim(c, "default", new String[] {"item"}, 1, me, 1).get(0);
      assertThat(store.settle(c, List.of(Outcome.release(first)))).isEqualTo(1);
      ClaimedJob second = store.claim(c, "default", new String[] {"item"}, 1, me, 2).get(0);
      assertThat(second.attempt()).as("the release gave the attempt back").isEqualTo(first.attempt());

      // The first release is written again (a retried batch whose first reply was lost).
      assertThat(store.settle(c, List.of(Outcome.release(first)))).as("replayed release").isZero();
      assertThat(store.settle(c, List.of(Outcome.snooze(first, 0)))).as("replayed snooze").isZero();
      assertThat(store.complete(c, List.of(Outcome.success(first)))).as("replayed success").isZero();
      JobInfo row = queue.find(id).orElseThrow();
      assertThat(row.state()).isEqualTo(JobState.RUNNING);
      assertThat(row.lockedBy()).isEqualTo(me);

      assertThat(store.complete(c, List.of(Outcome.success(second)))).as("the live claim's own write").isEqualTo(1);
    }
  }

  @Test
  void anAvailableRowWithNoAttemptLeftDoesNotBlockItsQueue() throws Exception {
    JobId bad = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(3).priority(5).build()).id();
    JobId good = queue.enqueue(ITEM, new Item(2)).id();
    // Reachable by hand-written SQL: the schema accepts attempt = max_attempts on an available row.
    db.execute("UPDATE pgqueue.jobs SET attempt = max_attempts WHERE id = " + bad.value());
    try (Connection c = db.dataSource().getConnection()) {
      long me = register(c);
      List<ClaimedJob> claimed = store.claim(c, "default", new String[] {"item"}, 10, me, 1);
      assertThat(claimed).extracting(ClaimedJob::id).containsExactly(good.value());
    }
    JobInfo row = queue.find(bad).orElseThrow();
    assertThat(row.state()).isEqualTo(JobState.DISCARDED);
    assertThat(row.errors()).last().satisfies(e -> assertThat(e.message()).contains("no attempt left"));
  }
}
