package io.github.pgqueue.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The per-queue gauges: right values, read by one statement per interval however often they are
 * scraped (counted on the connections, since pg_stat_statements may not be loaded).
 */
@PgQueueTest
class QueueGaugesTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  /** Only the queue-depth statement has a UNION ALL among what a JobQueue prepares. */
  static final String DEPTH_STATEMENT = "UNION ALL";

  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @Test
  void aHundredScrapesWithinOneIntervalRunTheStatementOnce() {
    seed();
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    JobQueue queue = JobQueue.create(counting.dataSource);
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (QueueGauges gauges = PgQueueMetrics.builder(prometheus).build().queueGauges(queue, Duration.ofHours(1))) {
      gauges.bindTo(prometheus);
      await().atMost(Duration.ofSeconds(10)).until(() -> counting.count(DEPTH_STATEMENT) == 1
          && !Scrape.parse(prometheus.scrape()).find("pgqueue_queue_due", "queue", "mail").isEmpty());
      int scrapes = 0;
      Scrape last = null;
      for (; scrapes < 100; scrapes++) {
        last = Scrape.parse(prometheus.scrape());
      }
      assertThat(scrapes).isEqualTo(100);
      assertThat(counting.count(DEPTH_STATEMENT)).isEqualTo(1);
      // The values, with the documented names and tags: 3 due and 2 scheduled in "mail", 1 running
      // in "default", 4 discarded nowhere.
      assertThat(last.value("pgqueue_queue_due", "queue", "mail")).isEqualTo(3);
      assertThat(last.value("pgqueue_queue_scheduled", "queue", "mail")).isEqualTo(2);
      assertThat(last.value("pgqueue_queue_running", "queue", "mail")).isEqualTo(0);
      assertThat(last.value("pgqueue_queue_oldest_due_age_seconds", "queue", "mail")).isBetween(600.0, 1200.0);
      assertThat(last.value("pgqueue_queue_due", "queue", "default")).isEqualTo(0);
      assertThat(last.value("pgqueue_queue_running", "queue", "default")).isEqualTo(1);
      assertThat(last.value("pgqueue_queue_oldest_due_age_seconds", "queue", "default")).isEqualTo(0);
      assertThat(last.find("pgqueue_queue_due", "queue", "old")).isEmpty();
      assertThat(last.value("pgqueue_queue_stats_age_seconds")).isBetween(0.0, 3600.0);
      for (Scrape.Sample s : last.samples()) {
        if (s.name().startsWith("pgqueue_queue_") && !s.name().startsWith("pgqueue_queue_stats")) {
          assertThat(s.labels().keySet()).containsExactly("queue");
        }
      }
    }
  }

  @Test
  void scrapesOverSeveralIntervalsRunItAtMostOncePerIntervalAndSeeNewWork() {
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    JobQueue queue = JobQueue.create(counting.dataSource);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    Duration interval = Duration.ofSeconds(1);
    long startNanos = System.nanoTime();
    try (QueueGauges gauges = PgQueueMetrics.builder(registry).build().queueGauges(queue, interval)) {
      gauges.bindTo(registry);
      await().atMost(Duration.ofSeconds(10)).until(() -> counting.count(DEPTH_STATEMENT) >= 1);
      assertThat(registry.find("pgqueue.queue.due").gauge()).isNull(); // no queue has work yet

      JobQueue.create(db.dataSource()).enqueue(ITEM, new Item(1), EnqueueOptions.builder().queue("late").build());
      int[] scrapes = {0};
      // Scrape every 30 ms until the new job shows (a later interval's read) and 100 scrapes are done.
      await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(30)).until(() -> {
        scrapes[0]++;
        registry.getMeters().forEach(m -> m.measure().forEach(x -> x.getValue()));
        var due = registry.find("pgqueue.queue.due").tag("queue", "late").gauge();
        return scrapes[0] >= 100 && due != null && due.value() == 1;
      });
      long elapsedNanos = System.nanoTime() - startNanos;
      long allowed = 1 + elapsedNanos / interval.toNanos();
      assertThat(counting.count(DEPTH_STATEMENT)).isBetween(2L, allowed);
    }
  }

  @Test
  void closedGaugesStopReadingAndCannotBeBoundAgain() {
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    QueueGauges gauges = PgQueueMetrics.builder(registry).build()
        .queueGauges(JobQueue.create(counting.dataSource), Duration.ofSeconds(1));
    gauges.close(); // before bindTo: nothing ever started
    assertThatThrownBy(() -> gauges.bindTo(registry)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
    assertThat(counting.prepared).isEmpty();
  }

  @Test
  void aFailedReadKeepsTheLastValuesAndTheAgeSaysHowOld() {
    seed();
    CountingDataSource counting = new CountingDataSource(db.dataSource());
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (QueueGauges gauges = PgQueueMetrics.builder(registry).build()
        .queueGauges(JobQueue.create(counting.dataSource), Duration.ofSeconds(1))) {
      gauges.bindTo(registry);
      await().atMost(Duration.ofSeconds(10)).until(() -> registry.find("pgqueue.queue.due").tag("queue", "mail").gauge() != null);
      assertThat(registry.get("pgqueue.queue.due").tag("queue", "mail").gauge().value()).isEqualTo(3);
      counting.down = true;
      // Reads now fail every second; the age passes 3 intervals while the values stay.
      await().atMost(Duration.ofSeconds(20)).until(() -> registry.get("pgqueue.queue.stats.age").gauge().value() > 3);
      assertThat(registry.get("pgqueue.queue.due").tag("queue", "mail").gauge().value()).isEqualTo(3);
      assertThat(registry.get("pgqueue.queue.scheduled").tag("queue", "mail").gauge().value()).isEqualTo(2);
      counting.down = false;
      await().atMost(Duration.ofSeconds(10)).until(() -> registry.get("pgqueue.queue.stats.age").gauge().value() < 2);
    }
  }

  @Test
  void beforeTheFirstReadTheAgeIsNaN() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    // A schema that does not exist: every read fails, the scrape still works.
    JobQueue broken = JobQueue.builder(db.dataSource()).schema("no_such_schema").build();
    try (QueueGauges gauges = PgQueueMetrics.builder(registry).build().queueGauges(broken, Duration.ofSeconds(1))) {
      gauges.bindTo(registry);
      await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(5))
          .until(() -> Double.isNaN(registry.get("pgqueue.queue.stats.age").gauge().value()));
      assertThat(registry.find("pgqueue.queue.due").gauge()).isNull();
    }
  }

  private void seed() {
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, run_at)
        SELECT 'item', 'mail', '{}'::jsonb, now() - interval '10 minutes' FROM generate_series(1, 3)
        UNION ALL SELECT 'item', 'mail', '{}'::jsonb, now() + interval '1 hour' FROM generate_series(1, 2)
        """);
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, locked_by, locked_at)
        VALUES ('item', 'default', '{}', 'running', 1, 1, now())
        """);
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, max_attempts, discarded_at)
        SELECT 'item', 'old', '{}', 'discarded', 1, 1, now() FROM generate_series(1, 4)
        """);
  }
}
