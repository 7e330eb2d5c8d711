package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The outbox contract: a job enqueued on the caller's connection lives and dies with its transaction. */
@PgQueueTest
class TransactionalEnqueueTest {

  JobQueue queue;
  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    db.execute("CREATE TABLE IF NOT EXISTS users (email text PRIMARY KEY)");
    db.execute("TRUNCATE users");
    queue = JobQueue.create(db.dataSource());
  }

  @Test
  void rolledBackMeansTheJobNeverExisted() throws Exception {
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      insertUser(c, "a@b.c");
      JobId id = queue.enqueue(c, SEND_EMAIL, new SendEmail("a@b.c", "welcome")).id();
      queue.enqueueAll(c, SEND_EMAIL, List.of(new SendEmail("x", "1"), new SendEmail("y", "2")));
      assertThat(c.isClosed()).isFalse();
      assertThat(c.getAutoCommit()).as("pgqueue leaves the caller's transaction mode alone").isFalse();
      c.rollback();
      assertThat(queue.find(id)).isEmpty();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    assertThat(db.queryLong("SELECT count(*) FROM users")).isZero();
  }

  @Test
  void committedMeansVisibleAndNotBefore() throws Exception {
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      insertUser(c, "a@b.c");
      JobId id = queue.enqueue(c, SEND_EMAIL, new SendEmail("a@b.c", "welcome")).id();
      assertThat(queue.find(id)).as("not visible to others before the caller commits").isEmpty();
      c.commit();
      assertThat(queue.find(id)).isPresent();
    }
    assertThat(db.queryLong("SELECT count(*) FROM users")).isEqualTo(1);
  }

  @Test
  void aFailedEnqueueLeavesTheConnectionToTheCaller() throws Exception {
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      insertUser(c, "a@b.c");
      // A CHECK constraint refusal from the database, forced by bypassing the builder's checks.
      db.execute("ALTER TABLE pgqueue.jobs ADD CONSTRAINT test_no_evil CHECK (name <> 'evil')");
      try {
        assertThatThrownBy(() -> queue.enqueue(c, JobType.of("evil", String.class), "x"))
            .isInstanceOf(PgQueueException.class);
        assertThat(c.isClosed()).isFalse();
        c.rollback();
      } finally {
        db.execute("ALTER TABLE pgqueue.jobs DROP CONSTRAINT test_no_evil");
      }
    }
    assertThat(db.queryLong("SELECT count(*) FROM users")).isZero();
  }

  private static void insertUser(Connection c, String email) throws Exception {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO users (email) VALUES (?)")) {
      ps.setString(1, email);
      ps.executeUpdate();
    }
  }
}
