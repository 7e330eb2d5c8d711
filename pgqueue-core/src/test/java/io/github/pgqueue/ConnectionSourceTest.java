package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A transaction managed elsewhere is joined, never committed: what a Spring transaction-aware
 * DataSource needs. The joined source here is hand-written: a thread-local connection in an open
 * transaction, wrapped to record every call pgqueue makes on it.
 */
@PgQueueTest
class ConnectionSourceTest {

  /** Calls that end or reconfigure a transaction: pgqueue must make none on a joined connection. */
  static final Set<String> TRANSACTION_CONTROL = Set.of(
      "commit", "rollback", "setAutoCommit", "setTransactionIsolation", "setReadOnly", "close",
      "setSavepoint", "releaseSavepoint", "abort");

  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  /** The caller's transaction: a connection held in a thread-local, as a transaction manager would. */
  static final class ThreadTransaction implements ConnectionSource {
    final ThreadLocal<Connection> current = new ThreadLocal<>();
    final List<String> controlCalls = new CopyOnWriteArrayList<>();
    final AtomicInteger releases = new AtomicInteger();

    /** Wraps {@code real} so that every transaction-control call pgqueue makes is recorded. */
    Connection begin(Connection real) throws SQLException {
      real.setAutoCommit(false);
      Connection recorded = (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
          new Class<?>[] {Connection.class}, (proxy, method, args) -> {
            if (TRANSACTION_CONTROL.contains(method.getName())) {
              controlCalls.add(method.getName());
            }
            try {
              return method.invoke(real, args);
            } catch (InvocationTargetException e) {
              throw e.getCause();
            }
          });
      current.set(recorded);
      return real;
    }

    @Override
    public Connection getConnection() {
      Connection c = current.get();
      if (c == null) {
        throw new IllegalStateException("no transaction on this thread");
      }
      return c;
    }

    @Override
    public boolean joinsTransaction(Connection connection) {
      return true;
    }

    @Override
    public void release(Connection connection) {
      releases.incrementAndGet(); // the transaction's owner closes it, not pgqueue
    }
  }

  @Test
  void enqueueJoinsTheCallersTransactionRollbackLeavesNoJobCommitLeavesThem() throws Exception {
    ThreadTransaction tx = new ThreadTransaction();
    JobQueue queue = JobQueue.builder(db.dataSource()).connectionSource(tx).build();
    JobQueue outside = JobQueue.create(db.dataSource());

    try (Connection real = tx.begin(db.dataSource().getConnection())) {
      JobId id = queue.enqueue(SEND_EMAIL, new SendEmail("a", "rolled back")).id();
      queue.enqueueAll(SEND_EMAIL, List.of(new SendEmail("b", "1"), new SendEmail("c", "2")));
      assertThat(queue.find(id)).as("visible inside the transaction it joined").isPresent();
      assertThat(outside.find(id)).as("invisible outside before the caller commits").isEmpty();
      assertThat(real.getAutoCommit()).isFalse();
      real.rollback();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();

    try (Connection real = tx.begin(db.dataSource().getConnection())) {
      JobId id = queue.enqueue(SEND_EMAIL, new SendEmail("a", "committed")).id();
      queue.enqueueAll(List.of(new NewJob<>(SEND_EMAIL, new SendEmail("k", "keyed"),
          EnqueueOptions.builder().uniqueKey("k").build())));
      assertThat(outside.find(id)).isEmpty();
      real.commit();
      assertThat(outside.find(id)).isPresent();
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(2);
    assertThat(tx.controlCalls).as("pgqueue never committed, rolled back, reconfigured or closed it").isEmpty();
    assertThat(tx.releases.get()).as("each operation released its connection once").isPositive();
  }

  @Test
  void aFailedStatementOnAJoinedConnectionSaysTheTransactionIsAbortedAndLeavesItToTheCaller() throws Exception {
    ThreadTransaction tx = new ThreadTransaction();
    JobQueue queue = JobQueue.builder(db.dataSource()).connectionSource(tx).build();
    db.execute("ALTER TABLE pgqueue.jobs ADD CONSTRAINT test_no_evil CHECK (name <> 'evil')");
    try (Connection real = tx.begin(db.dataSource().getConnection())) {
      assertThatThrownBy(() -> queue.enqueue(JobType.of("evil", String.class), "x"))
          .isInstanceOf(PgQueueException.class).hasMessageContaining("transaction it joined is aborted");
      assertThatThrownBy(() -> queue.enqueueAll(JobType.of("evil", String.class), List.of("x")))
          .isInstanceOf(PgQueueException.class).hasMessageContaining("must be rolled back");
      assertThat(tx.controlCalls).isEmpty();
      assertThat(real.isClosed()).isFalse();
      real.rollback();
    } finally {
      db.execute("ALTER TABLE pgqueue.jobs DROP CONSTRAINT test_no_evil");
    }
  }

  @Test
  void aJoinedConnectionInAutocommitIsRefusedBecauseThereIsNoTransactionToJoin() throws Exception {
    ThreadTransaction tx = new ThreadTransaction();
    JobQueue queue = JobQueue.builder(db.dataSource()).connectionSource(tx).build();
    try (Connection real = tx.begin(db.dataSource().getConnection())) {
      real.setAutoCommit(true);
      assertThatThrownBy(() -> queue.enqueue(SEND_EMAIL, new SendEmail("a", "1")))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("autocommit");
    }
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
  }

  @Test
  void anOwnedSourceCommitsItsOwnWorkAndReleasesEveryConnection() throws Exception {
    AtomicInteger taken = new AtomicInteger();
    AtomicInteger released = new AtomicInteger();
    ConnectionSource counting = new ConnectionSource() {
      @Override
      public Connection getConnection() throws SQLException {
        taken.incrementAndGet();
        Connection c = db.dataSource().getConnection();
        c.setAutoCommit(false); // like a pool configured with autoCommit=false
        return c;
      }

      @Override
      public boolean joinsTransaction(Connection connection) {
        return false;
      }

      @Override
      public void release(Connection connection) throws SQLException {
        released.incrementAndGet();
        connection.close();
      }
    };
    JobQueue queue = JobQueue.builder(db.dataSource()).connectionSource(counting).build();
    JobId id = queue.enqueue(SEND_EMAIL, new SendEmail("a", "1")).id();
    assertThat(JobQueue.create(db.dataSource()).find(id)).as("committed by pgqueue").isPresent();
    assertThat(released.get()).isEqualTo(taken.get()).isPositive();
    db.execute("ALTER TABLE pgqueue.jobs ADD CONSTRAINT test_no_evil CHECK (name <> 'evil')");
    try {
      assertThatThrownBy(() -> queue.enqueue(JobType.of("evil", String.class), "x"))
          .isInstanceOf(PgQueueException.class).hasMessageContaining("nothing was written");
    } finally {
      db.execute("ALTER TABLE pgqueue.jobs DROP CONSTRAINT test_no_evil");
    }
    assertThat(released.get()).as("released after a failure too").isEqualTo(taken.get());
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(1);
  }
}
