package io.github.pgqueue.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobEvent;
import io.github.pgqueue.JobInfo;
import io.github.pgqueue.JobPage;
import io.github.pgqueue.JobQuery;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobState;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * Assertions and shortcuts for tests of code that enqueues or handles jobs. It reads jobs through
 * pgqueue's public job query ({@link JobQueue#jobs}), so it sees exactly what the library's API
 * shows; "enqueued" means available: pending, or scheduled for later.
 *
 * <p>Every check has a form that takes a {@link Connection}: it reads in that connection's
 * transaction, so a test can check what its code enqueued before (or instead of) committing.
 *
 * <pre>{@code
 * @PgQueueTest
 * class SignupTest {
 *   @Test
 *   void signupSendsAWelcomeEmail(TestDatabase db) {
 *     JobTester jobs = JobTester.of(db);
 *     signupService.signUp("ada@example.com");
 *     jobs.assertEnqueued(SEND_EMAIL, new SendEmail("ada@example.com", "Welcome"));
 *
 *     Worker worker = Worker.builder(db.dataSource()).handle(SEND_EMAIL, mailer::send).build();
 *     assertThat(jobs.runNext(worker).kind()).isEqualTo(JobEvent.Kind.SUCCEEDED);
 *     jobs.assertNothingEnqueued();
 *   }
 * }
 * }</pre>
 */
public final class JobTester {

  private final JobQueue queue;
  private final ObjectMapper mapper;

  private JobTester(JobQueue queue, ObjectMapper mapper) {
    this.queue = Objects.requireNonNull(queue, "queue");
    this.mapper = Objects.requireNonNull(mapper, "mapper");
  }

  /**
   * A tester for a {@link PgQueueTest} database, decoding payloads with pgqueue's default mapper.
   *
   * @param db the test database
   * @return the tester
   */
  public static JobTester of(TestDatabase db) {
    return new JobTester(
        JobQueue.builder(db.dataSource()).schema(db.schema()).build(), JobQueue.defaultObjectMapper());
  }

  /**
   * A tester for any database and schema, decoding payloads with {@code mapper} (use the one your
   * workers use).
   *
   * @param dataSource the database
   * @param schema the pgqueue schema
   * @param mapper the payload mapper
   * @return the tester
   * @throws IllegalArgumentException if the schema name is invalid
   */
  public static JobTester of(DataSource dataSource, String schema, ObjectMapper mapper) {
    return new JobTester(JobQueue.builder(dataSource).schema(schema).build(), mapper);
  }

  /**
   * A tester reading through {@code queue} (its database and schema), decoding payloads with
   * {@code mapper}.
   *
   * @param queue the queue the code under test enqueues with
   * @param mapper the payload mapper
   * @return the tester
   */
  public static JobTester of(JobQueue queue, ObjectMapper mapper) {
    return new JobTester(queue, mapper);
  }

  /**
   * The queue this tester reads through; enqueue with it to set up a test.
   *
   * @return the queue
   */
  public JobQueue queue() {
    return queue;
  }

  // ---- reading -------------------------------------------------------------------------------

  /**
   * The available (pending or scheduled) jobs of a type, in enqueue order.
   *
   * @param type the job type
   * @return the jobs
   */
  public List<JobInfo> enqueuedJobs(JobType<?> type) {
    return available(null, Objects.requireNonNull(type, "type").name());
  }

  /**
   * As {@link #enqueuedJobs(JobType)}, in the transaction of {@code connection} (which it never
   * commits, rolls back or closes).
   *
   * @param connection the caller's connection
   * @param type the job type
   * @return the jobs
   */
  public List<JobInfo> enqueuedJobs(Connection connection, JobType<?> type) {
    return available(Objects.requireNonNull(connection, "connection"), Objects.requireNonNull(type, "type").name());
  }

  /**
   * The payloads of the available (pending or scheduled) jobs of a type, in enqueue order.
   *
   * @param type the job type
   * @param <T> the payload type
   * @return the decoded payloads
   * @throws AssertionError if a payload does not decode as the type's payload class
   */
  public <T> List<T> enqueued(JobType<T> type) {
    return decode(type, enqueuedJobs(type));
  }

