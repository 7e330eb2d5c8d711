package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class BulkEnqueueTest {

  static final JobType<Integer> NUMBER = JobType.of("number", Integer.class);
  static final JobType<Integer> OTHER = JobType.of("other", Integer.class);

  JobQueue queue;
  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @Test
  void tenThousandJobsInAFewStatements() throws Exception {
    List<Integer> payloads = IntStream.range(0, 10_000).boxed().toList();
    AtomicInteger statements = new AtomicInteger();
    List<EnqueueResult> results;
    try (Connection real = db.dataSource().getConnection()) {
      results = queue.enqueueAll(countingStatements(real, statements), NUMBER, payloads);
    }

    assertThat(results).hasSize(10_000).noneMatch(EnqueueResult::duplicate);
    assertThat(statements.get()).as("statements prepared for 10,000 unkeyed jobs").isEqualTo(1);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(10_000);
    // Results come back in input order: the payload stored under each returned id is its input.
    for (int i = 0; i < results.size(); i += 997) {
      assertThat(queue.find(results.get(i).id()).orElseThrow().payload()).isEqualTo(Integer.toString(i));
    }
    assertThat(results.get(9_999).id().value() - results.get(0).id().value()).isEqualTo(9_999);
  }

  @Test
  void duplicatesInsideABatchResolveToTheFirst() {
    EnqueueOptions none = EnqueueOptions.DEFAULTS;
    List<NewJob<?>> jobs =
        List.of(
            NewJob.of(NUMBER, 1, key("a")),
            NewJob.of(NUMBER, 2, none),
            NewJob.of(NUMBER, 3, key("a")),
            NewJob.of(OTHER, 4, key("a")),
            NewJob.of(NUMBER, 5, key("b")),
            NewJob.of(NUMBER, 6, none));
    List<EnqueueResult> r = queue.enqueueAll(jobs);

    assertThat(r).extracting(EnqueueResult::duplicate).containsExactly(false, false, true, false, false, false);
    assertThat(r.get(2).id()).isEqualTo(r.get(0).id());
    assertThat(r.get(3).id()).as("keys are scoped to the job name").isNotEqualTo(r.get(0).id());
    assertThat(queue.find(r.get(0).id()).orElseThrow().payload()).isEqualTo("1");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(5);
  }

  @Test
  void duplicatesOfPendingAndRunningJobsReturnTheHolder() {
    JobId pending = queue.enqueue(NUMBER, 1, key("p")).id();
    JobId running = queue.enqueue(NUMBER, 2, key("r")).id();
    db.execute(
        "UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, locked_at = now() WHERE id = "
            + running.value());

    assertThat(queue.enqueue(NUMBER, 9, key("p"))).isEqualTo(new EnqueueResult(pending, true));
    List<EnqueueResult> r =
        queue.enqueueAll(List.of(NewJob.of(NUMBER, 10, key("r")), NewJob.of(NUMBER, 11, key("new"))));
    assertThat(r.get(0)).isEqualTo(new EnqueueResult(running, true));
    assertThat(r.get(1).duplicate()).isFalse();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(3);
  }

  @Test
  void aKeyIsFreeAgainOnceItsJobIsDiscardedOrGone() {
    JobId first = queue.enqueue(NUMBER, 1, key("k")).id();
    db.execute(
        "UPDATE pgqueue.jobs SET state = 'discarded', discarded_at = now() WHERE id = " + first.value());
    EnqueueResult second = queue.enqueue(NUMBER, 2, key("k"));
    assertThat(second.duplicate()).isFalse();
    db.execute("DELETE FROM pgqueue.jobs WHERE id = " + second.id().value());
    EnqueueResult third = queue.enqueueAll(NUMBER, List.of(3), key("k")).get(0);
    assertThat(third.duplicate()).isFalse();
    assertThat(third.id()).isNotIn(first, second.id());
  }

  @Test
  void concurrentOverlappingBatchesNeitherDeadlockNorDuplicate() throws Exception {
    int threads = 4;
    int rounds = 15;
    List<String> keys = IntStream.range(0, 200).mapToObj(i -> "k" + i).toList();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long seed = t;
      futures.add(
          pool.submit(
              () -> {
                start.await();
                Random random = new Random(seed);
                for (int round = 0; round < rounds; round++) {
                  List<String> mine = new ArrayList<>(keys);
                  Collections.shuffle(mine, random);
                  List<NewJob<?>> jobs = new ArrayList<>();
                  for (String k : mine.subList(0, 120)) {
                    jobs.add(NewJob.of(NUMBER, round, key(k)));
                  }
                  List<EnqueueResult> results = queue.enqueueAll(jobs);
                  assertThat(results).hasSize(120);
                }
                return null;
              }));
    }
    start.countDown();
    for (Future<?> f : futures) {
      f.get(); // any deadlock that escaped the retries fails here
    }
    pool.shutdown();
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isLessThanOrEqualTo(keys.size());
    assertThat(db.queryLong("SELECT count(DISTINCT unique_key) FROM pgqueue.jobs"))
        .isEqualTo(db.queryLong("SELECT count(*) FROM pgqueue.jobs"));
  }

  @Test
  void emptyBatchWritesNothing() {
    assertThat(queue.enqueueAll(List.of())).isEmpty();
    assertThat(queue.enqueueAll(SEND_EMAIL, List.<SendEmail>of())).isEmpty();
  }

  private static EnqueueOptions key(String k) {
    return EnqueueOptions.builder().uniqueKey(k).build();
  }

  /** Wraps a real connection to count the statements pgqueue prepares on it. */
  static Connection countingStatements(Connection real, AtomicInteger count) {
    InvocationHandler h =
        (proxy, method, args) -> {
          if (method.getName().equals("prepareStatement") || method.getName().equals("createStatement")) {
            count.incrementAndGet();
          }
          try {
            return method.invoke(real, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        };
    return (Connection)
        Proxy.newProxyInstance(BulkEnqueueTest.class.getClassLoader(), new Class<?>[] {Connection.class}, h);
  }
}
