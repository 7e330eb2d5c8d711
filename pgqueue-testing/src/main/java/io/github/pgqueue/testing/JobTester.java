package io.github.pgqueue.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.JobEvent;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import io.github.pgqueue.testing.postgres.TestDatabase;
import javax.sql.DataSource;

/**
 * Assertions and shortcuts for tests of code that enqueues or handles jobs.
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
 *   }
 * }
 * }</pre>
 */
public final class JobTester {

  private final DataSource dataSource;
  private final String schema;
  private final ObjectMapper mapper;

  private JobTester(DataSource dataSource, String schema, ObjectMapper mapper) {
    this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    // The builder validates the schema as an identifier; it is the only value put into SQL text.
    this.schema = JobQueue.builder(dataSource).schema(schema).build().schema();
    this.mapper = Objects.requireNonNull(mapper, "mapper");
  }

  /**
   * A tester for a {@link PgQueueTest} database, decoding payloads with pgqueue's default mapper.
   *
   * @param db the test database
   * @return the tester
   */
  public static JobTester of(TestDatabase db) {
    return new JobTester(db.dataSource(), db.schema(), JobQueue.defaultObjectMapper());
  }

  /**
   * A tester for any database and schema, decoding payloads with {@code mapper} (use the one your
   * workers use).
   *
   * @param dataSource the database
   * @param schema the pgqueue schema
   * @param mapper the payload mapper
   * @return the tester
   */
  public static JobTester of(DataSource dataSource, String schema, ObjectMapper mapper) {
    return new JobTester(dataSource, schema, mapper);
  }

  /**
   * The payloads of the available (pending or scheduled) jobs of a type, oldest first.
   *
   * @param type the job type
   * @param <T> the payload type
   * @return the decoded payloads
   */
  public <T> List<T> enqueued(JobType<T> type) {
    List<T> out = new ArrayList<>();
    for (String json : payloads(type.name())) {
      try {
        out.add(mapper.readValue(json, mapper.getTypeFactory().constructType(type.payloadType())));
      } catch (Exception e) {
        throw new AssertionError("an enqueued \"" + type.name() + "\" payload does not decode: " + json, e);
      }
    }
    return out;
  }

  /**
   * Asserts that an available job of {@code type} with a payload equal to {@code payload} exists.
   *
   * @param type the job type
   * @param payload the expected payload (compared with {@code equals} after decoding)
   * @param <T> the payload type
   * @throws AssertionError naming what is enqueued instead
   */
  public <T> void assertEnqueued(JobType<T> type, T payload) {
    List<T> found = enqueued(type);
    if (!found.contains(payload)) {
      throw new AssertionError(
          "expected a \"" + type.name() + "\" job with payload " + payload + " to be enqueued, but "
              + (found.isEmpty() ? "none of that type is" : "found only " + found));
    }
  }

  /**
   * Asserts that no available job of {@code type} exists.
   *
   * @param type the job type
   * @throws AssertionError naming what is enqueued
   */
  public void assertNotEnqueued(JobType<?> type) {
    List<String> found = payloads(type.name());
    if (!found.isEmpty()) {
      throw new AssertionError(
          "expected no \"" + type.name() + "\" job to be enqueued, but found " + found.size() + ": " + found);
    }
  }

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

  private List<String> payloads(String name) {
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps =
            c.prepareStatement(
                "SELECT payload::text FROM " + schema
                    + ".jobs WHERE name = ? AND state = 'available' ORDER BY id")) {
      ps.setString(1, name);
      List<String> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new IllegalStateException("reading enqueued \"" + name + "\" jobs failed", e);
    }
  }
}
