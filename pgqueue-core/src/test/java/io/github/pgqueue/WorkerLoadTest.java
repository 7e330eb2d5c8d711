package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

@PgQueueTest
class WorkerLoadTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static HikariDataSource pool(TestDatabase db, int size) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrl());
    c.setUsername(db.user());
    c.setPassword(db.password());
    c.setMaximumPoolSize(size);
    c.setMinimumIdle(size);
    return new HikariDataSource(c);
  }

  @Test
  void fourWorkersWithFourConnectionsEachRunTwentyThousandJobsExactlyOnce(TestDatabase db) {
    db.truncate();
    int n = 20_000;
    JobQueue queue = JobQueue.create(db.dataSource());
    for (int from = 0; from < n; from += 5_000) {
      queue.enqueueAll(ITEM, IntStream.range(from, from + 5_000).mapToObj(Item::new).toList());
    }
    Set<Long> ids = ConcurrentHashMap.newKeySet();
    Set<Integer> payloads = ConcurrentHashMap.newKeySet();
    AtomicInteger runs = new AtomicInteger();
    List<HikariDataSource> pools = new ArrayList<>();
    List<Worker> workers = new ArrayList<>();
    try {
      for (int i = 0; i < 4; i++) {
        HikariDataSource pool = pool(db, 4);
        pools.add(pool);
        Worker w = Worker.builder(pool).handle(ITEM, (item, ctx) -> {
          runs.incrementAndGet();
          ids.add(ctx.id().value());
          payloads.add(item.n());
        }).build();
        workers.add(w);
        w.start();
      }
      await().atMost(Duration.ofSeconds(90)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    } finally {
      workers.forEach(Worker::close);
      pools.forEach(HikariDataSource::close);
    }
    assertThat(runs.get()).as("handler calls").isEqualTo(n);
    assertThat(ids).as("distinct job ids").hasSize(n);
    assertThat(payloads).as("distinct payloads").hasSize(n);
  }
}
