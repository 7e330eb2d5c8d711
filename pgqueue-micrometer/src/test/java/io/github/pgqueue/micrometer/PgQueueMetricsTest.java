package io.github.pgqueue.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.Backoff;
import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.NewJob;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The job counters and timers after a known workload, read from a {@link SimpleMeterRegistry} and
 * from the Prometheus text format, with the names and tags docs/observability.md documents.
 */
@PgQueueTest
class PgQueueMetricsTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @AfterEach
  void stop() {
    workers.forEach(Worker::close);
  }

  /**
   * 100 jobs: 90 succeed, 7 fail once then succeed, 3 are discarded (one attempt allowed). Both
   * registries see exactly those counts, every attempt is timed, every start's pickup delay too.
   */
  @Test
  void aKnownWorkloadGivesExactlyItsCountsInBothRegistries() {
    SimpleMeterRegistry simple = new SimpleMeterRegistry();
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    PgQueueMetrics m1 = PgQueueMetrics.builder(simple).build();
    PgQueueMetrics m2 = PgQueueMetrics.builder(prometheus).build();
    JobQueue queue = JobQueue.builder(db.dataSource())
        .enqueueInterceptor(m1.enqueueInterceptor()).enqueueInterceptor(m2.enqueueInterceptor()).build();

    List<NewJob<?>> jobs = new ArrayList<>();
    for (int n = 0; n < 100; n++) {
      EnqueueOptions o = n >= 97 ? EnqueueOptions.builder().maxAttempts(1).build() : EnqueueOptions.DEFAULTS;
      jobs.add(NewJob.of(ITEM, new Item(n), o));
    }
    queue.enqueueAll(jobs.subList(0, 50));
    for (NewJob<?> j : jobs.subList(50, 100)) {
      queue.enqueueAll(List.of(j));
    }

    Worker worker = Worker.builder(queue).queue("default", 4).pollInterval(Duration.ofMillis(50))
        .backoff(Backoff.fixed(Duration.ofMillis(10)))
        .listener(m1.jobListener()).listener(m2.jobListener())
        .handle(ITEM, (item, ctx) -> {
          if (item.n() >= 97 || (item.n() >= 90 && ctx.attempt() == 1)) {
            throw new IllegalStateException("job " + item.n() + " fails on attempt " + ctx.attempt());
          }
        }).build();
    workers.add(worker);
    worker.start();

    // The rows first (outcomes are written after the listener hears of them, or just before):
    // every job deleted but the 3 discarded; then the listener's last counts.
    await().atMost(Duration.ofSeconds(60)).until(() ->
        db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 3
            && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'") == 3);
    await().atMost(Duration.ofSeconds(10)).until(() -> processed(simple, "succeeded") == 97 && processed(simple, "discarded") == 3
        && processed(prometheus, "succeeded") == 97 && processed(prometheus, "discarded") == 3);
    worker.close();

    for (io.micrometer.core.instrument.MeterRegistry r : List.of(simple, prometheus)) {
      assertThat(r.get("pgqueue.jobs.enqueued").tags("name", "item", "queue", "default").counter().count()).isEqualTo(100);
      assertThat(processed(r, "succeeded")).isEqualTo(97);
      assertThat(processed(r, "failed")).isEqualTo(7);
      assertThat(processed(r, "discarded")).isEqualTo(3);
      assertThat(r.find("pgqueue.jobs.processed").tag("outcome", "cancelled").counter()).isNull();
      assertThat(r.find("pgqueue.jobs.processed").tag("outcome", "snoozed").counter()).isNull();
      assertThat(r.get("pgqueue.jobs.duration").tags("outcome", "succeeded").timer().count()).isEqualTo(97);
      assertThat(r.get("pgqueue.jobs.duration").tags("outcome", "failed").timer().count()).isEqualTo(7);
      assertThat(r.get("pgqueue.jobs.duration").tags("outcome", "discarded").timer().count()).isEqualTo(3);
      Timer pickup = r.get("pgqueue.jobs.pickup.delay").tags("name", "item", "queue", "default").timer();
      assertThat(pickup.count()).isEqualTo(107); // one per attempt: 100 + 7 retries
    }

    Scrape s = Scrape.parse(prometheus.scrape());
    assertThat(s.value("pgqueue_jobs_enqueued_total", "name", "item", "queue", "default")).isEqualTo(100);
    assertThat(s.value("pgqueue_jobs_processed_total", "name", "item", "queue", "default", "outcome", "succeeded"))
        .isEqualTo(97);
    assertThat(s.value("pgqueue_jobs_processed_total", "name", "item", "queue", "default", "outcome", "failed"))
        .isEqualTo(7);
    assertThat(s.value("pgqueue_jobs_processed_total", "name", "item", "queue", "default", "outcome", "discarded"))
        .isEqualTo(3);
    assertThat(s.find("pgqueue_jobs_processed_total")).hasSize(3);
    assertThat(s.value("pgqueue_jobs_duration_seconds_count", "outcome", "succeeded")).isEqualTo(97);
    assertThat(s.value("pgqueue_jobs_duration_seconds_count", "outcome", "failed")).isEqualTo(7);
    assertThat(s.value("pgqueue_jobs_duration_seconds_count", "outcome", "discarded")).isEqualTo(3);
    assertThat(s.find("pgqueue_jobs_duration_seconds_sum")).hasSize(3);
    assertThat(s.value("pgqueue_jobs_pickup_delay_seconds_count", "name", "item", "queue", "default")).isEqualTo(107);
    assertThat(s.value("pgqueue_jobs_pickup_delay_seconds_sum", "name", "item", "queue", "default")).isNotNegative();
    // Exactly the documented label keys, and never a job id.
    for (Scrape.Sample sample : s.samples()) {
      if (sample.name().startsWith("pgqueue_jobs_")) {
        assertThat(sample.labels().keySet()).isSubsetOf("name", "queue", "outcome");
        assertThat(sample.labels().keySet()).contains("name", "queue");
      }
    }
  }

  /** The outcomes the known workload does not reach: cancelled, snoozed; and rescued. */
  @Test
  void cancelledSnoozedAndRescuedHaveTheirOwnCounts() {
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    PgQueueMetrics metrics = PgQueueMetrics.builder(prometheus).build();
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(metrics.enqueueInterceptor()).build();
    JobType<Item> cancels = JobType.of("cancels", Item.class);
    JobType<Item> snoozes = JobType.of("snoozes", Item.class);
    queue.enqueue(cancels, new Item(1), EnqueueOptions.builder().queue("mail").build());
    queue.enqueue(snoozes, new Item(2), EnqueueOptions.builder().queue("mail").build());
    // A job running under a worker that does not exist (no row counts as dead): rescued.
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, locked_by, locked_at)
        VALUES ('orphan', 'mail', '{}', 'running', 1, 999999, now())
        """);

    Worker worker = Worker.builder(queue).queue("mail", 2).pollInterval(Duration.ofMillis(50))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofMillis(500))
        .listener(metrics.jobListener())
        .handle(cancels, (item, ctx) -> ctx.cancel("no longer wanted"))
        .handle(snoozes, (item, ctx) -> ctx.snooze(Duration.ofHours(1)))
        .build();
    workers.add(worker);
    worker.start();

    await().atMost(Duration.ofSeconds(30)).until(() ->
        db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'cancels' AND state = 'discarded'") == 1
            && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'snoozes' AND run_at > now() + interval '30 minutes'") == 1
            && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'orphan' AND state = 'available'") == 1);
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      Scrape s = Scrape.parse(prometheus.scrape());
      return s.find("pgqueue_jobs_processed_total").size() == 2 && s.find("pgqueue_jobs_rescued_total").size() == 1;
    });
    worker.close();

    Scrape s = Scrape.parse(prometheus.scrape());
    assertThat(s.value("pgqueue_jobs_processed_total", "name", "cancels", "queue", "mail", "outcome", "cancelled"))
        .isEqualTo(1);
    assertThat(s.value("pgqueue_jobs_processed_total", "name", "snoozes", "queue", "mail", "outcome", "snoozed"))
        .isEqualTo(1);
    assertThat(s.value("pgqueue_jobs_rescued_total", "name", "orphan", "queue", "mail")).isEqualTo(1);
    assertThat(s.find("pgqueue_jobs_processed_total", "outcome", "discarded")).isEmpty();
    assertThat(s.value("pgqueue_jobs_enqueued_total", "name", "cancels", "queue", "mail")).isEqualTo(1);
    assertThat(s.value("pgqueue_jobs_enqueued_total", "name", "snoozes", "queue", "mail")).isEqualTo(1);
  }

  @Test
  void enqueuedCountsWrittenJobsAfterTheWriteDuplicatesApartAndAFailedWriteNothing() throws Exception {
    PrometheusMeterRegistry r = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    PgQueueMetrics metrics = PgQueueMetrics.builder(r).build();
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(metrics.enqueueInterceptor()).build();
    EnqueueOptions keyed = EnqueueOptions.builder().uniqueKey("order-42").build();
    queue.enqueue(ITEM, new Item(1), keyed);
    assertThat(queue.enqueue(ITEM, new Item(2), keyed).duplicate()).isTrue();
    // A batch: two new jobs, one duplicate of the waiting job, one duplicate within the batch.
    EnqueueOptions other = EnqueueOptions.builder().uniqueKey("order-43").build();
    queue.enqueueAll(List.of(NewJob.of(ITEM, new Item(3)), NewJob.of(ITEM, new Item(4), keyed),
        NewJob.of(ITEM, new Item(5), other), NewJob.of(ITEM, new Item(6), other)));
    // A write that fails (a closed connection) counts nothing.
    java.sql.Connection closed = db.dataSource().getConnection();
    closed.close();
    assertThatThrownBy(() -> queue.enqueue(closed, ITEM, new Item(7))).isInstanceOf(io.github.pgqueue.PgQueueException.class);

    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(3);
    Scrape s = Scrape.parse(r.scrape());
    assertThat(s.value("pgqueue_jobs_enqueued_total", "name", "item", "queue", "default")).isEqualTo(3);
    assertThat(s.value("pgqueue_jobs_deduplicated_total", "name", "item", "queue", "default")).isEqualTo(3);
  }

  @Test
  void commonTagsAreAddedAndPgqueuesOwnKeysAreRefused() {
    SimpleMeterRegistry r = new SimpleMeterRegistry();
    PgQueueMetrics metrics = PgQueueMetrics.builder(r).tags(Tags.of("service", "billing")).build();
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(metrics.enqueueInterceptor()).build();
    queue.enqueue(ITEM, new Item(1));
    Counter c = r.get("pgqueue.jobs.enqueued").tags("service", "billing", "name", "item", "queue", "default").counter();
    assertThat(c.count()).isEqualTo(1);

    assertThatThrownBy(() -> PgQueueMetrics.builder(r).tags(Tags.of("queue", "x")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tags").hasMessageContaining("queue");
    assertThatThrownBy(() -> PgQueueMetrics.builder(null)).isInstanceOf(NullPointerException.class)
        .hasMessageContaining("registry");
    PgQueueMetrics m = PgQueueMetrics.builder(r).build();
    assertThatThrownBy(() -> m.queueGauges(queue, Duration.ofMillis(500)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("interval").hasMessageContaining("PT0.5S");
    assertThatThrownBy(() -> m.queueGauges(queue, Duration.ofHours(2)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("interval");
    assertThatThrownBy(() -> m.workerGauges(null)).isInstanceOf(NullPointerException.class);
  }

  static double processed(io.micrometer.core.instrument.MeterRegistry r, String outcome) {
    Counter c = r.find("pgqueue.jobs.processed").tags("name", "item", "queue", "default", "outcome", outcome).counter();
    return c == null ? 0 : c.count();
  }
}
