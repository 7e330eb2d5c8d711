package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class WorkerShutdownTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @Test
  void closeLetsRunningJobsFinishAndReleasesBufferedOnesWithoutCharge() throws Exception {
    CountDownLatch started = new CountDownLatch(2);
    CountDownLatch proceed = new CountDownLatch(1);
    Set<Integer> finished = ConcurrentHashMap.newKeySet();
    queue.enqueueAll(ITEM, IntStream.range(0, 50).mapToObj(Item::new).toList());
    Worker w = Worker.builder(db.dataSource()).queue("default", 2).shutdownTimeout(Duration.ofSeconds(10))
        .handle(ITEM, (item, ctx) -> {
          started.countDown();
          proceed.await();
          finished.add(item.n());
        }).build();
    w.start();
    await().atMost(Duration.ofSeconds(10)).until(() -> started.getCount() == 0);

    Thread closer = new Thread(w::close);
    closer.start();
    // close() waits for the two running jobs; let them finish now.
    await().atMost(Duration.ofSeconds(5)).until(() -> closer.getState() == Thread.State.TIMED_WAITING);
    proceed.countDown();
    closer.join(15_000);
    assertThat(closer.isAlive()).isFalse();

    assertThat(finished).hasSize(2);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(48);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state <> 'available' OR attempt <> 0"))
        .as("jobs claimed but never started go back uncharged").isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("deregistered").isZero();
    w.close(); // idempotent
  }

  @Test
  void jobsPastTheShutdownTimeoutAreInterruptedAndRunLater() throws Exception {
    AtomicBoolean firstRun = new AtomicBoolean(true);
    AtomicInteger completions = new AtomicInteger();
    CountDownLatch started = new CountDownLatch(1);
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    Worker w = Worker.builder(db.dataSource()).shutdownTimeout(Duration.ofMillis(300))
        .timeoutGrace(Duration.ofSeconds(2))
        .handle(ITEM, (item, ctx) -> {
          if (firstRun.getAndSet(false)) {
            started.countDown();
            Thread.sleep(60_000); // interrupted by close()
          }
          completions.incrementAndGet();
        }).build();
    w.start();
    started.await();
    long t0 = System.nanoTime();
    w.close();
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));

    JobInfo j = queue.find(id).orElseThrow();
    assertThat(j.state()).isEqualTo(JobState.AVAILABLE);
    assertThat(j.attempt()).as("shutdown does not charge the attempt").isZero();

    Worker again = Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> completions.incrementAndGet()).build();
    again.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
      assertThat(completions.get()).isEqualTo(1);
    } finally {
      again.close();
    }
  }

  @Test
  void closeBeforeStartAndTwiceIsHarmlessAndClosesForGood() {
    Worker w = Worker.builder(db.dataSource()).handle(ITEM, (i, c) -> {}).build();
    w.close();
    w.close();
    assertThatThrownBy(w::start).isInstanceOf(IllegalStateException.class);
    assertThat(w.isHealthy()).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).isZero();
  }

  /**
   * Hands out connections from the test database; while armed, a fetcher thread that asks for one
   * is held for a while first, as a slow pool or a slow claim would hold it.
   */
  static final class SlowClaims implements DataSource {
    final DataSource target;
    final CountDownLatch held = new CountDownLatch(1);
    volatile Thread heldThread;
    volatile long delayMillis;

    SlowClaims(DataSource target) {
      this.target = target;
    }

    @Override
    public Connection getConnection() throws SQLException {
      long delay = delayMillis;
      if (delay > 0 && Thread.currentThread().getName().contains("-fetch-")) {
        heldThread = Thread.currentThread();
        held.countDown();
        try {
          Thread.sleep(delay); // the fault being injected: a claim that takes this long
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new SQLException("interrupted", "08000");
        }
      }
      return target.getConnection();
    }

    @Override
    public Connection getConnection(String user, String password) throws SQLException {
      return target.getConnection(user, password);
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
      return target.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
      target.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
      target.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
      return target.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
      return target.getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
      return target.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
      return target.isWrapperFor(iface);
    }
  }

  @Test
  void aClaimInFlightAtShutdownReleasesItsJobsWithoutCharge() throws Exception {
    SlowClaims ds = new SlowClaims(db.dataSource());
    AtomicInteger runs = new AtomicInteger();
    Worker w = Worker.builder(ds).pollInterval(Duration.ofMillis(50)).shutdownTimeout(Duration.ofMillis(200))
        .handle(ITEM, (item, ctx) -> runs.incrementAndGet()).build();
    w.start();
    try {
      await().atMost(Duration.ofSeconds(10)).until(w::isHealthy);
      ds.delayMillis = 2_500; // longer than close() used to wait for a fetcher
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      assertThat(ds.held.await(10, TimeUnit.SECONDS)).as("a claim is in flight").isTrue();
      w.close();
      // Whatever close() waited for, look only once the claim has run to its end.
      ds.heldThread.join(10_000);
      assertThat(ds.heldThread.isAlive()).isFalse();
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        JobInfo j = queue.find(id).orElseThrow();
        assertThat(j.state()).isEqualTo(JobState.AVAILABLE);
        assertThat(j.attempt()).as("close() charges nothing").isZero();
        assertThat(j.lockedBy()).isNull();
      });
      assertThat(runs.get()).isZero();
    } finally {
      ds.delayMillis = 0;
      w.close();
    }
  }
}
