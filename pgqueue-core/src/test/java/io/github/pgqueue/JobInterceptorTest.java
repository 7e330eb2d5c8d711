package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The handler interceptor: on the attempt's thread, around decode and handler, and nowhere else. */
@PgQueueTest
class JobInterceptorTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final ThreadLocal<String> SPAN = new ThreadLocal<>();

  TestDatabase db;
  JobQueue queue;
  final List<Worker> workers = new ArrayList<>();
  final List<JobEvent> events = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @AfterEach
  void stop() {
    workers.forEach(Worker::close);
  }

  Worker start(Worker.Builder b) {
    Worker w = b.pollInterval(Duration.ofMillis(50)).backoff(Backoff.fixed(Duration.ZERO)).listener(events::add).build();
    workers.add(w);
    w.start();
    return w;
  }

  /**
   * Sets a thread-local around the attempt, as a tracing scope or an MDC entry would, and clears it.
   * (The tests' SLF4J binding keeps no MDC, so a plain thread-local stands for it.)
   */
  static final JobInterceptor SCOPE = (job, invocation) -> {
    SPAN.set("span-" + job.id().value() + "-" + job.attempt());
    try {
      invocation.proceed();
    } finally {
      SPAN.remove();
    }
  };

  List<JobEvent> outcomes() {
    return events.stream().filter(e -> e.kind() != JobEvent.Kind.STARTED).toList();
  }

  @Test
  void whatAnInterceptorSetsOnTheThreadIsSeenByTheHandlerAndClearedBeforeTheOutcome() {
    Map<Long, String> seenByHandler = new ConcurrentHashMap<>();
    List<String> leftAfter = new CopyOnWriteArrayList<>();
    List<String> contexts = new CopyOnWriteArrayList<>();
    start(Worker.builder(db.dataSource())
        .interceptor((job, invocation) -> {
          contexts.add(job.name() + "/" + job.queue() + "/" + job.attempt() + "/" + job.context());
          invocation.proceed();
        })
        .interceptor(SCOPE)
        // Listener events of an attempt that ran on its thread fire on that thread after the interceptors returned.
        .listener(e -> {
          if (e.kind() == JobEvent.Kind.SUCCEEDED) {
            leftAfter.add(String.valueOf(SPAN.get()));
          }
        })
        .handle(ITEM, (item, ctx) -> {
          seenByHandler.put(ctx.id().value(), String.valueOf(SPAN.get()));
        }));
    JobId a = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().context("req-42").build()).id();
    JobId b = queue.enqueue(ITEM, new Item(2)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> leftAfter.size() == 2);
    assertThat(seenByHandler).containsEntry(a.value(), "span-" + a.value() + "-1").containsEntry(b.value(), "span-" + b.value() + "-1");
    assertThat(leftAfter).containsOnly("null");
    assertThat(contexts).containsExactlyInAnyOrder("item/default/1/req-42", "item/default/1/");
  }

  @Test
  void interceptorsNestInRegistrationOrderAroundDecodeAndHandler() {
    List<String> trace = new CopyOnWriteArrayList<>();
    PayloadCodec tracingCodec = new PayloadCodec() {
      final JacksonCodec jackson = JacksonCodec.create();

      @Override
      public <T> String encode(JobType<T> type, T payload) throws Exception {
        return jackson.encode(type, payload);
      }

      @Override
      public <T> T decode(JobType<T> type, String json) throws Exception {
        trace.add("decode");
        return jackson.decode(type, json);
      }
    };
    start(Worker.builder(db.dataSource()).codec(tracingCodec)
        .interceptor((job, inv) -> { trace.add("a>"); inv.proceed(); trace.add("<a"); })
        .interceptor((job, inv) -> { trace.add("b>"); inv.proceed(); trace.add("<b"); })
        .handle(ITEM, (item, ctx) -> trace.add("handler")));
    queue.enqueue(ITEM, new Item(1));
    await().atMost(Duration.ofSeconds(10)).until(() -> outcomes().size() == 1);
    assertThat(trace).containsExactly("a>", "b>", "decode", "handler", "<b", "<a");
  }

  @Test
  void anInterceptorThatThrowsFailsTheAttemptLikeTheHandlerAndTheJobIsRetried() {
    AtomicInteger handlerRuns = new AtomicInteger();
    start(Worker.builder(db.dataSource())
        .interceptor((job, inv) -> {
          if (job.attempt() == 1) {
            throw new IllegalStateException("tracer down before");
          }
          inv.proceed();
          if (job.attempt() == 2) {
            throw new IllegalStateException("tracer down after");
          }
        })
        .handle(ITEM, (item, ctx) -> handlerRuns.incrementAndGet()));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> outcomes().size() == 3);
    assertThat(outcomes()).extracting(JobEvent::kind)
        .containsExactly(JobEvent.Kind.RETRIED, JobEvent.Kind.RETRIED, JobEvent.Kind.SUCCEEDED);
    assertThat(outcomes().get(0).error()).hasMessage("tracer down before");
    assertThat(outcomes().get(1).error()).hasMessage("tracer down after");
    assertThat(handlerRuns.get()).as("attempt 1 never reached the handler").isEqualTo(2);
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty()); // outcome events precede the write
  }

  @Test
  void anInterceptorCannotHideAHandlerFailureAndOneThatNeverProceedsFailsTheAttempt() {
    AtomicInteger handlerRuns = new AtomicInteger();
    start(Worker.builder(db.dataSource())
        .interceptor(new JobInterceptor() {
          @Override
          public void intercept(JobContext job, Invocation inv) {
            if (job.attempt() == 1) {
              return; // forgets to proceed
            }
            try {
              inv.proceed();
            } catch (Exception swallowed) {
              // a careless interceptor: the handler's failure must still count
            }
          }

          @Override
          public String toString() {
            return "Careless";
          }
        })
        .handle(ITEM, (item, ctx) -> {
          handlerRuns.incrementAndGet();
          if (ctx.attempt() == 2) {
            throw new IllegalArgumentException("handler failed");
          }
        }));
    JobId id = queue.enqueue(ITEM, new Item(1)).id();
    await().atMost(Duration.ofSeconds(10)).until(() -> outcomes().size() == 3);
    assertThat(outcomes()).extracting(JobEvent::kind)
        .containsExactly(JobEvent.Kind.RETRIED, JobEvent.Kind.RETRIED, JobEvent.Kind.SUCCEEDED);
    assertThat(outcomes().get(0).error()).isInstanceOf(IllegalStateException.class)
        .hasMessage("job interceptor Careless returned without calling proceed(): the handler did not run");
    assertThat(outcomes().get(1).error()).hasMessage("handler failed");
    assertThat(handlerRuns.get()).isEqualTo(2);
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty()); // outcome events precede the write
  }

  @Test
  void proceedRunsOnceAndOnlyOnTheAttemptsThread() {
    AtomicInteger handlerRuns = new AtomicInteger();
    List<Throwable> refused = new CopyOnWriteArrayList<>();
    start(Worker.builder(db.dataSource())
        .interceptor((job, inv) -> {
          Thread other = new Thread(() -> {
            try {
              inv.proceed();
            } catch (Exception e) {
              refused.add(e);
            }
          });
          other.start();
          other.join();
          inv.proceed();
          try {
            inv.proceed();
          } catch (IllegalStateException e) {
            refused.add(e);
          }
        })
        .handle(ITEM, (item, ctx) -> handlerRuns.incrementAndGet()));
    queue.enqueue(ITEM, new Item(1));
    await().atMost(Duration.ofSeconds(10)).until(() -> outcomes().size() == 1);
    assertThat(outcomes().get(0).kind()).isEqualTo(JobEvent.Kind.SUCCEEDED);
    assertThat(handlerRuns.get()).isEqualTo(1);
    assertThat(refused).hasSize(2);
    assertThat(refused.get(0)).hasMessageContaining("not on the attempt's thread");
    assertThat(refused.get(1)).hasMessageContaining("called proceed() twice");
  }

  @Test
  void anAbandonedAttemptsLateEventsNeverRunTheInterceptorOnTheWatchdogThread() {
    Set<Thread> interceptorThreads = ConcurrentHashMap.newKeySet();
    AtomicInteger intercepted = new AtomicInteger();
    AtomicBoolean release = new AtomicBoolean();
    Map<JobEvent.Kind, String> eventThreadSpan = new ConcurrentHashMap<>();
    Map<JobEvent.Kind, Thread> eventThread = new ConcurrentHashMap<>();
    try {
      start(Worker.builder(db.dataSource())
          .timeoutGrace(Duration.ofMillis(100))
          .interceptor((job, inv) -> {
            interceptorThreads.add(Thread.currentThread());
            intercepted.incrementAndGet();
            SCOPE.intercept(job, inv);
          })
          .listener(e -> {
            if (e.attempt() == 1 && e.kind() != JobEvent.Kind.STARTED) {
              eventThread.put(e.kind(), Thread.currentThread());
              eventThreadSpan.put(e.kind(), String.valueOf(SPAN.get()));
            }
          })
          .handle(ITEM, (item, ctx) -> {
            if (ctx.attempt() == 1) {
              // Ignores its interrupt: only abandoning the attempt frees the slot.
              while (!release.get()) {
                LockSupport.parkNanos(5_000_000);
              }
            }
          }, HandlerOptions.builder().timeout(Duration.ofMillis(200)).build()));
      JobId id = queue.enqueue(ITEM, new Item(1)).id();
      await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(id).isEmpty());
      Thread watchdog = eventThread.get(JobEvent.Kind.RETRIED);
      assertThat(watchdog).as("the timed-out attempt's outcome came from the watchdog").isNotNull();
      assertThat(interceptorThreads).doesNotContain(watchdog);
      assertThat(eventThreadSpan).containsEntry(JobEvent.Kind.RETRIED, "null");
      assertThat(intercepted.get()).as("once per attempt that ran on a worker thread").isEqualTo(2);
    } finally {
      release.set(true);
    }
  }
}
