package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link JobContext#progress}: written to its own table, guarded by the claim, rate-limited,
 * visible through {@link JobQueue#find}, and pruned once the job is gone.
 */
@PgQueueTest
class JobProgressTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("progress_item", Item.class);

  @BeforeEach
  void clean(TestDatabase db) {
    db.truncate();
  }

  static Worker.Builder fast(DataSource ds) {
    return Worker.builder(ds)
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50));
  }

  @Test
  void progressIsVisibleWhileTheJobRunsAndPrunedOnceItIsGone(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    CountDownLatch letGo = new CountDownLatch(1);
    AtomicReference<Boolean> recorded = new AtomicReference<>();
    Worker w = fast(db.dataSource()).handle(ITEM, (item, ctx) -> {
      recorded.set(ctx.progress(Map.of("done", 3, "of", 10)));
      letGo.await(30, TimeUnit.SECONDS);
    }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).map(JobInfo::progress).isPresent());
      JobInfo running = queue.find(id).orElseThrow();
      assertThat(recorded.get()).isTrue();
      assertThat(running.state()).isEqualTo(JobState.RUNNING);
      assertThat(running.progress().attempt()).isEqualTo(1);
      assertThat(running.progress().json()).contains("\"done\":3").contains("\"of\":10");
      assertThat(running.progress().updatedAt()).isBefore(Instant.now().plusSeconds(60));
      JobPage page = queue.jobs(JobQuery.builder().state(JobState.RUNNING).build());
      assertThat(page.jobs()).singleElement().satisfies(j -> assertThat(j.progress()).isEqualTo(running.progress()));
    } finally {
      letGo.countDown();
    }
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.job_progress") == 0);
    } finally {
      w.close();
    }
  }

  /**
   * With a long interval only the first call writes; the latest kept data is written when the
   * attempt fails, and stays with the discarded job.
   */
  @Test
  void writesAreRateLimitedAndTheLatestIsWrittenWhenTheAttemptFails(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    List<String> seenWhileRunning = new CopyOnWriteArrayList<>();
    Worker w = fast(db.dataSource()).progressInterval(Duration.ofHours(1)).handle(ITEM, (item, ctx) -> {
      ctx.progress(Map.of("step", 1));
      ctx.progress(Map.of("step", 2));
      ctx.progress(Map.of("step", 3));
      seenWhileRunning.add(queue.find(ctx.id()).orElseThrow().progress().json());
      throw new IllegalStateException("fails at step 3");
    }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(1).build()).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).orElseThrow().state() == JobState.DISCARDED);
      assertThat(seenWhileRunning).as("only the first call was written while it ran").containsExactly("{\"step\":1}");
      assertThat(queue.find(id).orElseThrow().progress().json()).as("the latest, written at the failure")
          .isEqualTo("{\"step\":3}");
    } finally {
      w.close();
    }
  }

  @Test
  void progressOverTheSizeLimitIsRefusedNamingTheLimit(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    AtomicReference<Throwable> refused = new AtomicReference<>();
    Worker w = fast(db.dataSource()).handle(ITEM, (item, ctx) -> {
      try {
        ctx.progress(Map.of("log", "x".repeat(JobContext.MAX_PROGRESS_BYTES)));
      } catch (IllegalArgumentException e) {
        refused.set(e);
      }
    }).build();
    w.start();
    try {
      queue.enqueue(ITEM, new Item(1));
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(refused.get()).hasMessageContaining("at most 8192 bytes").hasMessageContaining("got: 8202");
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_progress")).isZero();
    } finally {
      w.close();
    }
  }

  /** A cancelled attempt's progress call says so and writes nothing. */
  @Test
  void progressAfterTheJobWasCancelledReturnsFalse(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    CountDownLatch started = new CountDownLatch(1);
    AtomicReference<Boolean> afterCancel = new AtomicReference<>();
    Worker w = fast(db.dataSource()).progressInterval(Duration.ofMillis(10)).timeoutGrace(Duration.ofMinutes(1))
        .handle(ITEM, (item, ctx) -> {
          ctx.progress(Map.of("step", 1));
          started.countDown();
          try {
            new CountDownLatch(1).await(5, TimeUnit.MINUTES);
          } catch (InterruptedException e) {
            afterCancel.set(ctx.progress(Map.of("step", 2)));
          }
        }).build();
    w.start();
    try {
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(queue.cancel(id, "stop").status()).isEqualTo(AdminResult.Status.DONE);
      await().atMost(Duration.ofSeconds(10)).until(() -> afterCancel.get() != null);
      assertThat(afterCancel.get()).isFalse();
      assertThat(queue.find(id).orElseThrow().progress().json()).isEqualTo("{\"step\":1}");
    } finally {
      w.close();
    }
  }

  /** The write is guarded by (id, owner, token) in the database itself, not only by the worker's flags. */
  @Test
  void theWriteIsGuardedByTheClaim(TestDatabase db) throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, lock_token = 5, locked_at = now()"
        + " WHERE id = " + id.value());
    JobStore store = new JobStore(new Sql("pgqueue"));
    try (Connection c = db.dataSource().getConnection()) {
      assertThat(store.writeProgress(c, claimed(id, 1, 6), "{\"a\": 1}")).as("another claim's token").isFalse();
      assertThat(store.writeProgress(c, claimed(id, 2, 5), "{\"a\": 1}")).as("another owner").isFalse();
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_progress")).isZero();
      assertThat(store.writeProgress(c, claimed(id, 1, 5), "{\"a\": 2}")).isTrue();
      assertThat(store.writeProgress(c, claimed(id, 1, 5), "{\"a\":3}")).as("overwrites").isTrue();
    }
    assertThat(queue.find(id).orElseThrow().progress().json()).isEqualTo("{\"a\":3}");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.job_progress")).isEqualTo(1);
  }

  static ClaimedJob claimed(JobId id, long owner, long token) {
    return new ClaimedJob(id.value(), ITEM.name(), "default", "{}", 1, 5, 0, Instant.now(), Instant.now(), null,
        owner, token, null, Instant.now(), System.nanoTime());
  }
}
