package io.github.pgqueue.testing;

import io.github.pgqueue.testing.postgres.TestDatabase;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobEvent;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import java.sql.Connection;
import java.time.Duration;
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

  @Test
  void checksWhatTheCallersTransactionEnqueuedBeforeItCommits() throws Exception {
    Invoice invoice = new Invoice(3, null);
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      jobs.queue().enqueue(c, SEND_INVOICE, invoice);

      jobs.assertEnqueued(c, SEND_INVOICE, invoice);
      assertThat(jobs.enqueued(c, SEND_INVOICE)).containsExactly(invoice);
      assertThatThrownBy(() -> jobs.assertNothingEnqueued(c)).hasMessageContaining("found 1");
      assertThatThrownBy(() -> jobs.assertNotEnqueued(c, SEND_INVOICE)).hasMessageContaining("found 1");
      // Other connections do not see it until the commit.
      jobs.assertNothingEnqueued();
      assertThatThrownBy(() -> jobs.assertEnqueued(SEND_INVOICE, invoice)).hasMessageContaining("none of that type");
      c.commit();
    }
    jobs.assertEnqueued(SEND_INVOICE, invoice);
  }

  @Test
  void checksTheOptionsAJobWasEnqueuedWith() {
    Invoice invoice = new Invoice(4, LocalDate.of(2027, 2, 1));
    EnqueueOptions options = EnqueueOptions.builder().queue("billing").priority(5).maxAttempts(3)
        .delay(Duration.ofHours(1)).uniqueKey("invoice-4").context("test").build();
    jobs.queue().enqueue(SEND_INVOICE, invoice, options);

    jobs.assertEnqueued(SEND_INVOICE, invoice, options);
    jobs.assertEnqueued(SEND_INVOICE, invoice, EnqueueOptions.builder().queue("billing").build());
    assertThatThrownBy(() -> jobs.assertEnqueued(SEND_INVOICE, invoice, EnqueueOptions.builder().queue("mail").build()))
        .isInstanceOf(AssertionError.class).hasMessageContaining("queue is billing not mail");
    assertThatThrownBy(() -> jobs.assertEnqueued(SEND_INVOICE, invoice,
        EnqueueOptions.builder().delay(Duration.ofMinutes(59)).uniqueKey("other").build()))
        .hasMessageContaining("delay is PT1H not PT59M").hasMessageContaining("uniqueKey is invoice-4 not other");
    assertThatThrownBy(() -> jobs.assertEnqueued(SEND_INVOICE, new Invoice(5, null), options))
        .hasMessageContaining("found only");
    assertThat(jobs.enqueuedJobs(SEND_INVOICE)).singleElement().satisfies(j -> assertThat(j.priority()).isEqualTo(5));
  }

  @Test
  void assertsNothingIsEnqueuedOfATypeOrAtAll() {
    JobType<String> other = JobType.of("other", String.class);
    jobs.assertNothingEnqueued();
    jobs.queue().enqueue(other, "x");
    jobs.assertNotEnqueued(SEND_INVOICE);
    assertThatThrownBy(() -> jobs.assertNothingEnqueued())
        .isInstanceOf(AssertionError.class).hasMessageContaining("expected no job to be enqueued, but found 1: [other");
    jobs.runDue(Worker.builder(db.dataSource()).handle(other, (s, ctx) -> {}).build());
    jobs.assertNothingEnqueued();
  }

  @Test
  void readsEveryPageOfALargeBacklog() {
    java.util.List<Invoice> many = new java.util.ArrayList<>();
    for (int i = 0; i < 2_500; i++) {
      many.add(new Invoice(i, null));
    }
    jobs.queue().enqueueAll(SEND_INVOICE, many);
    assertThat(jobs.enqueued(SEND_INVOICE)).as("more than one page, in enqueue order").isEqualTo(many);
  }
}
