package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The interrupt that the watchdog (or shutdown) aims at one attempt must never reach the next
 * attempt that runs on the same pooled thread. One thread runs attempts back to back, as a slot
 * does; another keeps interrupting every odd-numbered attempt, right up to the moment it ends.
 * An even-numbered attempt that sees an interrupt got one meant for its predecessor.
 *
 * <p>No database: this is about the hand-over between two attempts on one thread, which the
 * database plays no part in; the worker-level behaviour is covered by the timeout tests.
 */
class JobRunInterruptTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);

  static ClaimedJob claimed(long id) {
    return new ClaimedJob(id, ITEM.name(), "default", "{\"n\": 1}", 1, 5, 0, Instant.now(), Instant.now(), null, 1, id, null, Instant.now(), System.nanoTime());
  }

  static final JobRun.Sink NO_SINK = new JobRun.Sink() {
    @Override
    public void settled(JobRun run, Outcome outcome, JobEvent event) {}

    @Override
    public void abandonedThreadReturned(JobRun run) {}
  };

  @Test
  @Timeout(60)
  void anInterruptAimedAtOneAttemptNeverReachesTheNextOnTheSameThread() throws Exception {
    PayloadCodec codec = new CheckedCodec(JacksonCodec.create(), Integer.MAX_VALUE);
    AtomicInteger strayInterrupts = new AtomicInteger();
    AtomicLong evenRuns = new AtomicLong();
    AtomicBoolean stop = new AtomicBoolean();
    // The attempt the interrupter aims at: always an odd-numbered one.
    java.util.concurrent.atomic.AtomicReference<JobRun> target = new java.util.concurrent.atomic.AtomicReference<>();

    JobHandler<Item> handler = (item, ctx) -> {
      boolean even = ctx.id().value() % 2 == 0;
      // A little work, so an interrupt in flight has time to land.
      long until = System.nanoTime() + 2_000;
      while (System.nanoTime() - until < 0) {
        Thread.onSpinWait();
      }
      if (even) {
        evenRuns.incrementAndGet();
        if (Thread.currentThread().isInterrupted()) {
          strayInterrupts.incrementAndGet();
        }
      }
    };
    Worker.Registration<Item> reg =
        new Worker.Registration<>(ITEM, handler, Backoff.fixed(Duration.ZERO), TimeUnit.MINUTES.toNanos(1));

    Thread interrupter = new Thread(() -> {
      while (!stop.get()) {
        JobRun r = target.get();
        if (r != null) {
          r.interrupt();
        }
      }
    }, "test-interrupter");
    interrupter.setDaemon(true);

    Thread slot = new Thread(() -> {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
      for (long id = 1; System.nanoTime() - deadline < 0 && strayInterrupts.get() == 0; id++) {
        JobRun run = new JobRun(claimed(id), reg, codec, NO_SINK, null, reg.timeoutNanos());
        if (id % 2 == 1) {
          target.set(run);
        }
        run.run();
      }
    }, "test-slot");
    interrupter.start();
    slot.start();
    slot.join(30_000);
    stop.set(true);
    interrupter.join(5_000);

    assertThat(evenRuns.get()).as("the test ran attempts").isPositive();
    assertThat(strayInterrupts.get()).as("interrupts that hit the wrong attempt").isZero();
  }
}
