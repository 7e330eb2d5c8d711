package io.github.pgqueue.testing;

import io.github.pgqueue.testing.postgres.TestDatabase;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.JobEvent;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import java.time.LocalDate;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class JobTesterTest {

  record Invoice(long id, LocalDate due) {}

  static final JobType<Invoice> SEND_INVOICE = JobType.of("send_invoice", Invoice.class);

  TestDatabase db;
  JobTester jobs;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    jobs = JobTester.of(db);
  }

  @Test
  void assertsWhatWasEnqueued() {
    JobQueue.create(db.dataSource()).enqueue(SEND_INVOICE, new Invoice(7, LocalDate.of(2027, 1, 31)));

    jobs.assertEnqueued(SEND_INVOICE, new Invoice(7, LocalDate.of(2027, 1, 31)));
    assertThat(jobs.enqueued(SEND_INVOICE)).containsExactly(new Invoice(7, LocalDate.of(2027, 1, 31)));
    assertThatThrownBy(() -> jobs.assertEnqueued(SEND_INVOICE, new Invoice(8, null)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("found only [Invoice[id=7, due=2027-01-31]]");
    assertThatThrownBy(() -> jobs.assertNotEnqueued(SEND_INVOICE))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("found 1");
    jobs.assertNotEnqueued(JobType.of("other", String.class));
  }

  @Test
  void runsTheNextDueJobInlineAndReportsItsOutcome() {
    JobQueue.create(db.dataSource()).enqueue(SEND_INVOICE, new Invoice(1, null));
    Worker failing = Worker.builder(db.dataSource()).handle(SEND_INVOICE, (invoice, ctx) -> {
      throw new IllegalStateException("no due date on invoice " + invoice.id());
    }).build();

    JobEvent outcome = jobs.runNext(failing);
    assertThat(outcome.kind()).isEqualTo(JobEvent.Kind.RETRIED);
    assertThat(outcome.error()).hasMessage("no due date on invoice 1");

    db.execute("UPDATE pgqueue.jobs SET run_at = now()"); // skip the backoff
    Worker fixed = Worker.builder(db.dataSource()).handle(SEND_INVOICE, (invoice, ctx) -> {}).build();
    assertThat(jobs.runDue(fixed)).extracting(JobEvent::kind).containsExactly(JobEvent.Kind.SUCCEEDED);
    assertThatThrownBy(() -> jobs.runNext(fixed)).isInstanceOf(AssertionError.class).hasMessageContaining("no job was due");
  }
}
