package io.github.pgqueue.spring;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What building the worker from beans and properties refuses, with messages that say which bean or property. */
@PgQueueTest
class SpringPgQueueTest {

  record Ping(int n) {}

  static final JobType<Ping> PING = JobType.of("ping", Ping.class);

  static JobHandlerBean<Ping> handler() {
    return new JobHandlerBean<>() {
      @Override
      public JobType<Ping> jobType() {
        return PING;
      }

      @Override
      public void handle(Ping payload, JobContext context) {}
    };
  }

  @Test
  void twoHandlerBeansForOneJobNameAreRefusedNamingBoth(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    Map<String, JobHandlerBean<?>> beans = new LinkedHashMap<>();
    beans.put("firstPing", handler());
    beans.put("secondPing", handler());
    assertThatThrownBy(() -> SpringPgQueue.worker(queue, new PgQueueProperties(), beans, List.of()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("job \"ping\" has two handler beans, 'firstPing' and 'secondPing'");
  }

  @Test
  void aWorkerWithoutHandlerBeansIsRefused(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    assertThatThrownBy(() -> SpringPgQueue.worker(queue, new PgQueueProperties(), Map.of(), List.of()))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no JobHandlerBean bean");
  }

  @Test
  void aQueueNameTheWorkerRefusesIsReportedAsItsProperty(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    PgQueueProperties properties = new PgQueueProperties();
    properties.getWorker().setQueues(Map.of("no spaces allowed", 2));
    assertThatThrownBy(() -> SpringPgQueue.worker(queue, properties, Map.of("ping", handler()), List.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("pgqueue.worker.queues.no spaces allowed=2 is refused: ");
  }

  @Test
  void settersNameThePropertyAndTheValue() {
    PgQueueProperties properties = new PgQueueProperties();
    assertThatThrownBy(() -> properties.getWorker().setShutdownTimeout(Duration.ofSeconds(-1)))
        .hasMessage("pgqueue.worker.shutdown-timeout must be zero or positive, got PT-1S");
    assertThatThrownBy(() -> properties.getHealth().setMaxLag(Duration.ZERO))
        .hasMessage("pgqueue.health.max-lag must be positive, got PT0S");
    assertThatThrownBy(() -> properties.setSchema(" "))
        .hasMessage("pgqueue.schema must not be blank, got \" \"");
  }
}
