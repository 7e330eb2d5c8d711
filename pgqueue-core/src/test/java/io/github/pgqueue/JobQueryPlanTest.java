package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The job query's main shapes are served by an index, never by a scan of the whole table: EXPLAIN
 * on some thousands of rows after ANALYZE, with the exact statement and binds the query runs, as a
 * custom plan (what the first executions get) and as a generic plan (what a server-side prepared
 * statement may switch to).
 */
@PgQueueTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JobQueryPlanTest {

  TestDatabase db;
  final Sql sql = new Sql(Migrator.DEFAULT_SCHEMA);

  @BeforeAll
  void fill(TestDatabase db) {
    this.db = db;
    db.truncate();
    // 4,000 available jobs over 5 queues and 10 names (every 4th keyed), 100 running, 4,000
    // discarded with distinct discarded_at: the mix of a busy queue with a discarded backlog.
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, run_at, unique_key)
        SELECT 'n' || (g % 10), 'q' || (g % 5), '{}', now() + (g % 100) * interval '1 minute',
               CASE WHEN g % 4 = 0 THEN 'k' || g END
        FROM generate_series(1, 4000) g
        """);
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, locked_by, locked_at)
        SELECT 'n' || (g % 10), 'q' || (g % 5), '{}', 'running', 1, g % 7, now() - g * interval '1 second'
        FROM generate_series(1, 100) g
        """);
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, max_attempts, discarded_at, unique_key)
        SELECT 'n' || (g % 10), 'q' || (g % 5), '{}', 'discarded', 1, 1, now() - g * interval '1 second',
               CASE WHEN g % 4 = 0 THEN 'k' || g END
        FROM generate_series(1, 4000) g
        """);
    db.execute("ANALYZE pgqueue.jobs");
  }

  static JobQuery.Builder q() {
    return JobQuery.builder().limit(50);
  }

  static Stream<Arguments> shapes() {
    Instant t = Instant.now();
    List<Arguments> out = new ArrayList<>();
    for (JobQuery.Order order : JobQuery.Order.values()) {
      out.add(Arguments.of("discarded", "jobs_discarded_idx", q().state(JobState.DISCARDED).order(order).build(),
          cursor(order, t, 5000)));
      out.add(Arguments.of("discarded in a time range", "jobs_discarded_idx",
          q().state(JobState.DISCARDED).order(order).from(t.minusSeconds(600)).to(t.minusSeconds(300)).build(),
          cursor(order, t.minusSeconds(400), 5000)));
      out.add(Arguments.of("discarded of a name", "jobs_discarded_idx",
          q().state(JobState.DISCARDED).name("n3").order(order).build(),
          cursor(order, t.minusSeconds(100), 5000)));
      out.add(Arguments.of("running", "jobs_running_idx", q().state(JobState.RUNNING).order(order).build(),
          cursor(order, t.minusSeconds(50), 4050)));
      out.add(Arguments.of("running of a queue", "jobs_running_idx",
          q().state(JobState.RUNNING).queue("q1").order(order).build(),
          cursor(order, t.minusSeconds(50), 4050)));
      out.add(Arguments.of("available", null, q().state(JobState.AVAILABLE).order(order).build(),
          cursor(order, null, 2000)));
      out.add(Arguments.of("available of a queue", null,
          q().state(JobState.AVAILABLE).queue("q2").order(order).build(), cursor(order, null, 2000)));
      out.add(Arguments.of("available by name and key", "jobs_unique_idx",
          q().state(JobState.AVAILABLE).name("n0").uniqueKey("k40").order(order).build(),
          cursor(order, null, 2000)));
      out.add(Arguments.of("any state", "jobs_pkey", q().order(order).build(), cursor(order, null, 2000)));
      out.add(Arguments.of("any state of a name", "jobs_pkey", q().name("n4").order(order).build(),
          cursor(order, null, 2000)));
    }
    return out.stream();
  }

  /** Where a next page starts: order, time (null for id-ordered shapes) and id. */
  private static Object[] cursor(JobQuery.Order order, Instant time, long id) {
    return new Object[] {order, time, id};
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shapes")
  void isServedByAnIndex(String shape, String index, JobQuery first, Object[] at) throws Exception {
    JobQuery.Order order = (JobQuery.Order) at[0];
    JobQuery next = first.after(new JobQuery.Cursor(first.state(), order, (Instant) at[1], (Long) at[2]).encode());
    for (JobQuery query : List.of(first, next)) {
      for (String mode : List.of("force_custom_plan", "force_generic_plan")) {
        String plan = explain(query, mode);
        assertThat(plan).as("%s (%s, %s):%n%s", shape, query.cursor() == null ? "first page" : "next page", mode, plan)
            .doesNotContain("Seq Scan on jobs");
        if (index != null) {
          assertThat(plan).as("%s (%s):%n%s", shape, mode, plan).contains(index);
        }
      }
    }
  }

  /**
   * The plan of the statement {@code query} runs. A custom plan is what EXPLAIN of the statement
   * with its binds gives. A generic plan needs the statement prepared on its own: PREPARE it with
   * $n parameters, then EXPLAIN EXECUTE it with the binds under {@code force_generic_plan}.
   */
  private String explain(JobQuery query, String planCacheMode) throws Exception {
    String text = sql.jobQuery(query);
    boolean generic = planCacheMode.equals("force_generic_plan");
    try (Connection c = db.dataSource().getConnection()) {
      int params = 0;
      if (generic) {
        StringBuilder dollar = new StringBuilder();
        for (char ch : text.toCharArray()) {
          if (ch == '?') {
            dollar.append('$').append(++params);
          } else {
            dollar.append(ch);
          }
        }
        try (Statement st = c.createStatement()) {
          st.execute("SET plan_cache_mode = force_generic_plan");
          st.execute("PREPARE jq AS " + dollar);
        }
      }
      // EXECUTE takes its arguments as expressions, not binds: record the binds as literals.
      String explain = generic ? "EXPLAIN EXECUTE jq(" + String.join(", ", literals(query, params)) + ")"
          : "EXPLAIN " + text;
      StringBuilder plan = new StringBuilder();
      try (PreparedStatement ps = c.prepareStatement(explain)) {
        if (!generic) {
          JobStore.bindJobQuery(ps, query);
        }
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            plan.append(rs.getString(1)).append('\n');
          }
        }
      }
      if (generic) {
        try (Statement st = c.createStatement()) {
          st.execute("DEALLOCATE jq");
          st.execute("RESET plan_cache_mode");
        }
        if (params > 1) {
          assertThat(plan).as("a generic plan shows its parameters").contains("$1");
        }
      }
      return plan.toString();
    }
  }

  /** The values {@link JobStore#bindJobQuery} binds, as SQL literals in parameter order. */
  private static List<String> literals(JobQuery query, int count) throws Exception {
    String[] out = new String[count];
    PreparedStatement recorder = (PreparedStatement) java.lang.reflect.Proxy.newProxyInstance(
        PreparedStatement.class.getClassLoader(), new Class<?>[] {PreparedStatement.class}, (proxy, m, args) -> {
          int i = (Integer) args[0] - 1;
          Object v = args[1];
          out[i] = switch (m.getName()) {
            case "setString" -> "'" + ((String) v).replace("'", "''") + "'";
            case "setLong", "setInt" -> v.toString();
            case "setObject" -> "'" + v + "'::timestamptz";
            default -> throw new AssertionError("unexpected bind " + m.getName());
          };
          return null;
        });
    JobStore.bindJobQuery(recorder, query);
    assertThat(out).as("every parameter bound").doesNotContainNull();
    return List.of(out);
  }
}
