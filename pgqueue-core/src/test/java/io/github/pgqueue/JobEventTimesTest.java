package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a {@link JobEvent} carries for metrics: the attempt's due time and start time by the database
 * clock (so a pickup delay needs no agreement between clocks), and CANCELLED apart from DISCARDED.
 */
@PgQueueTest
class JobEventTimesTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  final List<JobEvent> heard = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  Worker worker(JobHandler<Item> handler) {
    return Worker.builder(queue).handle(ITEM, handler).maxAbandonedThreads(1).listener(heard::add).build();
  }

  @Test
  void eventsCarryTheDueTimeAndTheStartByTheDatabaseClock() throws Exception {
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    // Due an hour ago by the database clock, whatever this JVM's clock says.
    db.execute("UPDATE pgqueue.jobs SET run_at = now() - interval '1 hour' WHERE id = " + id.value());
    Instant due = queue.find(id).orElseThrow().runAt();

    Instant dbBefore = dbNow();
    List<JobEvent> outcome = worker((item, ctx) -> {}).drain(1);
    Instant dbAfter = dbNow();

    assertThat(outcome).singleElement().satisfies(e -> assertThat(e.kind()).isEqualTo(JobEvent.Kind.SUCCEEDED));
    assertThat(heard).extracting(JobEvent::kind).containsExactly(JobEvent.Kind.STARTED, JobEvent.Kind.SUCCEEDED);
    for (JobEvent e : heard) {
      assertThat(e.runAt()).isEqualTo(due);
      assertThat(e.startedAt()).isBetween(dbBefore, dbAfter);
      assertThat(e.pickupDelay()).isEqualTo(Duration.between(due, e.startedAt()));
      assertThat(e.pickupDelay()).isGreaterThanOrEqualTo(Duration.ofHours(1));
    }
    // Both events describe the same attempt, which started once.
    assertThat(heard.get(0).startedAt()).isEqualTo(heard.get(1).startedAt());
  }

  @Test
  void aRetryIsDatedByTheRetrysDueTimeNotTheEnqueue() {
    queue.enqueue(ITEM, new Item(1));
    Worker w = Worker.builder(queue).backoff(Backoff.fixed(Duration.ZERO)).listener(heard::add)
        .handle(ITEM, (item, ctx) -> {
          if (ctx.attempt() == 1) {
            throw new IllegalStateException("first attempt fails");
          }
        }).build();
    assertThat(w.drain(5)).extracting(JobEvent::kind).containsExactly(JobEvent.Kind.RETRIED, JobEvent.Kind.SUCCEEDED);
    List<JobEvent> started = heard.stream().filter(e -> e.kind() == JobEvent.Kind.STARTED).toList();
    assertThat(started).hasSize(2);
    // The retry's run_at was set by the failure's write, after the first attempt started.
    assertThat(started.get(1).runAt()).isAfter(started.get(0).startedAt());
    assertThat(started.get(1).startedAt()).isAfterOrEqualTo(started.get(1).runAt());
  }

  @Test
  void aCancelledJobIsReportedAsCancelledAndExhaustedAttemptsAsDiscarded() {
    JobType<Item> cancels = JobType.of("cancels", Item.class);
    JobType<Item> fails = JobType.of("fails", Item.class);
    queue.enqueue(cancels, new Item(1));
    queue.enqueue(fails, new Item(2), EnqueueOptions.builder().maxAttempts(1).build());
    Worker w = Worker.builder(queue)
        .handle(cancels, (item, ctx) -> ctx.cancel("not wanted"))
        .handle(fails, (item, ctx) -> {
          throw new IllegalStateException("always");
        }).build();
    List<JobEvent> events = w.drain(5);
    assertThat(events).extracting(e -> e.name() + ":" + e.kind())
        .containsExactlyInAnyOrder("cancels:CANCELLED", "fails:DISCARDED");
    // Both are kept as discarded rows: CANCELLED differs only in what the event says.
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'")).isEqualTo(2);
  }

  @Test
  void aRescueEventHasNoTimes() {
    JobEvent rescued = new JobEvent(JobEvent.Kind.RESCUED, new JobId(1), "n", "q", 1, Duration.ZERO, null, null, null, null);
    assertThat(rescued.pickupDelay()).isNull();
    JobEvent early = new JobEvent(JobEvent.Kind.STARTED, new JobId(1), "n", "q", 1, Duration.ZERO, null, null,
        Instant.parse("2026-01-01T00:00:01Z"), Instant.parse("2026-01-01T00:00:00Z"));
    assertThat(early.pickupDelay()).isEqualTo(Duration.ZERO);
  }

  private Instant dbNow() throws Exception {
    try (Connection c = db.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT clock_timestamp()")) {
      rs.next();
      return rs.getTimestamp(1).toInstant();
    }
  }
}
