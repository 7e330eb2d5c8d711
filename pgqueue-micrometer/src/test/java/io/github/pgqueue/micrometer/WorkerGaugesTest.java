package io.github.pgqueue.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The worker gauges follow the worker's own state: slots, busy slots, abandoned threads, LISTEN. */
@PgQueueTest
class WorkerGaugesTest {

  record Item(int n) {}

  static final JobType<Item> BLOCKS = JobType.of("blocks", Item.class);
  static final JobType<Item> STUCK = JobType.of("stuck", Item.class);

  @Test
  void busySlotsAbandonedThreadsAndListeningAreReadFromTheWorker(TestDatabase db) throws Exception {
    db.truncate();
    JobQueue queue = JobQueue.create(db.dataSource());
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    PgQueueMetrics metrics = PgQueueMetrics.builder(prometheus).build();
    CountDownLatch release = new CountDownLatch(1);
    AtomicBoolean unstick = new AtomicBoolean();
    Worker worker = Worker.builder(queue).queue("default", 3).queue("slow", 1)
        .pollInterval(Duration.ofMillis(50)).timeoutGrace(Duration.ofMillis(200))
        .listener(metrics.jobListener())
        .handle(BLOCKS, (item, ctx) -> release.await(30, TimeUnit.SECONDS))
        .handle(STUCK, (item, ctx) -> {
          // Ignores interrupts until told: abandoned past its timeout and grace.
          while (!unstick.get()) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000L); // returns on interrupt; loops on
          }
        }, io.github.pgqueue.HandlerOptions.builder().timeout(Duration.ofMillis(300)).build())
        .build();
    metrics.workerGauges(worker).bindTo(prometheus);

    Scrape before = Scrape.parse(prometheus.scrape());
    assertThat(before.value("pgqueue_worker_slots", "queue", "default")).isEqualTo(3);
    assertThat(before.value("pgqueue_worker_slots", "queue", "slow")).isEqualTo(1);
    assertThat(before.value("pgqueue_worker_slots_busy", "queue", "default")).isEqualTo(0);
    assertThat(before.value("pgqueue_worker_healthy")).isEqualTo(0);
    assertThat(before.value("pgqueue_worker_listening")).isEqualTo(0);

    try {
      worker.start();
      for (int i = 0; i < 5; i++) {
        queue.enqueue(BLOCKS, new Item(i));
      }
      queue.enqueue(STUCK, new Item(0), io.github.pgqueue.EnqueueOptions.builder().queue("slow").build());
      await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
        Scrape s = Scrape.parse(prometheus.scrape());
        assertThat(s.value("pgqueue_worker_slots_busy", "queue", "default")).isEqualTo(3);
        assertThat(s.value("pgqueue_worker_buffered", "queue", "default")).isEqualTo(0);
        assertThat(s.value("pgqueue_worker_abandoned_threads")).isEqualTo(1);
        assertThat(s.value("pgqueue_worker_listening")).isEqualTo(1);
        assertThat(s.value("pgqueue_worker_healthy")).isEqualTo(1);
      });
      // The abandoned attempt freed its slot; its thread still spins.
      assertThat(Scrape.parse(prometheus.scrape()).value("pgqueue_worker_slots_busy", "queue", "slow")).isEqualTo(0);
      unstick.set(true);
      await().atMost(Duration.ofSeconds(10)).until(() ->
          Scrape.parse(prometheus.scrape()).value("pgqueue_worker_abandoned_threads") == 0);
      release.countDown();
      await().atMost(Duration.ofSeconds(20)).until(() ->
          db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'blocks'") == 0);
      await().atMost(Duration.ofSeconds(10)).until(() ->
          Scrape.parse(prometheus.scrape()).value("pgqueue_worker_slots_busy", "queue", "default") == 0);
    } finally {
      unstick.set(true);
      release.countDown();
      worker.close();
    }
    assertThat(Scrape.parse(prometheus.scrape()).value("pgqueue_worker_healthy")).isEqualTo(0);
  }
}
