package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * The heartbeat statement hangs (here: another session holds a lock on the worker's row) without
 * failing. Peers will judge the worker dead once its row is older than its stale threshold, so it
 * must stop claiming well before that, and claim again once the heartbeat goes through.
 */
@PgQueueTest
class HeartbeatStallTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  @Test
  void aWorkerWhoseHeartbeatHangsStopsClaimingBeforeItsThreshold(TestDatabase db) throws Exception {
    db.truncate();
    JobQueue queue = JobQueue.create(db.dataSource());
    Set<Integer> ran = ConcurrentHashMap.newKeySet();
    Worker w = Worker.builder(db.dataSource())
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(50))
        .handle(ITEM, (item, ctx) -> ran.add(item.n())).build();
    w.start();
    try (Connection locker = db.dataSource().getConnection()) {
      await().atMost(Duration.ofSeconds(10)).until(() -> w.workerId() != 0 && w.isHealthy());
      queue.enqueue(ITEM, new Item(0));
      await().atMost(Duration.ofSeconds(10)).until(() -> ran.contains(0));

      locker.setAutoCommit(false);
      try (Statement st = locker.createStatement()) {
        st.execute("SELECT 1 FROM pgqueue.workers WHERE id = " + w.workerId() + " FOR UPDATE");
      }
      // Past half the threshold since the last heartbeat that went through, the worker must not claim.
      Thread.sleep(1_700);
      queue.enqueue(ITEM, new Item(1));
      long deadline = System.nanoTime() + Duration.ofMillis(1_000).toNanos();
      while (System.nanoTime() < deadline) {
        assertThat(ran).as("claimed while its heartbeat hung past half its threshold").doesNotContain(1);
        assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'running'")).isZero();
        Thread.sleep(50);
      }
      locker.rollback();
      await().atMost(Duration.ofSeconds(20)).until(() -> ran.contains(1));
    } finally {
      w.close();
    }
  }
}
