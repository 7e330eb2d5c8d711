package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class WorkerTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  TestDatabase db;
  JobQueue queue;
  final List<Worker> workers = new ArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @AfterEach
  void stopWorkers() {
    workers.forEach(Worker::close);
  }

  Worker start(Worker.Builder b) {
    Worker w = b.build();
    workers.add(w);
    w.start();
    return w;
  }

  @Test
  void runsTypedHandlersAndDeletesSucceededJobs() {
    Set<Integer> seen = ConcurrentHashMap.newKeySet();
    List<JobContext> contexts = new CopyOnWriteArrayList<>();
    start(Worker.builder(db.dataSource()).handle(ITEM, (item, ctx) -> {
      seen.add(item.n());
      contexts.add(ctx);
    }));
    List<EnqueueResult> ids = queue.enqueueAll(ITEM, IntStream.range(0, 100).mapToObj(Item::new).toList());

    await().atMost(Duration.ofSeconds(20)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
    assertThat(seen).hasSize(100);
    JobContext ctx = contexts.stream().filter(c -> c.id().equals(ids.get(0).id())).findFirst().orElseThrow();
    assertThat(ctx.name()).isEqualTo("item");
    assertThat(ctx.queue()).isEqualTo("default");
    assertThat(ctx.attempt()).isEqualTo(1);
    assertThat(ctx.maxAttempts()).isEqualTo(25);
    assertThat(ctx.createdAt()).isBefore(Instant.now().plusSeconds(1));
    assertThat(ctx.runAt()).isEqualTo(ctx.createdAt());
  }

  @Test
  void aWorkerWithATenSecondPollStartsAFreshJobThroughNotify() {
    CountDownLatch ran = new CountDownLatch(1);
    Worker w = start(Worker.builder(db.dataSource()).pollInterval(Duration.ofSeconds(10))
        .handle(ITEM, (item, ctx) -> ran.countDown()));
    await().atMost(Duration.ofSeconds(10)).until(w::isListening);
    // Let the start-up claim and the fast-poll window pass, so only a NOTIFY can wake the worker.
    await().pollDelay(Duration.ofMillis(1_500)).atMost(Duration.ofSeconds(3)).until(() -> true);

    long t0 = System.nanoTime();
    queue.enqueue(ITEM, new Item(1));
    await().atMost(Duration.ofSeconds(5)).until(() -> ran.getCount() == 0);
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertThat(ms).as("picked up well before the 10 s poll").isLessThan(5_000);
  }

  @Test
  void higherPriorityRunsFirst() {
    List<Integer> order = Collections.synchronizedList(new ArrayList<>());
    queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().priority(1).build());
    queue.enqueue(ITEM, new Item(2), EnqueueOptions.builder().priority(10).build());
    queue.enqueue(ITEM, new Item(3), EnqueueOptions.builder().priority(-5).build());
    queue.enqueue(ITEM, new Item(4), EnqueueOptions.builder().priority(10).build());
    start(Worker.builder(db.dataSource()).queue("default", 1).bufferFactor(0)
        .handle(ITEM, (item, ctx) -> order.add(item.n())));
    await().atMost(Duration.ofSeconds(10)).until(() -> order.size() == 4);
    assertThat(order).containsExactly(2, 4, 1, 3);
  }

  @Test
  void scheduledJobsWaitForTheirTime() {
    List<Instant> ranAt = new CopyOnWriteArrayList<>();
    start(Worker.builder(db.dataSource()).pollInterval(Duration.ofMillis(100))
        .handle(ITEM, (item, ctx) -> ranAt.add(Instant.now())));
    Instant enqueued = Instant.now();
    queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().delay(Duration.ofMillis(1_500)).build());
    await().atMost(Duration.ofSeconds(10)).until(() -> ranAt.size() == 1);
    assertThat(Duration.between(enqueued, ranAt.get(0))).isGreaterThanOrEqualTo(Duration.ofMillis(1_400));
  }

  @Test
  void aBusyQueueDoesNotStarveAnother() {
    JobType<Item> slow = JobType.of("slow", Item.class);
    AtomicInteger slowRan = new AtomicInteger();
    CountDownLatch otherRan = new CountDownLatch(1);
    // The busy queue holds far more high-priority work than its slots can do while we wait.
    queue.enqueueAll(slow, IntStream.range(0, 2_000).mapToObj(Item::new).toList(),
        EnqueueOptions.builder().queue("busy").priority(100).build());
    start(Worker.builder(db.dataSource())
        .queue("busy", 2).queue("other", 1)
        .handle(slow, (item, ctx) -> {
          slowRan.incrementAndGet();
          Thread.sleep(50);
        })
        .handle(ITEM, (item, ctx) -> otherRan.countDown()));
    await().atMost(Duration.ofSeconds(5)).until(() -> slowRan.get() > 0);
    queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().queue("other").build());
    await().atMost(Duration.ofSeconds(5)).until(() -> otherRan.getCount() == 0);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE queue = 'busy'")).isGreaterThan(1_000);
  }

  @Test
  void handlersRunOnTheGivenExecutorForExampleVirtualThreads() throws Exception {
    java.util.concurrent.ExecutorService virtual;
    try {
      // Java 21+; found reflectively because the library is compiled for Java 17.
      virtual = (java.util.concurrent.ExecutorService)
          java.util.concurrent.Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
    } catch (NoSuchMethodException e) {
      org.junit.jupiter.api.Assumptions.abort("virtual threads need Java 21+; this is " + Runtime.version());
      return;
    }
    Set<Boolean> virtualThreads = ConcurrentHashMap.newKeySet();
    try {
      start(Worker.builder(db.dataSource()).executor(virtual).handle(ITEM, (item, ctx) ->
          virtualThreads.add((Boolean) Thread.class.getMethod("isVirtual").invoke(Thread.currentThread()))));
      queue.enqueueAll(ITEM, IntStream.range(0, 50).mapToObj(Item::new).toList());
      await().atMost(Duration.ofSeconds(20)).until(() -> db.queryLong("SELECT count(*) FROM pgqueue.jobs") == 0);
      assertThat(virtualThreads).containsExactly(true);
    } finally {
      workers.forEach(Worker::close);
      workers.clear();
      virtual.shutdown();
    }
  }

  @Test
  void registeringANameTwiceFailsAtBuildTime() {
    assertThatThrownBy(() -> Worker.builder(db.dataSource())
        .handle(ITEM, (i, c) -> {})
        .handle(JobType.of("item", String.class), (i, c) -> {}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"item\" is already registered");
    // A transactional handler shares the names of ordinary ones.
    assertThatThrownBy(() -> Worker.builder(db.dataSource())
        .handle(ITEM, (i, c) -> {})
        .handleInTransaction(ITEM, (i, c, tx) -> {}))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("\"item\" is already registered");
  }

  @Test
  void invalidSettingsFailAtBuildTimeNamingTheSetting() {
    Worker.Builder b = Worker.builder(db.dataSource());
    assertThatThrownBy(() -> b.queue("default", 0)).hasMessageContaining("concurrency").hasMessageContaining("0");
    assertThatThrownBy(() -> b.queue("bad queue", 1)).hasMessageContaining("queue must be");
    assertThatThrownBy(() -> b.pollInterval(Duration.ofMillis(1))).hasMessageContaining("pollInterval").hasMessageContaining("PT0.001S");
    assertThatThrownBy(() -> b.jobTimeout(Duration.ZERO)).hasMessageContaining("jobTimeout");
    assertThatThrownBy(() -> b.bufferFactor(-1)).hasMessageContaining("bufferFactor");
    assertThatThrownBy(() -> b.maxAbandonedThreads(0)).hasMessageContaining("maxAbandonedThreads");
    assertThatThrownBy(() -> b.shutdownTimeout(Duration.ofSeconds(-1))).hasMessageContaining("shutdownTimeout");
    assertThatThrownBy(b::build).hasMessageContaining("at least one handler");
    assertThatThrownBy(() -> Worker.builder(db.dataSource()).handle(ITEM, (i, c) -> {})
        .heartbeatInterval(Duration.ofSeconds(5)).staleAfter(Duration.ofSeconds(10)).build())
        .hasMessageContaining("staleAfter must be at least three heartbeat intervals");
    assertThatThrownBy(() -> HandlerOptions.builder().timeout(Duration.ofSeconds(-1)))
        .hasMessageContaining("timeout");
  }

  @Test
  void startRefusesAMissingSchema(TestDatabase db) {
    Worker w = Worker.builder(JobQueue.builder(db.dataSource()).schema("absent").build()).handle(ITEM, (i, c) -> {}).build();
    assertThatThrownBy(w::start).isInstanceOf(SchemaVersionException.class).hasMessageContaining("Migrator");
  }

  record Greeting(String firstName) {}

  static final JobType<Greeting> GREETING = JobType.of("greeting", Greeting.class);

  @Test
  void aWorkerBuiltFromAQueueDecodesWithTheQueuesMapper() {
    JobQueue snake = JobQueue.builder(db.dataSource())
        .objectMapper(JobQueue.defaultObjectMapper()
            .setPropertyNamingStrategy(com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE))
        .build();
    List<String> seen = new CopyOnWriteArrayList<>();
    // The payload is stored as {"first_name": ...}: only the queue's own mapper reads it back.
    snake.enqueue(GREETING, new Greeting("ada"));
    Worker.builder(db.dataSource()).handle(GREETING, (g, ctx) -> seen.add(String.valueOf(g.firstName())))
        .build().drain(10);
    snake.enqueue(GREETING, new Greeting("grace"));
    Worker.builder(snake).handle(GREETING, (g, ctx) -> seen.add(String.valueOf(g.firstName())))
        .build().drain(10);
    assertThat(seen).as("the default mapper misses the field; the queue's reads it").containsExactly("null", "grace");
  }

  @Test
  void drainRunsDueJobsInline() {
    queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2), new Item(-1)));
    Worker w = Worker.builder(db.dataSource()).backoff(Backoff.fixed(Duration.ofMinutes(1)))
        .handle(ITEM, (item, ctx) -> {
          if (item.n() < 0) {
            throw new IllegalStateException("negative");
          }
        }).build();
    List<JobEvent> events = w.drain(100);
    assertThat(events).extracting(JobEvent::kind)
        .containsExactlyInAnyOrder(JobEvent.Kind.SUCCEEDED, JobEvent.Kind.SUCCEEDED, JobEvent.Kind.RETRIED);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'available' AND attempt = 1")).isEqualTo(1);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("drain deregisters").isZero();
  }

  @Test
  void drainHeartbeatsSoAPeerDoesNotRescueItsLongInlineJob() {
    AtomicInteger peerRuns = new AtomicInteger();
    // A peer that judges workers dead after 1 s; it serves another queue, so it would only see
    // the job if it rescued it.
    Worker peer = start(Worker.builder(db.dataSource()).queue("elsewhere", 1)
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(1))
        .handle(ITEM, (item, ctx) -> peerRuns.incrementAndGet()));
    await().atMost(Duration.ofSeconds(10)).until(peer::isHealthy);
    JobId id = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().queue("inline").build()).id();

    Worker drainer = Worker.builder(db.dataSource()).queue("inline", 1)
        .heartbeatInterval(Duration.ofMillis(100)).staleAfter(Duration.ofSeconds(1))
        .handle(ITEM, (item, ctx) -> {
          // Runs for three of the peer's stale thresholds (the workload, not a wait for a condition).
          Thread.sleep(3_000);
        }).build();
    List<JobEvent> events = drainer.drain(1);

    assertThat(events).extracting(JobEvent::kind).containsExactly(JobEvent.Kind.SUCCEEDED);
    assertThat(queue.find(id)).as("the outcome was written: nobody rescued the job from under the drain").isEmpty();
    assertThat(peerRuns.get()).isZero();
  }
}
