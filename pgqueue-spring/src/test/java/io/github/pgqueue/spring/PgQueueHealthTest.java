package io.github.pgqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The health check's lag verdict, and the statistics read being reused within its interval. */
@PgQueueTest
class PgQueueHealthTest {

  record Ping(int n) {}

  static final JobType<Ping> PING = JobType.of("health_ping", Ping.class);

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = SpringPgQueue.jobQueue(db.dataSource(), new PgQueueProperties(), List.of());
  }

  /** The queues the report gives a lag for. */
  private static List<Object> lagged(PgQueueHealth.Report report) {
    return List.copyOf(((Map<?, ?>) report.details().get("lag")).keySet());
  }

  private void enqueueDueSince(Duration ago, String queueName) {
    queue.enqueue(PING, new Ping(1),
        EnqueueOptions.builder().queue(queueName).runAt(Instant.now().minus(ago)).build());
  }

  @Test
  void aQueueLaggingPastTheThresholdIsDown() {
    enqueueDueSince(Duration.ofHours(1), "slow");
    enqueueDueSince(Duration.ZERO, "fast");
    PgQueueHealth.Report report =
        new PgQueueHealth(queue, null, Duration.ofMinutes(10), Duration.ofMillis(1)).check();
    assertThat(report.up()).isFalse();
    assertThat(report.details()).containsEntry("lagging", List.of("slow"));
    assertThat(lagged(report)).containsExactlyInAnyOrder("slow", "fast");
  }

  @Test
  void withoutAThresholdTheLagIsReportedNotJudged() {
    enqueueDueSince(Duration.ofHours(1), "slow");
    PgQueueHealth.Report report = new PgQueueHealth(queue, null, null, Duration.ofMillis(1)).check();
    assertThat(report.up()).isTrue();
    assertThat(lagged(report)).containsExactly("slow");
    assertThat(report.details()).doesNotContainKey("lagging");
  }

  @Test
  void theStatisticsAreReusedWithinTheInterval() {
    PgQueueHealth health = new PgQueueHealth(queue, null, Duration.ofMinutes(10), Duration.ofHours(1));
    assertThat(health.check().up()).isTrue();
    enqueueDueSince(Duration.ofHours(1), "slow");
    // Read an hour ago as far as the check is concerned: the new lag is not seen yet.
    assertThat(health.check().up()).isTrue();
    assertThat(new PgQueueHealth(queue, null, Duration.ofMinutes(10), Duration.ofHours(1)).check().up()).isFalse();
  }
}
