package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Pools.Kind;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Transactional handlers borrow their connection from the worker's pool: it must go back as it
 * came whatever the pool's autocommit and isolation, and an aborted one must not leak.
 */
@PgQueueTest
class TransactionalPoolTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("tx_pool_item", Item.class);

  @BeforeEach
  void tables(TestDatabase db) {
    db.truncate();
    db.execute("CREATE TABLE IF NOT EXISTS public.tx_pool_effects (job_id bigint NOT NULL, attempt int NOT NULL)");
    db.execute("TRUNCATE public.tx_pool_effects");
  }

  static Worker.Builder fast(DataSource ds) {
    return Worker.builder(ds)
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .backoff(Backoff.fixed(Duration.ZERO)).queue("default", 2);
  }

  /** Each job writes once per attempt; every third fails its first attempt. One committed write per job. */
  @ParameterizedTest
  @EnumSource(value = Kind.class, names = {"HIKARI", "HIKARI_AUTOCOMMIT_OFF", "PLAIN", "REPEATABLE_READ", "SERIALIZABLE"})
  void everyJobCommitsOnceAndEveryConnectionGoesBackAsItCame(Kind kind, TestDatabase db) throws Exception {
    int size = 8;
    DataSource ds = Pools.open(kind, db, null, size);
    try {
      JobQueue queue = JobQueue.create(ds);
      queue.enqueueAll(ITEM, IntStream.range(0, 30).mapToObj(Item::new).toList());
      Worker w = fast(ds).handleInTransaction(ITEM, (item, ctx, c) -> {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO public.tx_pool_effects VALUES (?, ?)")) {
          ps.setLong(1, ctx.id().value());
          ps.setInt(2, ctx.attempt());
          ps.executeUpdate();
        }
        if (item.n() % 3 == 0 && ctx.attempt() == 1) {
          throw new IllegalStateException("first attempt fails");
        }
      }).build();
      w.start();
      try {
        await().atMost(Duration.ofSeconds(30)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      } finally {
        w.close();
      }
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_pool_effects")).isEqualTo(30);
      assertThat(db.queryLong("SELECT count(DISTINCT job_id) FROM public.tx_pool_effects")).isEqualTo(30);
      assertThat(db.queryLong("SELECT count(*) FROM public.tx_pool_effects WHERE attempt = 1 AND job_id IN"
          + " (SELECT job_id FROM public.tx_pool_effects WHERE attempt = 2)")).as("no failed attempt's write").isZero();
      Pools.assertReturnedAsFound(kind, ds, size);
    } finally {
      Pools.close(ds);
    }
  }

  /**
   * Under HikariCP an abandoned attempt's connection is aborted and closed: the pool gets it back
   * (and discards it) while the handler's thread is still stuck, so no connection is left in use.
   */
  @Test
  void anAbortedConnectionGoesBackToHikariWhileItsThreadIsStuck(TestDatabase db) {
    DataSource ds = Pools.open(Kind.HIKARI, db, null, 6);
    AtomicBoolean release = new AtomicBoolean();
    AtomicBoolean returned = new AtomicBoolean();
    try {
      JobQueue queue = JobQueue.create(ds);
      Worker w = fast(ds).jobTimeout(Duration.ofMillis(300)).timeoutGrace(Duration.ofMillis(200))
          .handleInTransaction(ITEM, (item, ctx, c) -> {
            try (Statement st = c.createStatement()) {
              st.execute("SELECT 1");
            }
            if (ctx.attempt() == 1) {
              while (!release.get()) {
                Thread.interrupted();
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
              }
              returned.set(true);
            }
          }).build();
      w.start();
      try {
        queue.enqueue(ITEM, new Item(1));
        await().atMost(Duration.ofSeconds(10)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      } finally {
        w.close();
      }
      assertThat(returned).as("the first attempt's thread is still stuck").isFalse();
      assertThat(((HikariDataSource) ds).getHikariPoolMXBean().getActiveConnections())
          .as("connections still in use after close").isZero();
    } finally {
      release.set(true);
      Pools.close(ds);
    }
  }
}
