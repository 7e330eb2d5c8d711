package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class WorkerFailureTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  final List<Worker> workers = new ArrayList<>();
  final List<JobEvent> events = new CopyOnWriteArrayList<>();

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

  Worker start(Worker.Builder b) {
    Worker w = b.pollInterval(Duration.ofMillis(50)).listener(events::add).build();
    workers.add(w);
    w.start();
    return w;
  }

  JobInfo job(JobId id) {
    return queue.find(id).orElseThrow();
  }

  @Test
  void failuresRetryWithBackoffThenDiscardKeepingEveryError() {
    AtomicInteger runs = new AtomicInteger();
    start(Worker.builder(db.dataSource()).backoff(Backoff.fixed(Duration.ofMillis(100)))
        .handle(ITEM, (item, ctx) -> {
          runs.incrementAndGet();
          if (ctx.attempt() == 2) {
            throw new OutOfMemoryError("simulated Error on attempt 2");
          }
          throw new IllegalStateException("boom " + ctx.attempt());
        }));
    JobId id = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(3).build()).id();

    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).state() == JobState.DISCARDED);
    JobInfo j = job(id);
    assertThat(runs.get()).isEqualTo(3);
    assertThat(j.attempt()).isEqualTo(3);
    assertThat(j.payload()).isEqualTo("{\"n\": 1}");
    assertThat(j.discardedAt()).isNotNull();
    assertThat(j.lockedBy()).isNull();
    assertThat(j.errors()).hasSize(3);
    assertThat(j.errors()).extracting(JobError::attempt).containsExactly(1, 2, 3);
    assertThat(j.errors()).extracting(JobError::kind).containsOnly(JobError.Kind.FAILED);
    assertThat(j.errors().get(0).errorClass()).isEqualTo("java.lang.IllegalStateException");
    assertThat(j.errors().get(0).message()).isEqualTo("boom 1");
    assertThat(j.errors().get(0).stackTrace()).contains("WorkerFailureTest");
    assertThat(j.errors().get(0).at()).isNotNull();
    assertThat(j.errors().get(1).errorClass()).isEqualTo("java.lang.OutOfMemoryError");
    assertThat(events).extracting(JobEvent::kind)
        .containsSubsequence(JobEvent.Kind.RETRIED, JobEvent.Kind.RETRIED, JobEvent.Kind.DISCARDED);
    JobEvent retried = events.stream().filter(e -> e.kind() == JobEvent.Kind.RETRIED).findFirst().orElseThrow();
    assertThat(retried.retryIn()).isEqualTo(Duration.ofMillis(100));
    assertThat(retried.error()).hasMessage("boom 1");
  }

  @Test
  void retryWaitsForTheBackoff() {
    start(Worker.builder(db.dataSource())
        .handle(ITEM, (item, ctx) -> {
          throw new IllegalStateException("always");
        }, HandlerOptions.builder().backoff(Backoff.fixed(Duration.ofHours(1))).build()));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).attempt() == 1 && job(id).state() == JobState.AVAILABLE);
    JobInfo j = job(id);
    assertThat(Duration.between(j.errors().get(0).at(), j.runAt()))
        .isBetween(Duration.ofMinutes(59), Duration.ofMinutes(61));
  }

  @Test
  void snoozeRunsAgainWithoutCountingAnAttempt() {
    List<Integer> attempts = new CopyOnWriteArrayList<>();
    start(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {
      attempts.add(ctx.attempt());
      if (attempts.size() < 3) {
        ctx.snooze(Duration.ofMillis(100));
      }
    }));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
    assertThat(attempts).containsExactly(1, 1, 1);
    assertThat(events).extracting(JobEvent::kind).contains(JobEvent.Kind.SNOOZED);
  }

  @Test
  void cancelDiscardsAtOnceWithTheReasonEvenIfTheHandlerThrowsAfterwards() {
    start(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {
      ctx.cancel("customer closed the account");
      throw new IllegalStateException("ignored: cancel wins");
    }));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).state() == JobState.DISCARDED);
    JobError e = job(id).errors().get(0);
    assertThat(e.kind()).isEqualTo(JobError.Kind.CANCELLED);
    assertThat(e.message()).isEqualTo("customer closed the account");
    assertThat(job(id).attempt()).isEqualTo(1);
  }

  @Test
  void anUndecodablePayloadIsDiscardedAtOnceWithTheDecodingError() {
    AtomicInteger runs = new AtomicInteger();
    start(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> runs.incrementAndGet()));
    JobId id = queue.enqueue(JobType.of("item", String.class), "not an object").id();
    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).state() == JobState.DISCARDED);
    JobInfo j = job(id);
    assertThat(runs.get()).isZero();
    assertThat(j.attempt()).as("one attempt, not retried").isEqualTo(1);
    assertThat(j.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.UNDECODABLE);
      assertThat(e.errorClass()).contains("jackson");
    });
    assertThat(j.payload()).isEqualTo("\"not an object\"");
  }

  @Test
  void anUnknownNameIsNeverClaimedAndShowsInStatistics() {
    start(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {}));
    JobId unknown = queue.enqueue(JobType.of("nobody_handles_this", Item.class), new Item(1)).id();
    JobId known = queue.enqueue(ITEM, new Item(2)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(known).isEmpty());
    await().atMost(Duration.ofSeconds(10)).until(() -> !queue.stats().unhandled().isEmpty());

    JobInfo j = job(unknown);
    assertThat(j.state()).isEqualTo(JobState.AVAILABLE);
    assertThat(j.attempt()).isZero();
    QueueStats stats = queue.stats();
    assertThat(stats.unhandled()).containsExactly(new QueueStats.Unhandled("nobody_handles_this", "default", 1));
    assertThat(stats.liveWorkers()).isEqualTo(1);
    assertThat(stats.queues()).singleElement().satisfies(q -> {
      assertThat(q.due()).isEqualTo(1);
      assertThat(q.oldestDueAge()).isNotNull();
    });
    assertThat(stats.table()).isNotNull();
  }

  @Test
  void aHandlerBlockedInTheDatabaseIsAbandonedAtItsTimeoutAndTheJobRetried() throws Exception {
    List<Integer> pids = new CopyOnWriteArrayList<>();
    AtomicInteger secondAttempt = new AtomicInteger();
    Worker w = start(Worker.builder(db.dataSource())
        .timeoutGrace(Duration.ofMillis(300))
        .handle(ITEM, (item, ctx) -> {
          if (ctx.attempt() == 2) {
            secondAttempt.incrementAndGet();
            return;
          }
          // interrupt() cannot unblock this socket read: only abandoning the attempt frees the slot.
          try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
            var rs = st.executeQuery("SELECT pg_backend_pid()");
            rs.next();
            pids.add(rs.getInt(1));
            st.execute("SELECT pg_sleep(600)");
          }
        }, HandlerOptions.builder().timeout(Duration.ofMillis(500)).backoff(Backoff.fixed(Duration.ZERO)).build()));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    try {
      await().atMost(Duration.ofSeconds(15)).until(() -> secondAttempt.get() == 1);
      await().atMost(Duration.ofSeconds(5)).until(() -> queue.find(id).isEmpty());
      JobEvent retried = events.stream().filter(e -> e.kind() == JobEvent.Kind.RETRIED).findFirst().orElseThrow();
      assertThat(retried.error()).isInstanceOf(JobTimeoutException.class).hasMessageContaining("abandoned");
      assertThat(w.isHealthy()).as("one stuck thread is under the cap").isTrue();
    } finally {
      for (int pid : pids) {
        db.execute("SELECT pg_terminate_backend(" + pid + ")");
      }
    }
  }

  @Test
  void aTimedOutHandlerThatHonoursTheInterruptIsRetriedAsTimedOut() {
    start(Worker.builder(db.dataSource())
        .handle(ITEM, (item, ctx) -> {
          if (ctx.attempt() == 1) {
            Thread.sleep(60_000); // interruptible
          }
        }, HandlerOptions.builder().timeout(Duration.ofMillis(200)).backoff(Backoff.fixed(Duration.ofSeconds(30))).build()));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).state() == JobState.AVAILABLE && job(id).attempt() == 1);
    JobError e = job(id).errors().get(0);
    assertThat(e.kind()).isEqualTo(JobError.Kind.TIMED_OUT);
    assertThat(e.message()).contains("was interrupted");
    assertThat(e.stackTrace()).contains("InterruptedException");
  }

  @Test
  void pastTheCapOfAbandonedThreadsTheWorkerStopsClaimingAndReportsUnhealthy() {
    AtomicBoolean release = new AtomicBoolean();
    try {
      Worker w = start(Worker.builder(db.dataSource()).maxAbandonedThreads(1).timeoutGrace(Duration.ofMillis(100))
          .handle(ITEM, (item, ctx) -> {
            while (!release.get()) {
              LockSupport.parkNanos(1_000_000); // returns on interrupt, and the loop ignores it
            }
          }, HandlerOptions.builder().timeout(Duration.ofMillis(200)).backoff(Backoff.fixed(Duration.ofHours(1))).build()));
      await().atMost(Duration.ofSeconds(10)).until(w::isHealthy);
      queue.enqueue(ITEM, new Item(1));
      await().atMost(Duration.ofSeconds(10)).until(() -> !w.isHealthy());
      JobId later = queue.enqueue(ITEM, new Item(2)).id();
      // Several poll cycles pass: the job must stay unclaimed.
      await().pollDelay(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> true);
      assertThat(job(later).attempt()).isZero();

      release.set(true); // the stuck thread returns: the worker is healthy again and claims
      await().atMost(Duration.ofSeconds(10)).until(w::isHealthy);
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(later).isEmpty());
    } finally {
      release.set(true);
    }
  }
}