  /**
   * As {@link #enqueued(JobType)}, in the transaction of {@code connection}.
   *
   * @param connection the caller's connection
   * @param type the job type
   * @param <T> the payload type
   * @return the decoded payloads
   * @throws AssertionError if a payload does not decode
   */
  public <T> List<T> enqueued(Connection connection, JobType<T> type) {
    return decode(type, enqueuedJobs(connection, type));
  }

  // ---- assertions ----------------------------------------------------------------------------

  /**
   * Asserts that an available job of {@code type} with a payload equal to {@code payload} exists.
   *
   * @param type the job type
   * @param payload the expected payload (compared with {@code equals} after decoding)
   * @param <T> the payload type
   * @throws AssertionError naming what is enqueued instead
   */
  public <T> void assertEnqueued(JobType<T> type, T payload) {
    assertEnqueued(type, payload, enqueuedJobs(type), null);
  }

  /**
   * As {@link #assertEnqueued(JobType, Object)}, in the transaction of {@code connection}: checks
   * what the caller's transaction enqueued, committed or not.
   *
   * @param connection the caller's connection
   * @param type the job type
   * @param payload the expected payload
   * @param <T> the payload type
   * @throws AssertionError naming what is enqueued instead
   */
  public <T> void assertEnqueued(Connection connection, JobType<T> type, T payload) {
    assertEnqueued(type, payload, enqueuedJobs(connection, type), null);
  }

  /**
   * Asserts that an available job of {@code type} with a payload equal to {@code payload} exists
   * and was enqueued with {@code options}: each field set in {@code options} (queue, priority,
   * max attempts, run time, delay, unique key, context) must match the job; fields left null are
   * not checked. A delay matches when the job's run time is its enqueue time plus the delay (both
   * by the database clock).
   *
   * @param type the job type
   * @param payload the expected payload
   * @param options the options the job must have been enqueued with
   * @param <T> the payload type
   * @throws AssertionError naming the enqueued jobs of the type and how they differ
   */
  public <T> void assertEnqueued(JobType<T> type, T payload, EnqueueOptions options) {
    assertEnqueued(type, payload, enqueuedJobs(type), Objects.requireNonNull(options, "options"));
  }

  /**
   * As {@link #assertEnqueued(JobType, Object, EnqueueOptions)}, in the transaction of {@code
   * connection}.
   *
   * @param connection the caller's connection
   * @param type the job type
   * @param payload the expected payload
   * @param options the options the job must have been enqueued with
   * @param <T> the payload type
   * @throws AssertionError naming the enqueued jobs of the type and how they differ
   */
  public <T> void assertEnqueued(Connection connection, JobType<T> type, T payload, EnqueueOptions options) {
    assertEnqueued(type, payload, enqueuedJobs(connection, type), Objects.requireNonNull(options, "options"));
  }

  /**
   * Asserts that no available job of {@code type} exists.
   *
   * @param type the job type
   * @throws AssertionError naming what is enqueued
   */
  public void assertNotEnqueued(JobType<?> type) {
    assertNone("\"" + type.name() + "\" job", enqueuedJobs(type));
  }

  /**
   * As {@link #assertNotEnqueued(JobType)}, in the transaction of {@code connection}.
   *
   * @param connection the caller's connection
   * @param type the job type
   * @throws AssertionError naming what is enqueued
   */
  public void assertNotEnqueued(Connection connection, JobType<?> type) {
    assertNone("\"" + type.name() + "\" job", enqueuedJobs(connection, type));
  }

  /**
   * Asserts that no available job of any type exists.
   *
   * @throws AssertionError naming what is enqueued
   */
  public void assertNothingEnqueued() {
    assertNone("job", available(null, null));
  }

  /**
   * As {@link #assertNothingEnqueued()}, in the transaction of {@code connection}.
   *
   * @param connection the caller's connection
   * @throws AssertionError naming what is enqueued
   */
  public void assertNothingEnqueued(Connection connection) {
    assertNone("job", available(Objects.requireNonNull(connection, "connection"), null));
  }

  // ---- running -------------------------------------------------------------------------------

  /**
   * Runs every due job the worker has handlers for, inline; see {@link Worker#drain(int)}.
   *
   * @param worker a worker that is not started
   * @return one outcome per job run
   */
  public List<JobEvent> runDue(Worker worker) {
    return worker.drain(10_000);
  }

