package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class AdminTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final JobType<Item> OTHER = JobType.of("other", Item.class);

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  /** Runs every due job once with a handler that fails with {@code message}; all are discarded. */
  private void failAll(JobType<Item> type, String message) {
    Worker.builder(db.dataSource()).handle(type, (item, ctx) -> {
      throw new IllegalStateException(message);
    }).build().drain(1_000);
  }

  @Test
  void retryADiscardedJobGivesItAFreshBudgetAndKeepsItsErrors() {
    JobId id = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(1).build()).id();
    failAll(ITEM, "smtp down");
    assertThat(queue.find(id).orElseThrow().state()).isEqualTo(JobState.DISCARDED);

    assertThat(queue.retry(id)).isEqualTo(new AdminResult(AdminResult.Status.DONE, JobState.AVAILABLE, null));
    JobInfo j = queue.find(id).orElseThrow();
    assertThat(j.state()).isEqualTo(JobState.AVAILABLE);
    assertThat(j.attempt()).isZero();
    assertThat(j.discardedAt()).isNull();
    assertThat(j.errors()).hasSize(1);

    List<JobEvent> events = Worker.builder(db.dataSource()).handle(ITEM, (i, c) -> {}).build().drain(10);
    assertThat(events).extracting(JobEvent::kind).containsExactly(JobEvent.Kind.SUCCEEDED);
    assertThat(queue.find(id)).isEmpty();
  }

  @Test
  void retryMakesAScheduledJobDueNowAndRefusesRunningOrMissingJobs() {
    JobId later = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().delay(Duration.ofDays(1)).build()).id();
    assertThat(queue.retry(later).done()).isTrue();
    assertThat(queue.find(later).orElseThrow().runAt()).isBefore(java.time.Instant.now().plusSeconds(5));

    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, locked_at = now() WHERE id = " + later.value());
    assertThat(queue.retry(later)).isEqualTo(new AdminResult(AdminResult.Status.WRONG_STATE, JobState.RUNNING, null));
    assertThat(queue.retry(new JobId(999_999))).isEqualTo(new AdminResult(AdminResult.Status.NOT_FOUND, null, null));
  }

  @Test
  void retryLeavesAJobAloneWhoseKeyIsHeldAgain() {
    EnqueueOptions keyed = EnqueueOptions.builder().uniqueKey("k").maxAttempts(1).build();
    JobId first = queue.enqueue(ITEM, new Item(1), keyed).id();
    failAll(ITEM, "x");
    JobId second = queue.enqueue(ITEM, new Item(2), keyed).id();
    assertThat(second).isNotEqualTo(first);
    assertThat(queue.retry(first))
        .as("the reason names the job holding the key")
        .isEqualTo(new AdminResult(AdminResult.Status.KEY_TAKEN, JobState.DISCARDED, second));
    assertThat(queue.find(first).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
  }

  @Test
  void retryDiscardedRevivesOneJobPerKeyAndReportsTheRest() {
    EnqueueOptions keyA = EnqueueOptions.builder().uniqueKey("a").maxAttempts(1).build();
    EnqueueOptions keyB = EnqueueOptions.builder().uniqueKey("b").maxAttempts(1).build();
    EnqueueOptions unkeyed = EnqueueOptions.builder().maxAttempts(1).build();
    // Three discarded jobs with key "a", one after another (the key is free again once discarded).
    queue.enqueue(ITEM, new Item(1), keyA);
    failAll(ITEM, "down");
    queue.enqueue(ITEM, new Item(2), keyA);
    failAll(ITEM, "down");
    JobId newestA = queue.enqueue(ITEM, new Item(3), keyA).id();
    // Two with key "b", whose key a pending job holds again.
    queue.enqueue(ITEM, new Item(4), keyB);
    failAll(ITEM, "down");
    queue.enqueue(ITEM, new Item(5), keyB);
    // And two without a key.
    queue.enqueueAll(ITEM, List.of(new Item(6), new Item(7)), unkeyed);
    failAll(ITEM, "down");
    JobId holderB = queue.enqueue(ITEM, new Item(8), keyB).id();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'")).isEqualTo(7);

    RetryDiscardedResult result = queue.retryDiscarded("item", "down");

    assertThat(result).isEqualTo(new RetryDiscardedResult(3, 4));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND unique_key = 'a'"))
        .as("one job per key").isEqualTo(1);
    assertThat(queue.find(newestA).orElseThrow().state()).as("the most recently discarded").isEqualTo(JobState.AVAILABLE);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND unique_key = 'b'"))
        .as("only the job that held the key already").isEqualTo(1);
    assertThat(queue.find(holderB).orElseThrow().state()).isEqualTo(JobState.AVAILABLE);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND unique_key IS NULL"))
        .as("unkeyed jobs are all retried").isEqualTo(2);
    assertThat(queue.retryDiscarded("item", "down")).as("the rest stay skipped while the keys are taken")
        .isEqualTo(new RetryDiscardedResult(0, 4));
  }

  @Test
  void cancelDiscardsAPendingJobWithTheReason() {
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    assertThat(queue.cancel(id, "duplicate order")).isEqualTo(new AdminResult(AdminResult.Status.DONE, JobState.DISCARDED, null));
    JobInfo j = queue.find(id).orElseThrow();
    assertThat(j.state()).isEqualTo(JobState.DISCARDED);
    assertThat(j.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.CANCELLED);
      assertThat(e.message()).isEqualTo("duplicate order");
    });
    assertThat(queue.cancel(id, "again")).as("only available jobs")
        .isEqualTo(new AdminResult(AdminResult.Status.WRONG_STATE, JobState.DISCARDED, null));
    assertThat(queue.find(id).orElseThrow().errors()).as("a refused cancel writes nothing").hasSize(1);
    assertThat(queue.cancel(new JobId(999_999), "x").status()).isEqualTo(AdminResult.Status.NOT_FOUND);
  }

  @Test
  void listAndRetryDiscardedByNameAndError() {
    EnqueueOptions once = EnqueueOptions.builder().maxAttempts(1).build();
    queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2)), once);
    failAll(ITEM, "SMTP timeout");
    queue.enqueue(ITEM, new Item(3), once);
    failAll(ITEM, "invalid address");
    queue.enqueue(OTHER, new Item(4), once);
    failAll(OTHER, "SMTP timeout");

    assertThat(queue.discardedJobs(null, 10)).hasSize(4);
    List<JobInfo> items = queue.discardedJobs("item", 10);
    assertThat(items).hasSize(3).allMatch(j -> j.name().equals("item"));
    assertThat(items.get(0).payload()).as("newest first").isEqualTo("{\"n\": 3}");

    assertThat(queue.retryDiscarded("item", "smtp TIMEOUT")).isEqualTo(new RetryDiscardedResult(2, 0));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available'")).isEqualTo(2);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded' AND name = 'other'")).isEqualTo(1);
    assertThat(queue.retryDiscarded("item", "")).isEqualTo(new RetryDiscardedResult(1, 0));
  }

  @Test
  void deleteRemovesAvailableAndDiscardedJobsButNotRunningOnes() {
    JobId pending = queue.enqueue(ITEM, new Item(1)).id();
    JobId running = queue.enqueue(ITEM, new Item(2)).id();
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, locked_at = now() WHERE id = " + running.value());
    assertThat(queue.delete(pending)).isEqualTo(new AdminResult(AdminResult.Status.DONE, null, null));
    assertThat(queue.delete(running)).isEqualTo(new AdminResult(AdminResult.Status.WRONG_STATE, JobState.RUNNING, null));
    assertThat(queue.delete(pending)).as("already gone").isEqualTo(new AdminResult(AdminResult.Status.NOT_FOUND, null, null));
    assertThat(queue.find(pending)).isEmpty();
    assertThat(queue.find(running)).isPresent();
  }

  @Test
  void cancelDiscardsARunningJobAndClearsItsClaim() {
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, lock_token = 7, locked_at = now()"
        + " WHERE id = " + id.value());
    assertThat(queue.cancel(id, "stop it")).isEqualTo(new AdminResult(AdminResult.Status.DONE, JobState.DISCARDED, null));
    JobInfo j = queue.find(id).orElseThrow();
    assertThat(j.state()).isEqualTo(JobState.DISCARDED);
    assertThat(j.lockedBy()).as("the claim is gone, so the attempt's late outcome matches nothing").isNull();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE lock_token IS NOT NULL")).isZero();
    assertThat(j.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.CANCELLED);
      assertThat(e.message()).isEqualTo("stop it");
    });
  }

  @Test
  void retryOfAKeyedJobThatHoldsItsOwnKeyIsDone() {
    JobId id = queue.enqueue(ITEM, new Item(1),
        EnqueueOptions.builder().uniqueKey("own").delay(Duration.ofHours(1)).build()).id();
    assertThat(queue.retry(id)).as("an available job holds its own key; that does not refuse it")
        .isEqualTo(new AdminResult(AdminResult.Status.DONE, JobState.AVAILABLE, null));
  }

  @Test
  void aResultOnlyCarriesWhatItsStatusMeans() {
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> new AdminResult(AdminResult.Status.KEY_TAKEN, JobState.DISCARDED, null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("keyHolder");
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> new AdminResult(AdminResult.Status.WRONG_STATE, null, null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("state found");
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> new AdminResult(AdminResult.Status.NOT_FOUND, JobState.RUNNING, null))
        .isInstanceOf(IllegalArgumentException.class);
  }

  /**
   * Racing operations on one job each get a true reason: of eight deletes exactly one is DONE and
   * the others find nothing (never a wrong state); of eight cancels exactly one is DONE and the
   * others find the job discarded.
   */
  @Test
  void racingOperationsEachGetATrueReason() throws Exception {
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(8);
    try {
      for (int round = 0; round < 5; round++) {
        JobId del = queue.enqueue(ITEM, new Item(round)).id();
        JobId can = queue.enqueue(ITEM, new Item(round)).id();
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        List<java.util.concurrent.Future<AdminResult>> deletes = new java.util.ArrayList<>();
        List<java.util.concurrent.Future<AdminResult>> cancels = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
          deletes.add(pool.submit(() -> { go.await(); return queue.delete(del); }));
          cancels.add(pool.submit(() -> { go.await(); return queue.cancel(can, "race"); }));
        }
        go.countDown();
        List<AdminResult> d = new java.util.ArrayList<>();
        List<AdminResult> c = new java.util.ArrayList<>();
        for (int i = 0; i < 4; i++) {
          d.add(deletes.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS));
          c.add(cancels.get(i).get(30, java.util.concurrent.TimeUnit.SECONDS));
        }
        assertThat(d).filteredOn(AdminResult::done).hasSize(1);
        assertThat(d).filteredOn(r -> !r.done()).allMatch(r -> r.status() == AdminResult.Status.NOT_FOUND);
        assertThat(c).filteredOn(AdminResult::done).hasSize(1);
        assertThat(c).filteredOn(r -> !r.done())
            .allMatch(r -> r.equals(new AdminResult(AdminResult.Status.WRONG_STATE, JobState.DISCARDED, null)));
        assertThat(queue.find(can).orElseThrow().errors()).as("cancelled once").hasSize(1);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void pruneDeletesOnlyOldDiscardedJobs() {
    EnqueueOptions once = EnqueueOptions.builder().maxAttempts(1).build();
    queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2), new Item(3)), once);
    failAll(ITEM, "x");
    db.execute("UPDATE pgqueue.jobs SET discarded_at = now() - interval '8 days' WHERE payload = '{\"n\": 1}'");
    db.execute("UPDATE pgqueue.jobs SET discarded_at = now() - interval '8 days' WHERE payload = '{\"n\": 2}'");
    queue.enqueue(ITEM, new Item(9));

    assertThat(queue.pruneDiscarded(Duration.ofDays(7))).isEqualTo(2);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(2);
  }

  @Test
  void workersPruneOnTheirOwn() {
    queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(1).build());
    failAll(ITEM, "x");
    db.execute("UPDATE pgqueue.jobs SET discarded_at = now() - interval '1 hour'");
    Worker w = Worker.builder(db.dataSource()).heartbeatInterval(Duration.ofMillis(100))
        .discardedRetention(Duration.ofMinutes(1)).handle(ITEM, (i, c) -> {}).build();
    w.start();
    try {
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
          .until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    } finally {
      w.close();
    }
  }
}
