package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLState;

/**
 * The connection breaks after PostgreSQL committed a claim and before the worker read the reply:
 * the worker holds jobs it never saw, and its live heartbeat keeps any rescuer away. It must find
 * and release them itself.
 */
@PgQueueTest
class LostClaimReplyTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  @Test
  void jobsFromAClaimWhoseReplyWasLostAreReleasedWithoutChargeAndRun(TestDatabase db) {
    db.truncate();
    JobQueue queue = JobQueue.create(db.dataSource());
    queue.enqueueAll(ITEM, IntStream.range(0, 5).mapToObj(Item::new).toList());
    AtomicBoolean armed = new AtomicBoolean(true);
    Set<Integer> ran = ConcurrentHashMap.newKeySet();
    Set<Integer> attempts = ConcurrentHashMap.newKeySet();

    Worker w = Worker.builder(loseOneClaimReply(db.dataSource(), armed))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .dedicatedConnection(() -> db.dataSource().getConnection())
        .handle(ITEM, (item, ctx) -> {
          ran.add(item.n());
          attempts.add(ctx.attempt());
        }).build();
    w.start();
    try {
      // No rescuer could help within this time: the stale threshold is 30 s and the worker is alive.
      await().atMost(Duration.ofSeconds(10)).until(() -> ran.size() == 5);
      await().atMost(Duration.ofSeconds(5)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(armed.get()).as("the reply of one claim was lost").isFalse();
      assertThat(attempts).as("the lost claim did not charge an attempt").containsExactly(1);
    } finally {
      w.close();
    }
  }

  /**
   * The reply of a claim is lost and, at the same moment, the worker's control connection goes
   * down and stays down: the worker must not claim, but the jobs of the lost claim must not wait
   * for its next claim (or for a rescuer, 30 s away): they go back to the queue, uncharged.
   */
  @Test
  void aPausedWorkerStillReleasesTheJobsOfALostClaim(TestDatabase db) throws Exception {
    db.truncate();
    JobQueue queue = JobQueue.create(db.dataSource());
    AtomicBoolean down = new AtomicBoolean();
    java.util.concurrent.atomic.AtomicReference<Connection> control = new java.util.concurrent.atomic.AtomicReference<>();
    AtomicBoolean armed = new AtomicBoolean(false);
    Set<Integer> attempts = ConcurrentHashMap.newKeySet();
    java.util.concurrent.atomic.AtomicReference<Worker> worker = new java.util.concurrent.atomic.AtomicReference<>();
    Worker w = Worker.builder(loseOneClaimReply(db.dataSource(), armed, () -> {
          down.set(true);
          try {
            control.get().abort(Runnable::run);
          } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
          }
          // The claim loop learns of the loss only once the worker no longer may claim.
          await().atMost(Duration.ofSeconds(5)).until(() -> !worker.get().isHealthy());
        }))
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .dedicatedConnection(() -> {
          if (down.get()) {
            throw new PSQLException("refused (simulated)", PSQLState.CONNECTION_UNABLE_TO_CONNECT);
          }
          Connection c = db.dataSource().getConnection();
          control.set(c);
          return c;
        })
        .handle(ITEM, (item, ctx) -> attempts.add(ctx.attempt())).build();
    worker.set(w);
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(w::isHealthy);
      armed.set(true);
      queue.enqueueAll(ITEM, IntStream.range(0, 3).mapToObj(Item::new).toList());
      await().atMost(Duration.ofSeconds(10)).until(() -> !armed.get());
      await().atMost(Duration.ofSeconds(10)).until(
          () -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND attempt = 0") == 3);
      assertThat(w.isHealthy()).as("still cut off: it released without claiming").isFalse();
      down.set(false);
      await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(attempts).containsExactly(1);
    } finally {
      w.close();
    }
  }

  @Test
  void onlyFailuresThatMayHaveCommittedCountAsUnknown() {
    assertThat(Fetcher.isOutcomeUnknown(new PSQLException("io", PSQLState.CONNECTION_FAILURE))).isTrue();
    assertThat(Fetcher.isOutcomeUnknown(new PSQLException("timeout", PSQLState.QUERY_CANCELED))).isTrue();
    assertThat(Fetcher.isOutcomeUnknown(new PSQLException("deadlock", PSQLState.DEADLOCK_DETECTED))).isFalse();
    assertThat(Fetcher.isOutcomeUnknown(new PSQLException("syntax", PSQLState.SYNTAX_ERROR))).isFalse();
  }

  /**
   * Connections whose first claim runs for real and then fails as a broken connection would: the
   * rows are claimed in the database, the worker gets an I/O error instead of the reply.
   */
  static DataSource loseOneClaimReply(DataSource real, AtomicBoolean armed) {
    return loseOneClaimReply(real, armed, () -> {});
  }

  /** As above; {@code onLoss} runs after the claim committed and before its error is thrown. */
  static DataSource loseOneClaimReply(DataSource real, AtomicBoolean armed, Runnable onLoss) {
    return (DataSource) Proxy.newProxyInstance(LostClaimReplyTest.class.getClassLoader(),
        new Class<?>[] {DataSource.class}, (p, m, a) -> {
          Object r = invoke(m, real, a);
          return r instanceof Connection c ? connection(c, armed, onLoss) : r;
        });
  }

  private static Connection connection(Connection real, AtomicBoolean armed, Runnable onLoss) {
    return (Connection) Proxy.newProxyInstance(LostClaimReplyTest.class.getClassLoader(),
        new Class<?>[] {Connection.class}, (p, m, a) -> {
          Object r = invoke(m, real, a);
          String sql = m.getName().equals("prepareStatement") ? (String) a[0] : "";
          if (sql.contains("claimable") || sql.contains(".claim_v") || sql.contains(".claim_after_v")
              || sql.contains(".claim_by_name_v")) { // a claim, or one in its function (claim_v2, V016)
            return statement((PreparedStatement) r, armed, onLoss);
          }
          return r;
        });
  }

  private static PreparedStatement statement(PreparedStatement real, AtomicBoolean armed, Runnable onLoss) {
    return (PreparedStatement) Proxy.newProxyInstance(LostClaimReplyTest.class.getClassLoader(),
        new Class<?>[] {PreparedStatement.class}, (p, m, a) -> {
          Object r = invoke(m, real, a);
          if (m.getName().equals("executeQuery") && armed.get()) {
            ResultSet rs = (ResultSet) r;
            if (!rs.next()) {
              // Claimed nothing, changed nothing: hand the worker the empty result as it is. (Running
              // the claim again here could claim jobs committed meanwhile and return them for real,
              // leaving the loss still armed: the test then waited in vain for it.)
              return rs;
            }
            rs.close();
            armed.set(false);
            onLoss.run();
            throw new PSQLException("An I/O error occurred while sending to the backend (simulated)",
                PSQLState.CONNECTION_FAILURE);
          }
          return r;
        });
  }

  private static Object invoke(java.lang.reflect.Method m, Object target, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
