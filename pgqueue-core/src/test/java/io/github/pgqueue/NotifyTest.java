package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

@PgQueueTest
class NotifyTest {

  TestDatabase db;
  Connection listener;

  @BeforeEach
  void listen(TestDatabase db) throws Exception {
    this.db = db;
    db.truncate();
    listener = db.dataSource().getConnection();
    try (Statement st = listener.createStatement()) {
      st.execute("LISTEN \"pgqueue.jobs\"");
    }
  }

  @AfterEach
  void close() throws Exception {
    listener.close();
  }

  @Test
  void enqueueOfADueJobNotifiesWithTheQueueName() throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().queue("mail").build());
    List<PGNotification> got = receive(Duration.ofSeconds(5), 1);
    assertThat(got).hasSize(1);
    assertThat(got.get(0).getName()).isEqualTo("pgqueue.jobs");
    assertThat(got.get(0).getParameter()).isEqualTo("mail");
  }

  @Test
  void notifiesAreRateLimitedPerQueue() throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    long start = System.nanoTime();
    int n = 200;
    for (int i = 0; i < n; i++) {
      queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"));
    }
    long elapsedMs = (System.nanoTime() - start) / 1_000_000;
    List<PGNotification> got = receive(Duration.ofSeconds(2), n);
    // At most one per millisecond window, plus the first; at least the first.
    assertThat(got).isNotEmpty().hasSizeLessThanOrEqualTo((int) elapsedMs + 2);
  }

  @Test
  void theThrottleLetsOneNotifyPerQueueThroughPerInterval() {
    long[] now = {0};
    NotifyThrottle t = new NotifyThrottle(1_000_000, () -> now[0]);
    assertThat(t.tryAcquire("a")).isTrue();
    assertThat(t.tryAcquire("a")).as("same millisecond").isFalse();
    assertThat(t.tryAcquire("b")).as("queues are throttled apart").isTrue();
    now[0] += 999_999;
    assertThat(t.tryAcquire("a")).isFalse();
    now[0] += 1;
    assertThat(t.tryAcquire("a")).isTrue();
    assertThat(t.tryAcquire("a")).isFalse();
  }

  @Test
  void noNotifyWhenTurnedOffOrForLaterJobs() throws Exception {
    JobQueue silent = JobQueue.builder(db.dataSource()).notify(false).build();
    silent.enqueue(SEND_EMAIL, new SendEmail("a", "b"));
    silent.enqueueAll(SEND_EMAIL, List.of(new SendEmail("a", "b")));
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().delay(Duration.ofMinutes(5)).build());
    assertThat(receive(Duration.ofMillis(500), 1)).isEmpty();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(3);
  }

  @Test
  void bulkEnqueueNotifiesEachQueueOnce() throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueueAll(
        List.of(
            NewJob.of(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().queue("q1").build()),
            NewJob.of(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().queue("q2").build()),
            NewJob.of(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().queue("q1").build())));
    List<PGNotification> got = receive(Duration.ofSeconds(2), 3);
    assertThat(got).extracting(PGNotification::getParameter).containsExactlyInAnyOrder("q1", "q2");
  }

  @Test
  void inTheCallersTransactionTheNotifyArrivesOnlyOnCommit() throws Exception {
    JobQueue queue = JobQueue.create(db.dataSource());
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      queue.enqueue(c, SEND_EMAIL, new SendEmail("a", "b"));
      assertThat(receive(Duration.ofMillis(300), 1)).as("nothing before commit").isEmpty();
      c.rollback();
      assertThat(receive(Duration.ofMillis(300), 1)).as("nothing after rollback").isEmpty();

      JobQueue fresh = JobQueue.create(db.dataSource()); // its throttle has not fired yet
      fresh.enqueue(c, SEND_EMAIL, new SendEmail("a", "b"));
      c.commit();
      assertThat(receive(Duration.ofSeconds(5), 1)).hasSize(1);
    }
  }

  /** Collects notifications until {@code max} arrived or {@code within} passed. */
  private List<PGNotification> receive(Duration within, int max) throws Exception {
    List<PGNotification> out = new ArrayList<>();
    long deadline = System.nanoTime() + within.toNanos();
    PGConnection pg = listener.unwrap(PGConnection.class);
    while (out.size() < max) {
      long leftMs = (deadline - System.nanoTime()) / 1_000_000;
      if (leftMs <= 0) {
        break;
      }
      PGNotification[] batch = pg.getNotifications((int) leftMs);
      if (batch != null) {
        out.addAll(List.of(batch));
      }
    }
    return out;
  }
}
