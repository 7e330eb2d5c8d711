package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.Pools.Kind;
import io.github.pgqueue.internal.Borrowed;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.postgresql.util.PSQLException;
import org.postgresql.util.PSQLState;

/**
 * {@link Borrowed}, the one place that decides how pgqueue uses a connection borrowed from the
 * application's pool, and the worker and queue defects it closes: claimed jobs dropped when
 * close() throws, the control connection handed back still listening, and an enqueue whose commit
 * reply was lost reported as "nothing was written".
 */
@PgQueueTest
class BorrowedTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    db.execute("DROP TABLE IF EXISTS borrowed_t");
    db.execute("CREATE TABLE borrowed_t (n int)");
  }

  // ---- Borrowed on its own ------------------------------------------------------------------

  /**
   * Under every pool default (autocommit off, REPEATABLE READ, SERIALIZABLE), one statement and
   * several both run at READ COMMITTED, are committed, and leave the connection as it came.
   */
  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"HIKARI", "HIKARI_AUTOCOMMIT_OFF", "REPEATABLE_READ", "SERIALIZABLE"})
  void commitsAtReadCommittedAndHandsTheConnectionBackAsItCame(Kind kind) throws SQLException {
    DataSource ds = Pools.open(kind, db, null, 2);
    try {
      for (boolean single : new boolean[] {true, false}) {
        String isolation = Borrowed.transaction(ds, single, c -> {
          try (Statement st = c.createStatement()) {
            st.execute("INSERT INTO borrowed_t VALUES (1)");
            try (ResultSet rs = st.executeQuery("SELECT current_setting('transaction_isolation')")) {
              rs.next();
              return rs.getString(1);
            }
          }
        });
        assertThat(isolation).as("isolation inside the work (single statement: %s)", single).isEqualTo("read committed");
      }
      assertThat(db.queryLong("SELECT count(*) FROM borrowed_t")).as("committed, seen from elsewhere").isEqualTo(2);
      Pools.assertReturnedAsFound(kind, ds, 2);
    } finally {
      Pools.close(ds);
    }
  }

  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"HIKARI", "HIKARI_AUTOCOMMIT_OFF", "SERIALIZABLE"})
  void workThatThrowsIsRolledBackWhole(Kind kind) throws SQLException {
    DataSource ds = Pools.open(kind, db, null, 2);
    try {
      assertThatThrownBy(() -> Borrowed.transaction(ds, false, c -> {
        try (Statement st = c.createStatement()) {
          st.execute("INSERT INTO borrowed_t VALUES (1)");
          st.execute("INSERT INTO borrowed_t VALUES ('not a number')");
        }
        return null;
      })).isInstanceOf(SQLException.class).matches(e -> !Borrowed.outcomeUnknown(e), "a clean error is not unknown");
      assertThat(db.queryLong("SELECT count(*) FROM borrowed_t")).isZero();
      Pools.assertReturnedAsFound(kind, ds, 2);
    } finally {
      Pools.close(ds);
    }
  }

  @Test
  void aCloseThatThrowsAfterTheWorkSucceededIsLoggedNotThrown() throws SQLException {
    Integer result = Borrowed.transaction(faulty(db.dataSource(), new Faults(true)), true, c -> {
      try (Statement st = c.createStatement()) {
        return st.executeUpdate("INSERT INTO borrowed_t VALUES (1)");
      }
    });
    assertThat(result).isEqualTo(1);
    assertThat(db.queryLong("SELECT count(*) FROM borrowed_t")).isEqualTo(1);
  }

  /** A reply lost at commit (or, in autocommit, at the statement) leaves the outcome unknown. */
  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"PLAIN", "SERIALIZABLE"})
  void aConnectionLostWhileTheCommitIsInFlightIsAnUnknownOutcome(Kind kind) {
    Faults faults = new Faults(false);
    faults.loseNextCommitReply.set(true);
    DataSource ds = faulty(Pools.open(kind, db, null, 2), faults);
    try {
      assertThatThrownBy(() -> Borrowed.transaction(ds, true, c -> {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO borrowed_t VALUES (1) RETURNING n")) {
          return ps.executeQuery();
        }
      })).isInstanceOf(Borrowed.OutcomeUnknown.class)
          .extracting(e -> ((SQLException) e).getSQLState()).isEqualTo(PSQLState.CONNECTION_FAILURE.getState());
      assertThat(db.queryLong("SELECT count(*) FROM borrowed_t")).as("the server committed").isEqualTo(1);
    } finally {
      Pools.close(unwrapped(ds));
    }
  }

  // ---- defects the worker and the queue had ---------------------------------------------------

  /**
   * Every connection's close() throws after really closing. The claims commit, so their jobs must
   * run (before, the exception from close() dropped them: neither run nor released, held by a
   * live worker forever), and every outcome is written once.
   */
  @Test
  void claimedJobsRunWhenCloseThrowsAfterTheClaim() {
    DataSource ds = faulty(db.dataSource(), new Faults(true));
    JobQueue.create(db.dataSource()).enqueueAll(ITEM, IntStream.range(0, 40).mapToObj(Item::new).toList());
    Map<Integer, AtomicInteger> runs = new ConcurrentHashMap<>();
    Worker w = Worker.builder(ds).queue("default", 4).pollInterval(Duration.ofMillis(100))
        .heartbeatInterval(Duration.ofMillis(200)).staleAfter(Duration.ofSeconds(30)).shutdownHook(false)
        .handle(ITEM, (item, ctx) -> runs.computeIfAbsent(item.n(), k -> new AtomicInteger()).incrementAndGet())
        .build();
    w.start();
    try {
      // staleAfter is 30 s: no rescue can help within this wait, only the worker itself.
      await().atMost(Duration.ofSeconds(15)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    } finally {
      w.close();
    }
    assertThat(runs).hasSize(40);
    assertThat(runs.values()).allMatch(n -> n.get() == 1, "each job ran once");
  }

  /**
   * Without a dedicatedConnection factory the worker holds its control connection from the pool.
   * After close() it must be back as it came: no LISTEN active (a pool does not reset LISTEN, and
   * the next borrower would collect the worker's notifications), network timeout and autocommit
   * restored. The pool is small, so the control connection is among those checked.
   */
  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"HIKARI", "SERIALIZABLE"})
  void theControlConnectionGoesBackToThePoolWithoutListening(Kind kind) throws SQLException {
    DataSource ds = Pools.open(kind, db, null, 2);
    try {
      Worker w = Worker.builder(ds).pollInterval(Duration.ofMillis(100)).shutdownHook(false)
          .handle(ITEM, (item, ctx) -> {}).build();
      w.start();
      try {
        await().atMost(Duration.ofSeconds(10)).until(w::isListening);
      } finally {
        w.close();
      }
      Pools.assertReturnedAsFound(kind, ds, 2);
    } finally {
      Pools.close(ds);
    }
  }

  /**
   * drain() used to hold one connection for its whole run (and turn its autocommit on for good)
   * while writing each outcome on another: on a pool of one connection it could not write the
   * first outcome. It now borrows per statement.
   */
  @Test
  void drainWorksOnAPoolOfOneConnectionAndLeavesItAsItCame() throws SQLException {
    JobQueue.create(db.dataSource()).enqueueAll(ITEM, IntStream.range(0, 3).mapToObj(Item::new).toList());
    DataSource ds = Pools.open(Kind.SERIALIZABLE, db, null, 1);
    try {
      Worker w = Worker.builder(ds).shutdownHook(false).handle(ITEM, (item, ctx) -> {}).build();
      assertThat(w.drain(10)).extracting(JobEvent::kind).containsExactly(
          JobEvent.Kind.SUCCEEDED, JobEvent.Kind.SUCCEEDED, JobEvent.Kind.SUCCEEDED);
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("drain deregistered").isZero();
      Pools.assertReturnedAsFound(Kind.SERIALIZABLE, ds, 1);
    } finally {
      Pools.close(ds);
    }
  }

  /**
   * The connection breaks right after the server committed an enqueue. The job exists; the
   * exception must say the outcome is unknown, not that nothing was written. A failure before the
   * commit was sent still says nothing was written, and nothing was.
   */
  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"PLAIN", "HIKARI_AUTOCOMMIT_OFF"})
  void anEnqueueWhoseCommitReplyWasLostSaysTheOutcomeIsUnknown(Kind kind) {
    Faults faults = new Faults(false);
    DataSource ds = faulty(Pools.open(kind, db, null, 2), faults);
    try {
      JobQueue queue = JobQueue.create(ds);
      queue.verifySchema();

      faults.loseNextCommitReply.set(true);
      assertThatThrownBy(() -> queue.enqueue(ITEM, new Item(1)))
          .isInstanceOf(PgQueueException.class)
          .hasMessageContaining("outcome is unknown")
          .hasMessageNotContaining("nothing was written");
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).as("the server committed the job").isEqualTo(1);

      faults.loseNextCommitReply.set(true);
      assertThatThrownBy(() -> queue.enqueueAll(ITEM, java.util.List.of(new Item(2), new Item(3))))
          .isInstanceOf(PgQueueException.class)
          .hasMessageContaining("outcome is unknown");
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(3);

      // In an explicit transaction a connection lost before the commit is a rollback. In
      // autocommit the statement is its own commit, and a broken connection cannot tell whether
      // it reached the server: unknown is the honest answer there.
      faults.failNextStatement.set(true);
      assertThatThrownBy(() -> queue.enqueue(ITEM, new Item(4)))
          .isInstanceOf(PgQueueException.class)
          .hasMessageContaining(kind.autoCommit ? "outcome is unknown" : "nothing was written");
      assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(3);
    } finally {
      Pools.close(unwrapped(ds));
    }
  }

  // ---- a fault-injecting DataSource wrapper ---------------------------------------------------

  /** What the wrapper does to the connections it hands out. */
  static final class Faults {
    /** close() really closes, then throws. */
    final boolean closeThrows;
    /**
     * The next commit (or, in autocommit, the next statement) runs on the server, then the
     * connection is aborted and the caller gets the I/O error a lost reply gives.
     */
    final AtomicBoolean loseNextCommitReply = new AtomicBoolean();
    /** The next statement fails as a broken connection before it reaches the server. */
    final AtomicBoolean failNextStatement = new AtomicBoolean();

    Faults(boolean closeThrows) {
      this.closeThrows = closeThrows;
    }
  }

  private static final Map<DataSource, DataSource> WRAPPED = new ConcurrentHashMap<>();

  static DataSource faulty(DataSource real, Faults faults) {
    DataSource ds = (DataSource) Proxy.newProxyInstance(BorrowedTest.class.getClassLoader(),
        new Class<?>[] {DataSource.class}, (p, m, a) -> {
          Object r = invoke(m, real, a);
          return r instanceof Connection c ? connection(c, faults) : r;
        });
    WRAPPED.put(ds, real);
    return ds;
  }

  static DataSource unwrapped(DataSource ds) {
    return WRAPPED.remove(ds);
  }

  private static Connection connection(Connection real, Faults faults) {
    return (Connection) Proxy.newProxyInstance(BorrowedTest.class.getClassLoader(),
        new Class<?>[] {Connection.class}, (p, m, a) -> {
          switch (m.getName()) {
            case "close" -> {
              real.close();
              if (faults.closeThrows) {
                throw new PSQLException("close failed (simulated)", PSQLState.CONNECTION_FAILURE);
              }
              return null;
            }
            case "commit" -> {
              real.commit();
              if (faults.loseNextCommitReply.compareAndSet(true, false)) {
                throw lostReply(real);
              }
              return null;
            }
            case "prepareStatement" -> {
              return statement((PreparedStatement) invoke(m, real, a), real, faults);
            }
            default -> {
              return invoke(m, real, a);
            }
          }
        });
  }

  private static PreparedStatement statement(PreparedStatement real, Connection connection, Faults faults) {
    return (PreparedStatement) Proxy.newProxyInstance(BorrowedTest.class.getClassLoader(),
        new Class<?>[] {PreparedStatement.class}, (p, m, a) -> {
          boolean executes = m.getName().startsWith("execute");
          if (executes && faults.failNextStatement.compareAndSet(true, false)) {
            connection.abort(Runnable::run);
            throw new PSQLException("An I/O error occurred while sending to the backend (simulated, before sending)",
                PSQLState.CONNECTION_FAILURE);
          }
          Object r = invoke(m, real, a);
          if (executes && connection.getAutoCommit() && faults.loseNextCommitReply.compareAndSet(true, false)) {
            throw lostReply(connection); // in autocommit the statement was its own commit
          }
          return r;
        });
  }

  private static SQLException lostReply(Connection real) throws SQLException {
    real.abort(Runnable::run);
    return new PSQLException("An I/O error occurred while sending to the backend (simulated, after the server committed)",
        PSQLState.CONNECTION_FAILURE);
  }

  private static Object invoke(Method m, Object target, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
