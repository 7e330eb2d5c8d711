package io.github.pgqueue.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A registry that throws on every pgqueue meter (a broken meter filter) costs the metrics, never a
 * job: enqueue still writes, the worker still runs and completes every job and stays healthy.
 */
@PgQueueTest
class HostileRegistryTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  @Test
  void aThrowingRegistryBreaksNoEnqueueAndNoJob(TestDatabase db) {
    db.truncate();
    SimpleMeterRegistry hostile = new SimpleMeterRegistry();
    AtomicInteger refused = new AtomicInteger();
    hostile.config().meterFilter(new MeterFilter() {
      @Override
      public Meter.Id map(Meter.Id id) {
        if (id.getName().startsWith("pgqueue.")) {
          refused.incrementAndGet();
          throw new IllegalStateException("hostile meter filter refuses " + id.getName());
        }
        return id;
      }
    });
    PgQueueMetrics metrics = PgQueueMetrics.builder(hostile).build();
    JobQueue queue = JobQueue.builder(db.dataSource()).enqueueInterceptor(metrics.enqueueInterceptor()).build();
    AtomicInteger ran = new AtomicInteger();
    Worker worker = Worker.builder(queue).pollInterval(Duration.ofMillis(50))
        .listener(metrics.jobListener())
        .listener(e -> {
          throw new OutOfMemoryError("a hostile listener beside the metrics");
        })
        .handle(ITEM, (item, ctx) -> ran.incrementAndGet())
        .build();
    try {
      worker.start();
      for (int i = 0; i < 20; i++) {
        queue.enqueue(ITEM, new Item(i));
      }
      await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(ran.get()).isEqualTo(20);
      assertThat(refused.get()).isGreaterThanOrEqualTo(20 + 20 * 2); // enqueues, then STARTED and SUCCEEDED per job
      await().atMost(Duration.ofSeconds(10)).until(worker::isHealthy);
    } finally {
      worker.close();
    }
    assertThat(hostile.getMeters()).noneMatch(m -> m.getId().getName().startsWith("pgqueue."));
  }
}
