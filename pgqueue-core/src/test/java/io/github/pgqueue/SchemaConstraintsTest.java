package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.postgresql.util.PSQLException;

/**
 * A row edited by hand into an impossible state is refused by the database, whatever wrote it: one
 * case per CHECK constraint of {@code jobs} (docs/schema.md lists them), each naming the
 * constraint, plus the unique key and the identity column. The row is untouched afterwards.
 */
@PgQueueTest
class SchemaConstraintsTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  long id;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    id = JobQueue.create(db.dataSource()).enqueue(ITEM, new Item(1)).id().value();
  }

  static Stream<Arguments> impossibleEdits() {
    return Stream.of(
        Arguments.of("jobs_name_check", "name = ''"),
        Arguments.of("jobs_name_check", "name = repeat('n', 201)"),
        Arguments.of("jobs_queue_check", "queue = ''"),
        Arguments.of("jobs_queue_check", "queue = repeat('q', 101)"),
        Arguments.of("jobs_state_check", "state = 'succeeded'"),
        Arguments.of("jobs_max_attempts_check", "max_attempts = 0"),
        Arguments.of("jobs_max_attempts_check", "max_attempts = 1001"),
        Arguments.of("jobs_attempt_check", "attempt = max_attempts + 1"),
        Arguments.of("jobs_attempt_check", "attempt = -1"),
        Arguments.of("jobs_lock_check", "state = 'running'"),
        Arguments.of("jobs_lock_check", "state = 'running', locked_by = 1"),
        Arguments.of("jobs_lock_check", "locked_by = 1, locked_at = now()"),
        Arguments.of("jobs_discarded_check", "state = 'discarded'"),
        Arguments.of("jobs_discarded_check", "discarded_at = now()"),
        Arguments.of("jobs_unique_key_check", "unique_key = ''"),
        Arguments.of("jobs_unique_key_check", "unique_key = repeat('k', 501)"),
        Arguments.of("jobs_context_check", "context = repeat('c', 1001)"),
        Arguments.of("jobs_concurrency_key_check", "concurrency_key = ''"),
        Arguments.of("jobs_concurrency_key_check", "concurrency_key = repeat('k', 501)"),
        Arguments.of("jobs_errors_check", "errors = '{}'::jsonb"),
        Arguments.of("jobs_errors_check", "errors = '\"oops\"'::jsonb"));
  }

  @ParameterizedTest(name = "{0}: SET {1}")
  @MethodSource("impossibleEdits")
  void anImpossibleEditIsRefusedByItsConstraint(String constraint, String set) {
    String before = row();
    assertThatThrownBy(() -> execute("UPDATE pgqueue.jobs SET " + set + " WHERE id = " + id))
        .isInstanceOfSatisfying(PSQLException.class, e -> {
          assertThat(e.getSQLState()).as("check_violation").isEqualTo("23514");
          assertThat(e.getServerErrorMessage().getConstraint()).isEqualTo(constraint);
        });
    assertThat(row()).as("the row is unchanged").isEqualTo(before);
  }

  @Test
  void everyCheckConstraintOfJobsIsCovered() {
    long covered = impossibleEdits().map(a -> a.get()[0]).distinct().count();
    assertThat(db.queryLong(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'pgqueue.jobs'::regclass AND contype = 'c'"))
        .as("a new CHECK constraint needs a case above").isEqualTo(covered);
  }

  @Test
  void possibleEditsOfTheSameColumnsAreAccepted() throws SQLException {
    // The constraints refuse impossible states only: what the worker and operators do passes.
    execute("UPDATE pgqueue.jobs SET state = 'running', locked_by = 1, locked_at = now(), attempt = 1 WHERE id = " + id);
    execute("UPDATE pgqueue.jobs SET state = 'available', locked_by = NULL, locked_at = NULL WHERE id = " + id);
    execute("UPDATE pgqueue.jobs SET state = 'discarded', discarded_at = now() WHERE id = " + id);
    execute("UPDATE pgqueue.jobs SET errors = '[{\"message\": \"x\"}]', attempt = max_attempts WHERE id = " + id);
  }

  @Test
  void twoPendingJobsCannotHoldTheSameNameAndKey() throws SQLException {
    execute("UPDATE pgqueue.jobs SET unique_key = 'k' WHERE id = " + id);
    assertThatThrownBy(() -> execute("INSERT INTO pgqueue.jobs (name, payload, unique_key) VALUES ('item', '{}', 'k')"))
        .isInstanceOfSatisfying(PSQLException.class, e -> {
          assertThat(e.getSQLState()).as("unique_violation").isEqualTo("23505");
          assertThat(e.getServerErrorMessage().getConstraint()).isEqualTo("jobs_unique_idx");
        });
    // Another name, or a discarded holder, does not conflict.
    execute("INSERT INTO pgqueue.jobs (name, payload, unique_key) VALUES ('other', '{}', 'k')");
    execute("UPDATE pgqueue.jobs SET state = 'discarded', discarded_at = now() WHERE id = " + id);
    execute("INSERT INTO pgqueue.jobs (name, payload, unique_key) VALUES ('item', '{}', 'k')");
  }

  @Test
  void idsCannotBeChosenByHandNorPayloadsLeftOut() {
    assertThatThrownBy(() -> execute("INSERT INTO pgqueue.jobs (id, name, payload) VALUES (" + (id + 1) + ", 'item', '{}')"))
        .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).as("generated_always").isEqualTo("428C9"));
    assertThatThrownBy(() -> execute("INSERT INTO pgqueue.jobs (name, payload) VALUES ('item', NULL)"))
        .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).as("not_null_violation").isEqualTo("23502"));
    assertThatThrownBy(() -> execute("UPDATE pgqueue.jobs SET priority = 40000 WHERE id = " + id))
        .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).as("numeric_value_out_of_range").isEqualTo("22003"));
  }

  private void execute(String sql) throws SQLException {
    try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  private String row() {
    try (Connection c = db.dataSource().getConnection(); Statement st = c.createStatement();
        var rs = st.executeQuery("SELECT row_to_json(j)::text FROM pgqueue.jobs j WHERE id = " + id)) {
      rs.next();
      return rs.getString(1);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }
}