  /**
   * Runs the next due job inline and returns its outcome.
   *
   * @param worker a worker that is not started
   * @return the outcome (SUCCEEDED, RETRIED, DISCARDED or SNOOZED), with the error if any
   * @throws AssertionError if no job was due for the worker's handlers
   */
  public JobEvent runNext(Worker worker) {
    List<JobEvent> events = worker.drain(1);
    if (events.isEmpty()) {
      throw new AssertionError("no job was due for this worker's handlers");
    }
    return events.get(0);
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Every available job (of one name, or all), oldest first, following the query's cursor. */
  private List<JobInfo> available(Connection connection, String name) {
    JobQuery query = JobQuery.builder().state(JobState.AVAILABLE).name(name)
        .order(JobQuery.Order.OLDEST_FIRST).limit(JobQuery.MAX_LIMIT).build();
    List<JobInfo> out = new ArrayList<>();
    while (true) {
      JobPage page = connection == null ? queue.jobs(query) : queue.jobs(connection, query);
      out.addAll(page.jobs());
      if (!page.hasNext()) {
        return out;
      }
      query = query.after(page.nextCursor());
    }
  }

  private <T> List<T> decode(JobType<T> type, List<JobInfo> jobs) {
    List<T> out = new ArrayList<>(jobs.size());
    for (JobInfo j : jobs) {
      out.add(decode(type, j));
    }
    return out;
  }

  private <T> T decode(JobType<T> type, JobInfo job) {
    try {
      return mapper.readValue(job.payload(), mapper.getTypeFactory().constructType(type.payloadType()));
    } catch (Exception e) {
      throw new AssertionError(
          "an enqueued \"" + type.name() + "\" payload does not decode: " + job.payload(), e);
    }
  }

  private <T> void assertEnqueued(JobType<T> type, T payload, List<JobInfo> jobs, EnqueueOptions options) {
    List<T> payloads = decode(type, jobs);
    List<String> mismatches = new ArrayList<>();
    for (int i = 0; i < jobs.size(); i++) {
      if (Objects.equals(payloads.get(i), payload)) {
        String diff = options == null ? "" : differences(jobs.get(i), options);
        if (diff.isEmpty()) {
          return;
        }
        mismatches.add("job " + jobs.get(i).id() + diff);
      }
    }
    String expected = "a \"" + type.name() + "\" job with payload " + payload
        + (options == null ? "" : " and " + options);
    if (!mismatches.isEmpty()) {
      throw new AssertionError("expected " + expected + " to be enqueued, but the jobs with that payload differ: "
          + String.join("; ", mismatches));
    }
    throw new AssertionError("expected " + expected + " to be enqueued, but "
        + (payloads.isEmpty() ? "none of that type is" : "found only " + payloads));
  }

  /** How {@code job} differs from the fields set in {@code o}; empty if it matches. */
  private static String differences(JobInfo job, EnqueueOptions o) {
    StringBuilder d = new StringBuilder();
    differ(d, "queue", o.queue(), job.queue());
    differ(d, "priority", o.priority(), job.priority());
    differ(d, "maxAttempts", o.maxAttempts(), job.maxAttempts());
    differ(d, "runAt", o.runAt(), job.runAt());
    if (o.delay() != null) {
      differ(d, "delay", o.delay(), Duration.between(job.createdAt(), job.runAt()));
    }
    differ(d, "uniqueKey", o.uniqueKey(), job.uniqueKey());
    differ(d, "context", o.context(), job.context());
    return d.toString();
  }

  private static void differ(StringBuilder d, String field, Object expected, Object actual) {
    if (expected != null && !expected.equals(actual)) {
      d.append(", ").append(field).append(" is ").append(actual).append(" not ").append(expected);
    }
  }

  private static void assertNone(String what, List<JobInfo> jobs) {
    if (!jobs.isEmpty()) {
      List<String> found = new ArrayList<>();
      for (JobInfo j : jobs.subList(0, Math.min(jobs.size(), 10))) {
        found.add(j.name() + " " + j.id() + " " + j.payload());
      }
      throw new AssertionError("expected no " + what + " to be enqueued, but found " + jobs.size() + ": " + found
          + (jobs.size() > 10 ? " ..." : ""));
    }
  }
}
