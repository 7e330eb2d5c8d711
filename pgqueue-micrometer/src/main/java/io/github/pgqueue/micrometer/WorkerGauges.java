package io.github.pgqueue.micrometer;

import io.github.pgqueue.Worker;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.function.ToIntFunction;

/**
 * The gauges of one worker's own state, read from {@link Worker#slots()}, {@link
 * Worker#abandonedThreads()}, {@link Worker#isListening()} and {@link Worker#isHealthy()} on each
 * scrape: cheap reads, no database.
 */
final class WorkerGauges implements MeterBinder {

  static final String SLOTS = "pgqueue.worker.slots";
  static final String BUSY = "pgqueue.worker.slots.busy";
  static final String BUFFERED = "pgqueue.worker.buffered";
  static final String ABANDONED = "pgqueue.worker.abandoned.threads";
  static final String LISTENING = "pgqueue.worker.listening";
  static final String HEALTHY = "pgqueue.worker.healthy";

  private final Worker worker;
  private final Tags tags;

  WorkerGauges(Worker worker, Tags tags) {
    this.worker = worker;
    this.tags = tags;
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    for (Worker.QueueSlots q : worker.slots()) {
      Tags t = tags.and("queue", q.queue());
      slotGauge(registry, SLOTS, "Jobs of the queue this worker runs at once (its concurrency)", t, q.queue(),
          Worker.QueueSlots::concurrency);
      slotGauge(registry, BUSY, "Slots of the queue in use: jobs running in this worker", t, q.queue(),
          Worker.QueueSlots::busy);
      slotGauge(registry, BUFFERED, "Jobs claimed by this worker and waiting in its local buffer for a slot", t,
          q.queue(), Worker.QueueSlots::buffered);
    }
    Gauge.builder(ABANDONED, worker, Worker::abandonedThreads)
        .description("Handler threads abandoned past their timeout that have not returned")
        .tags(tags)
        .register(registry);
    Gauge.builder(LISTENING, worker, w -> w.isListening() ? 1 : 0)
        .description("1 when LISTEN/NOTIFY was last proven to reach this worker, 0 when it relies on polling")
        .tags(tags)
        .register(registry);
    Gauge.builder(HEALTHY, worker, w -> w.isHealthy() ? 1 : 0)
        .description("1 when the worker is running, registered, heartbeating and under its abandoned-thread cap")
        .tags(tags)
        .register(registry);
  }

  private void slotGauge(
      MeterRegistry registry, String name, String description, Tags t, String queue,
      ToIntFunction<Worker.QueueSlots> field) {
    Gauge.builder(name, worker, w -> read(w, queue, field))
        .description(description)
        .tags(t)
        .register(registry);
  }

  private static double read(Worker w, String queue, ToIntFunction<Worker.QueueSlots> field) {
    for (Worker.QueueSlots q : w.slots()) {
      if (q.queue().equals(queue)) {
        return field.applyAsInt(q);
      }
    }
    return Double.NaN;
  }
}
