package io.github.pgqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Plain Spring Framework (no Boot): a queue built by {@link SpringPgQueue#jobQueue} joins a
 * {@code DataSourceTransactionManager} transaction, commits on its own outside one, and the worker
 * lifecycle runs handler beans.
 */
@PgQueueTest
class SpringConnectionSourceTest {

  record Note(String text) {}

  static final JobType<Note> NOTE = JobType.of("note", Note.class);

  TestDatabase db;
  JobQueue queue;
  TransactionTemplate tx;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = SpringPgQueue.jobQueue(db.dataSource(), new PgQueueProperties(), List.of());
    tx = new TransactionTemplate(new DataSourceTransactionManager(db.dataSource()));
  }

  private long jobs() {
    return db.queryLong("SELECT count(*) FROM " + db.schema() + ".jobs");
  }

  @Test
  void aRolledBackTransactionLeavesNoJob() {
    tx.executeWithoutResult(status -> {
      queue.enqueue(NOTE, new Note("a"));
      assertThat(jobs()).as("not visible outside the transaction before it commits").isZero();
      status.setRollbackOnly();
    });
    assertThat(jobs()).isZero();
  }

  @Test
  void aCommittedTransactionLeavesExactlyOneJob() {
    tx.executeWithoutResult(status -> queue.enqueue(NOTE, new Note("a")));
    assertThat(jobs()).isEqualTo(1);
  }

  @Test
  void outsideATransactionTheEnqueueCommitsOnItsOwn() {
    queue.enqueue(NOTE, new Note("a"));
    assertThat(jobs()).isEqualTo(1);
  }

  @Test
  void aTransactionScopeWithoutATransactionCommitsOnItsOwn() {
    TransactionTemplate supports = new TransactionTemplate(tx.getTransactionManager());
    supports.setPropagationBehavior(TransactionDefinition.PROPAGATION_SUPPORTS);
    supports.executeWithoutResult(status -> {
      queue.enqueue(NOTE, new Note("a"));
      assertThat(jobs()).isEqualTo(1);
    });
    assertThat(jobs()).isEqualTo(1);
  }

  static final class Notes implements JobHandlerBean<Note> {
    final Queue<String> seen = new ConcurrentLinkedQueue<>();

    @Override
    public JobType<Note> jobType() {
      return NOTE;
    }

    @Override
    public void handle(Note payload, JobContext context) {
      seen.add(payload.text());
    }
  }

  @Test
  void theWorkerLifecycleRunsHandlerBeansAndStopsWithTheContext() {
    Notes notes = new Notes();
    PgQueueProperties properties = new PgQueueProperties();
    properties.getWorker().setPollInterval(Duration.ofMillis(100));
    WorkerLifecycle lifecycle = new WorkerLifecycle(
        SpringPgQueue.worker(queue, properties, Map.of("notes", notes), List.of()));
    try (GenericApplicationContext context = new GenericApplicationContext()) {
      context.registerBean(WorkerLifecycle.class, () -> lifecycle);
      context.refresh();
      assertThat(lifecycle.isRunning()).isTrue();
      tx.executeWithoutResult(status -> queue.enqueue(NOTE, new Note("committed")));
      await().atMost(Duration.ofSeconds(30)).until(() -> notes.seen.contains("committed") && jobs() == 0);
    }
    assertThat(lifecycle.isRunning()).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM " + db.schema() + ".workers")).isZero();
  }
}
