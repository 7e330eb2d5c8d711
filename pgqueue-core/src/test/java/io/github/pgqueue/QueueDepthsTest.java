package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link JobQueue#queueDepths()}: the counts are right, and the statement reads available and
 * running rows through their partial indexes, never the discarded backlog.
 */
@PgQueueTest
class QueueDepthsTest {

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @Test
  void countsDueScheduledAndRunningPerQueueAndTheOldestDueAge() {
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, run_at)
        SELECT 'n', 'a', '{}'::jsonb, now() - interval '10 minutes' FROM generate_series(1, 3)
        UNION ALL SELECT 'n', 'a', '{}', now() + interval '1 hour' FROM generate_series(1, 2)
        UNION ALL SELECT 'n', 'b', '{}', now() + interval '1 hour' FROM generate_series(1, 4)
        """);
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, locked_by, locked_at)
        SELECT 'n', q, '{}', 'running', 1, 1, now() FROM unnest(ARRAY['a', 'c', 'c']) q
        """);
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, max_attempts, discarded_at)
        SELECT 'n', 'd', '{}', 'discarded', 1, 1, now() FROM generate_series(1, 5)
        """);

    assertThat(queue.queueDepths()).satisfiesExactly(
        a -> {
          assertThat(a.queue()).isEqualTo("a");
          assertThat(a.due()).isEqualTo(3);
          assertThat(a.scheduled()).isEqualTo(2);
          assertThat(a.running()).isEqualTo(1);
          assertThat(a.oldestDueAge()).isBetween(Duration.ofMinutes(10), Duration.ofMinutes(20));
        },
        b -> assertThat(b).isEqualTo(new QueueDepth("b", 0, 4, 0, null)),
        c -> assertThat(c).isEqualTo(new QueueDepth("c", 0, 0, 2, null)));
  }

  @Test
  void neverScansTheDiscardedBacklog() throws Exception {
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, max_attempts, discarded_at)
        SELECT 'n', 'q' || (g % 3), '{}', 'discarded', 1, 1, now() FROM generate_series(1, 20000) g
        """);
    db.execute("INSERT INTO pgqueue.jobs (name, queue, payload) SELECT 'n', 'q1', '{}' FROM generate_series(1, 50)");
    db.execute("""
        INSERT INTO pgqueue.jobs (name, queue, payload, state, attempt, locked_by, locked_at)
        SELECT 'n', 'q2', '{}', 'running', 1, 1, now() FROM generate_series(1, 5)
        """);
    db.execute("ANALYZE pgqueue.jobs");
    String plan;
    try (Connection c = db.dataSource().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("EXPLAIN " + new Sql(Migrator.DEFAULT_SCHEMA).queueDepths)) {
      StringBuilder sb = new StringBuilder();
      while (rs.next()) {
        sb.append(rs.getString(1)).append('\n');
      }
      plan = sb.toString();
    }
    // Available rows through either partial index of available jobs (the planner picks).
    assertThat(plan).doesNotContain("Seq Scan").containsAnyOf("jobs_fetch_idx", "jobs_name_fetch_idx")
        .contains("jobs_running_idx");
    assertThat(queue.queueDepths()).extracting(QueueDepth::queue).containsExactly("q1", "q2");
  }
}
