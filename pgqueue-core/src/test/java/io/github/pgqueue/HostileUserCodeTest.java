package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * User code (handlers, backoffs, listeners, the exceptions they throw) may throw anything, return
 * null or block. Whatever it does, the job gets an outcome, the reason is recorded, and every
 * thread of the worker stays alive: each test then runs one more job through the same slot (each
 * queue has concurrency 1, so a slot lost to the hostile code would leave that job waiting).
 */
@PgQueueTest
class HostileUserCodeTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final JobType<Item> PLAIN = JobType.of("plain", Item.class);

  TestDatabase db;
  JobQueue queue;
  final List<Worker> workers = new ArrayList<>();

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

  /** A worker with one slot, running ITEM with {@code handler} and PLAIN jobs that succeed. */
  Worker start(JobHandler<Item> handler, HandlerOptions options, JobListener listener) {
    Worker.Builder b = Worker.builder(db.dataSource()).queue("default", 1).pollInterval(Duration.ofMillis(50))
        .handle(ITEM, handler, options).handle(PLAIN, (item, ctx) -> {});
    if (listener != null) {
      b.listener(listener);
    }
    Worker w = b.build();
    workers.add(w);
    w.start();
    return w;
  }

  JobInfo job(JobId id) {
    return queue.find(id).orElseThrow();
  }

  /** The slot is still alive: another job runs through it. */
  void slotStillRuns() {
    JobId next = queue.enqueue(PLAIN, new Item(99)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(next).isEmpty());
  }

  static HandlerOptions backoff(Backoff b) {
    return HandlerOptions.builder().backoff(b).build();
  }

  @Test
  void aBackoffThatThrowsFallsBackToTheDefaultAndTheJobRecordsWhy() {
    start((item, ctx) -> {
      throw new IllegalStateException("handler failed");
    }, backoff(attempt -> {
      throw new ArithmeticException("backoff bug");
    }), null);
    JobId id = queue.enqueue(ITEM, new Item(1)).id();

    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).attempt() == 1 && job(id).state() == JobState.AVAILABLE);
    JobInfo j = job(id);
    assertThat(j.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.FAILED);
      assertThat(e.errorClass()).isEqualTo("java.lang.IllegalStateException");
      assertThat(e.message()).contains("handler failed").contains("backoff").contains("ArithmeticException")
          .contains("backoff bug").contains("default backoff");
    });
    // The default backoff after attempt 1 waits about a second (0.8 s to 1.2 s).
    assertThat(Duration.between(j.errors().get(0).at(), j.runAt())).isBetween(Duration.ofMillis(700), Duration.ofMillis(1300));
    slotStillRuns();
  }

  @Test
  void aBackoffThatReturnsNullOrANegativeOrHugeDelayFallsBackToTheDefault() {
    AtomicInteger calls = new AtomicInteger();
    start((item, ctx) -> {
      if (ctx.attempt() > 1) {
        ctx.snooze(Duration.ofHours(1)); // park it, so the check below finds it in place
        return;
      }
      throw new IllegalStateException("handler failed");
    }, backoff(attempt -> switch (calls.getAndIncrement()) {
      case 0 -> null;
      case 1 -> Duration.ofSeconds(-5);
      default -> Duration.ofSeconds(Long.MAX_VALUE);
    }), null);
    JobId a = queue.enqueue(ITEM, new Item(1)).id();
    JobId b = queue.enqueue(ITEM, new Item(2)).id();
    JobId c = queue.enqueue(ITEM, new Item(3)).id();

    for (JobId id : List.of(a, b, c)) {
      await().atMost(Duration.ofSeconds(10)).until(() -> job(id).attempt() == 1 && job(id).state() == JobState.AVAILABLE);
      assertThat(job(id).errors()).singleElement()
          .satisfies(e -> assertThat(e.message()).contains("handler failed").contains("default backoff"));
    }
    slotStillRuns();
  }

  @Test
  void aListenerThatThrowsAnErrorOnEveryEventChangesNoOutcome() {
    AtomicInteger runs = new AtomicInteger();
    start((item, ctx) -> {
      runs.incrementAndGet();
      if (item.n() == 2) {
        throw new IllegalStateException("fails once");
      }
    }, backoff(Backoff.fixed(Duration.ofHours(1))), event -> {
      throw new AssertionError("listener bug on " + event.kind());
    });
    JobId ok = queue.enqueue(ITEM, new Item(1)).id();
    JobId failing = queue.enqueue(ITEM, new Item(2)).id();

    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(ok).isEmpty());
    await().atMost(Duration.ofSeconds(10)).until(() -> job(failing).state() == JobState.AVAILABLE && job(failing).attempt() == 1);
    assertThat(job(failing).errors()).singleElement().satisfies(e -> assertThat(e.message()).isEqualTo("fails once"));
    assertThat(runs.get()).isEqualTo(2);
    slotStillRuns();
  }

  @Test
  void oneThrowingListenerDoesNotKeepEventsFromTheOthers() {
    List<JobEvent.Kind> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
    Worker w = Worker.builder(db.dataSource()).queue("default", 1).pollInterval(Duration.ofMillis(50))
        .handle(ITEM, (item, ctx) -> {})
        .listener(e -> {
          throw new StackOverflowError("first listener");
        })
        .listener(e -> seen.add(e.kind()))
        .build();
    workers.add(w);
    w.start();
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.contains(JobEvent.Kind.SUCCEEDED));
    assertThat(seen).containsExactly(JobEvent.Kind.STARTED, JobEvent.Kind.SUCCEEDED);
  }

  /** An exception whose message and description cannot be read: the error record cannot be built from it. */
  static final class Unprintable extends RuntimeException {
    @Override
    public String getMessage() {
      throw new IllegalStateException("getMessage is broken");
    }

    @Override
    public String toString() {
      throw new IllegalStateException("toString is broken");
    }
  }

  @Test
  void anExceptionThatCannotBeRecordedIsRecordedAsSuchAndRetried() {
    start((item, ctx) -> {
      throw new Unprintable();
    }, backoff(Backoff.fixed(Duration.ofHours(1))), null);
    JobId id = queue.enqueue(ITEM, new Item(1)).id();

    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).state() == JobState.AVAILABLE && job(id).attempt() == 1);
    assertThat(job(id).errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.FAILED);
      assertThat(e.errorClass()).isEqualTo(Unprintable.class.getName());
      assertThat(e.message()).contains("getMessage is broken");
    });
    slotStillRuns();
  }

  /** An Error whose message cannot be read either. */
  static final class UnprintableError extends Error {
    @Override
    public String getMessage() {
      throw new UnsupportedOperationException("no message");
    }

    @Override
    public String toString() {
      throw new UnsupportedOperationException("no description");
    }
  }

  @Test
  void aHandlerThatThrowsAnUnprintableErrorOnItsLastAttemptIsDiscarded() {
    start((item, ctx) -> {
      throw new UnprintableError();
    }, backoff(Backoff.fixed(Duration.ZERO)), null);
    JobId id = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().maxAttempts(2).build()).id();

    await().atMost(Duration.ofSeconds(10)).until(() -> job(id).state() == JobState.DISCARDED);
    assertThat(job(id).errors()).hasSize(2).allSatisfy(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.FAILED);
      assertThat(e.errorClass()).isEqualTo(UnprintableError.class.getName());
    });
    slotStillRuns();
  }

  @Test
  void aThrowingBackoffAtTheTimeoutKeepsTheWatchdogAlive() {
    AtomicBoolean release = new AtomicBoolean();
    try {
      Worker w = Worker.builder(db.dataSource()).queue("default", 1).queue("second", 1).pollInterval(Duration.ofMillis(50))
          .timeoutGrace(Duration.ofMillis(100))
          .handle(ITEM, (item, ctx) -> {
            while (!release.get()) {
              LockSupport.parkNanos(1_000_000); // ignores the interrupt: only abandoning frees the slot
            }
          }, HandlerOptions.builder().timeout(Duration.ofMillis(200)).backoff(attempt -> {
            throw new IllegalStateException("backoff bug");
          }).build())
          .build();
      workers.add(w);
      w.start();
      JobId first = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> job(first).state() == JobState.AVAILABLE && job(first).attempt() == 1);
      assertThat(job(first).errors()).singleElement().satisfies(e -> {
        assertThat(e.kind()).isEqualTo(JobError.Kind.TIMED_OUT);
        assertThat(e.message()).contains("backoff bug").contains("default backoff");
      });

      // The watchdog still enforces timeouts: a second stuck job on the other queue is abandoned too.
      JobId second = queue.enqueue(ITEM, new Item(2), EnqueueOptions.builder().queue("second").build()).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> job(second).state() == JobState.AVAILABLE && job(second).attempt() == 1);
      assertThat(job(second).errors()).singleElement()
          .satisfies(e -> assertThat(e.kind()).isEqualTo(JobError.Kind.TIMED_OUT));
    } finally {
      release.set(true);
    }
  }
}
