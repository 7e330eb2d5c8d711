package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The bulk insert binds only what a batch uses ({@link Sql#insertJobs}: a value every row shares
 * as a scalar, a column every row leaves at its default as an empty array): every shape of batch
 * stores each row's own columns and answers per item, on connections that keep prepared statements
 * and through the function {@code enqueue_all_v1} on those that do not, with and without NOTIFY,
 * beside unique keys and concurrency keys.
 */
@PgQueueTest
class BulkBindTest {

  static final Instant AT = Instant.parse("2031-05-06T07:08:09.123456Z");
  static final TraceContext TRACE =
      TraceContext.of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

  final JobStore store = new JobStore(new Sql("pgqueue"));
  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  /** The workload's row: every column at the library's default. */
  static JobStore.Row plain(int i) {
    return new JobStore.Row("noop", "default", "{\"n\": " + i + "}", 0, null, 0, 25, "", null, null, null);
  }

  /** One changed column per kind of change, so a column bound wrongly shows in its own row. */
  static List<UnaryOperator<JobStore.Row>> changes() {
    return List.of(
        r -> with(r, "other", r.queue(), r.priority(), r.runAt(), r.delayMicros(), r.maxAttempts(), r.context(), r.traceContext()),
        r -> with(r, r.name(), "q2", r.priority(), r.runAt(), r.delayMicros(), r.maxAttempts(), r.context(), r.traceContext()),
        r -> with(r, r.name(), r.queue(), 7, r.runAt(), r.delayMicros(), r.maxAttempts(), r.context(), r.traceContext()),
        r -> with(r, r.name(), r.queue(), r.priority(), AT, r.delayMicros(), r.maxAttempts(), r.context(), r.traceContext()),
        r -> with(r, r.name(), r.queue(), r.priority(), r.runAt(), 3_600_000_000L, r.maxAttempts(), r.context(), r.traceContext()),
        r -> with(r, r.name(), r.queue(), r.priority(), r.runAt(), r.delayMicros(), 3, r.context(), r.traceContext()),
        r -> with(r, r.name(), r.queue(), r.priority(), r.runAt(), r.delayMicros(), r.maxAttempts(), "tenant=9", r.traceContext()),
        r -> with(r, r.name(), r.queue(), r.priority(), r.runAt(), r.delayMicros(), r.maxAttempts(), r.context(), TRACE));
  }

  static JobStore.Row with(JobStore.Row r, String name, String queue, int priority, Instant runAt, long delay,
      int maxAttempts, String context, TraceContext trace) {
    return new JobStore.Row(name, queue, r.payloadJson(), priority, runAt, delay, maxAttempts, context,
        r.uniqueKey(), trace, r.concurrencyKey());
  }

  static JobStore.Row keyed(JobStore.Row r, String uniqueKey, String concurrencyKey) {
    return new JobStore.Row(r.name(), r.queue(), r.payloadJson(), r.priority(), r.runAt(), r.delayMicros(),
        r.maxAttempts(), r.context(), uniqueKey, r.traceContext(), concurrencyKey);
  }

  @Test
  void aBatchOfDefaultsStoresEveryRowInInputOrder() throws Exception {
    List<JobStore.Row> rows = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      rows.add(plain(i));
    }
    for (DataSource ds : dataSources()) {
      for (boolean notify : new boolean[] {false, true}) {
        db.truncate();
        checkStored(rows, insert(ds, rows, notify));
      }
    }
  }

  @Test
  void eachColumnThatDiffersInOneRowIsStoredForThatRowOnly() throws Exception {
    for (DataSource ds : dataSources()) {
      for (boolean notify : new boolean[] {false, true}) {
        for (UnaryOperator<JobStore.Row> change : changes()) {
          // The changed row first, in the middle and last: the shared value is taken from the first.
          for (int at : new int[] {0, 2, 4}) {
            db.truncate();
            List<JobStore.Row> rows = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
              rows.add(i == at ? change.apply(plain(i)) : plain(i));
            }
            checkStored(rows, insert(ds, rows, notify));
          }
        }
      }
    }
  }

  @Test
  void aBatchMixingEveryColumnStoresEachRowsOwn() throws Exception {
    List<UnaryOperator<JobStore.Row>> changes = changes();
    List<JobStore.Row> rows = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      JobStore.Row r = plain(i);
      for (int bit = 0; bit < changes.size(); bit++) {
        if ((i * 37 >> bit & 1) == 1) {
          r = changes.get(bit).apply(r);
        }
      }
      rows.add(r);
    }
    for (DataSource ds : dataSources()) {
      for (boolean notify : new boolean[] {false, true}) {
        db.truncate();
        checkStored(rows, insert(ds, rows, notify));
      }
    }
  }

  @Test
  void aMixedBatchWithUniqueAndConcurrencyKeysAnswersPerItem() throws Exception {
    List<UnaryOperator<JobStore.Row>> changes = changes();
    for (DataSource ds : dataSources()) {
      for (boolean withCk : new boolean[] {false, true}) {
        db.truncate();
        // A job already holding the key "held".
        List<EnqueueResult> before = insert(ds, List.of(keyed(plain(-1), "held", null)), false);
        List<JobStore.Row> rows = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
          JobStore.Row r = changes.get(i % changes.size()).apply(plain(i));
          String uniqueKey = i % 3 == 0 ? "k" + i : i == 4 ? "held" : i == 8 ? "k0" : null; // 8 has 0's name
          String ck = withCk && i % 4 == 1 ? "c" + (i % 2) : null;
          rows.add(keyed(r, uniqueKey, ck));
        }
        List<EnqueueResult> results = insert(ds, rows, true);
        assertThat(results).hasSize(rows.size());
        for (int i = 0; i < rows.size(); i++) {
          boolean duplicate = i == 4 || i == 8;
          assertThat(results.get(i).duplicate()).as("item %d duplicate", i).isEqualTo(duplicate);
        }
        assertThat(results.get(4).id()).isEqualTo(before.get(0).id());
        assertThat(results.get(8).id()).isEqualTo(results.get(0).id());
        List<JobStore.Row> stored = new ArrayList<>();
        List<EnqueueResult> storedResults = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
          if (!results.get(i).duplicate()) {
            stored.add(rows.get(i));
            storedResults.add(results.get(i));
          }
        }
        checkStored(stored, storedResults, false); // keyed rows go in a second statement
        assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(stored.size() + 1);
      }
    }
  }

  @Test
  void everyShapeOfUnkeyedBatchRunsOnOneServerSidePreparedStatement() throws Exception {
    try (Connection c = db.dataSource().getConnection()) {
      // Past pgjdbc's prepareThreshold (5) with batches of defaults, then one batch of each shape.
      for (int i = 0; i < 6; i++) {
        store.insertAll(c, List.of(plain(0), plain(1)), Set.of());
      }
      long before = executionsOfInsertJobs(c);
      List<UnaryOperator<JobStore.Row>> changes = changes();
      for (UnaryOperator<JobStore.Row> change : changes) {
        store.insertAll(c, List.of(plain(0), change.apply(plain(1))), Set.of());
      }
      // Had a shape bound other parameter types, pgjdbc would have prepared the text anew and
      // the count would have started over.
      assertThat(executionsOfInsertJobs(c) - before).isEqualTo(changes.size());
    }
  }

  /** How often this connection's server-side prepared {@link Sql#insertJobs} ran. */
  static long executionsOfInsertJobs(Connection c) throws Exception {
    try (PreparedStatement ps = c.prepareStatement(
            "SELECT count(*), sum(generic_plans + custom_plans) FROM pg_prepared_statements"
                + " WHERE statement LIKE '%coalesce(n, $1::text)%'");
        ResultSet rs = ps.executeQuery()) {
      rs.next();
      assertThat(rs.getLong(1)).as("server-side statements of Sql.insertJobs").isEqualTo(1);
      return rs.getLong(2);
    }
  }

  List<DataSource> dataSources() {
    return List.of(db.dataSource(), HotPathFunctionsTest.unprepared(db));
  }

  List<EnqueueResult> insert(DataSource ds, List<JobStore.Row> rows, boolean notify) throws Exception {
    try (Connection c = ds.getConnection()) {
      c.setAutoCommit(false);
      Set<String> queues = notify ? Set.of("default") : Set.of();
      List<EnqueueResult> results = store.insertAll(c, rows, queues);
      c.commit();
      return results;
    }
  }

  /** Each row is stored under its result's id with its own columns; ids ascend with the input. */
  void checkStored(List<JobStore.Row> rows, List<EnqueueResult> results) throws Exception {
    checkStored(rows, results, true);
  }

  void checkStored(List<JobStore.Row> rows, List<EnqueueResult> results, boolean ascending) throws Exception {
    assertThat(results).hasSize(rows.size());
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement(
            "SELECT name, queue, payload::text, priority, run_at, max_attempts, context, trace_context::text,"
                + " unique_key, concurrency_key,"
                + " (extract(epoch FROM run_at - created_at) * 1000000)::bigint FROM pgqueue.jobs WHERE id = ?")) {
      for (int i = 0; i < rows.size(); i++) {
        JobStore.Row r = rows.get(i);
        ps.setLong(1, results.get(i).id().value());
        try (ResultSet rs = ps.executeQuery()) {
          assertThat(rs.next()).as("row %d stored", i).isTrue();
          String what = "row " + i + " " + r;
          assertThat(rs.getString(1)).as(what).isEqualTo(r.name());
          assertThat(rs.getString(2)).as(what).isEqualTo(r.queue());
          assertThat(rs.getString(3)).as(what).isEqualTo(r.payloadJson());
          assertThat(rs.getInt(4)).as(what).isEqualTo(r.priority());
          if (r.runAt() != null) {
            assertThat(rs.getObject(5, java.time.OffsetDateTime.class).toInstant()).as(what).isEqualTo(r.runAt());
          } else {
            assertThat(rs.getLong(11)).as(what + ": run_at is created_at plus the delay").isEqualTo(r.delayMicros());
          }
          assertThat(rs.getInt(6)).as(what).isEqualTo(r.maxAttempts());
          assertThat(rs.getString(7)).as(what).isEqualTo(r.context());
          assertThat(rs.getString(8) == null ? null : TraceContext.fromJson(rs.getString(8)))
              .as(what).isEqualTo(r.traceContext());
          assertThat(rs.getString(9)).as(what).isEqualTo(r.uniqueKey());
          assertThat(rs.getString(10)).as(what).isEqualTo(r.concurrencyKey());
        }
        if (ascending && i > 0) {
          assertThat(results.get(i).id().value()).as("ids ascend with the input").isGreaterThan(results.get(i - 1).id().value());
        }
      }
    }
  }
}
