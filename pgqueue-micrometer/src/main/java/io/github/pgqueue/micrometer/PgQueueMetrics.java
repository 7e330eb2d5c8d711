package io.github.pgqueue.micrometer;

import io.github.pgqueue.EnqueueInterceptor;
import io.github.pgqueue.EnqueueResult;
import io.github.pgqueue.JobEvent;
import io.github.pgqueue.JobListener;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Worker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Micrometer metrics for pgqueue. One instance per {@link MeterRegistry}; it hands out the hooks to
 * register with pgqueue and the binders for its gauges:
 *
 * <pre>{@code
 * PgQueueMetrics metrics = PgQueueMetrics.builder(registry).build();
 * JobQueue queue = JobQueue.builder(dataSource)
 *     .enqueueInterceptor(metrics.enqueueInterceptor())      // pgqueue.jobs.enqueued, .deduplicated
 *     .build();
 * Worker worker = Worker.builder(queue)
 *     .listener(metrics.jobListener())                       // pgqueue.jobs.processed, ... timers
 *     .handle(SEND_EMAIL, handler)
 *     .build();
 * metrics.workerGauges(worker).bindTo(registry);             // pgqueue.worker.*
 * QueueGauges gauges = metrics.queueGauges(queue, Duration.ofSeconds(30));  // opt-in, one process
 * gauges.bindTo(registry);                                   // pgqueue.queue.*
 * ...
 * gauges.close();
 * }</pre>
 *
 * <p>Every meter is tagged with the job's {@code name} and {@code queue} where it concerns jobs,
 * {@code outcome} where an attempt ended, and the common tags given to the builder; never with a
 * job id. The names, tags and meanings are listed in {@code docs/observability.md}.
 *
 * <p>The hooks never throw and never block on anything but the registry: a registry or a meter
 * filter that throws is logged (at most once a minute) and the job goes on as if no metrics were
 * kept. Thread-safe.
 */
public final class PgQueueMetrics {

  static final String ENQUEUED = "pgqueue.jobs.enqueued";
  static final String DEDUPLICATED = "pgqueue.jobs.deduplicated";
  static final String PROCESSED = "pgqueue.jobs.processed";
  static final String RESCUED = "pgqueue.jobs.rescued";
  static final String DURATION = "pgqueue.jobs.duration";
  static final String PICKUP_DELAY = "pgqueue.jobs.pickup.delay";

  private static final Logger log = LoggerFactory.getLogger(PgQueueMetrics.class);

  private final MeterRegistry registry;
  private final Tags tags;
  private final FailureLog failures = new FailureLog(log);
  /** Meters per (event kind, job name, queue), so an event costs a map lookup, not a registration. */
  private final ConcurrentMap<Key, Meters> meters = new ConcurrentHashMap<>();
  private final ConcurrentMap<Key, Counter> enqueued = new ConcurrentHashMap<>();
  private final ConcurrentMap<Key, Counter> deduplicated = new ConcurrentHashMap<>();
  private final JobListener listener = this::onEvent;
  private final EnqueueInterceptor interceptor = new EnqueueInterceptor() {
    @Override
    public void beforeEnqueue(List<Job> jobs) {}

    @Override
    public void afterEnqueue(List<Job> jobs, List<EnqueueResult> results, Throwable failure) {
      PgQueueMetrics.this.afterEnqueue(jobs, results);
    }
  };

  private PgQueueMetrics(Builder b) {
    this.registry = b.registry;
    this.tags = b.tags;
  }

  /**
   * A builder for metrics recorded in {@code registry}.
   *
   * @param registry where counters and timers are registered
   * @return the builder
   * @throws NullPointerException if {@code registry} is null
   */
  public static Builder builder(MeterRegistry registry) {
    return new Builder(Objects.requireNonNull(registry, "registry"));
  }

  /**
   * The listener to register with {@link Worker.Builder#listener}: counts each attempt's outcome
   * ({@code pgqueue.jobs.processed}), times the handler ({@code pgqueue.jobs.duration}) and the
   * pickup delay ({@code pgqueue.jobs.pickup.delay}), and counts rescues ({@code
   * pgqueue.jobs.rescued}). Always the same instance.
   *
   * @return the listener
   */
  public JobListener jobListener() {
    return listener;
  }

  /**
   * The interceptor to register with {@link JobQueue.Builder#enqueueInterceptor}: counts, once
   * each enqueue call's write returned, the jobs it wrote ({@code pgqueue.jobs.enqueued}) and the
   * jobs that wrote nothing because they duplicated a waiting or running job with the same unique
   * key ({@code pgqueue.jobs.deduplicated}). A call whose write failed counts nothing. With the
   * caller's connection or a joined transaction the count is taken before the caller commits, so
   * a job whose transaction is then rolled back is counted; the number of jobs waiting is what
   * {@link #queueGauges} reports. Always the same instance.
   *
   * @return the interceptor
   */
  public EnqueueInterceptor enqueueInterceptor() {
    return interceptor;
  }

  /**
   * Gauges of {@code worker}'s own state ({@code pgqueue.worker.*}): per queue its slots, busy slots
   * and buffered jobs; its abandoned threads, whether LISTEN works and whether it is healthy. Read
   * from the worker on each scrape, without the database. The gauges hold the worker weakly. One
   * worker per registry, or distinguish them with {@link Builder#tags}: a second worker's gauges
   * with the same tags are ignored by the registry.
   *
   * @param worker the worker
   * @return a binder to bind to a registry (this one or another)
   * @throws NullPointerException if {@code worker} is null
   */
  public MeterBinder workerGauges(Worker worker) {
    return new WorkerGauges(Objects.requireNonNull(worker, "worker"), tags);
  }

  /**
   * Gauges of the jobs in the database ({@code pgqueue.queue.*}): per queue, due, scheduled and
   * running jobs and the age of the oldest due job. They are fleet-wide numbers, the same from
   * every process: register them in one process (or one role) only, or sum them with care. One
   * statement ({@link JobQueue#queueDepths()}) is run per {@code interval} on a daemon thread
   * started by the first {@link QueueGauges#bindTo}; scrapes read its cached result and never touch
   * the database. Close the returned gauges to stop the thread.
   *
   * @param queue the queue to read from
   * @param interval how often to read; between 1 second and 1 hour (30 seconds suits most)
   * @return the gauges, not yet bound
   * @throws NullPointerException if an argument is null
   * @throws IllegalArgumentException if the interval is out of range
   */
  public QueueGauges queueGauges(JobQueue queue, Duration interval) {
    return new QueueGauges(Objects.requireNonNull(queue, "queue"), QueueGauges.checkInterval(interval), tags);
  }

  // ---- the hooks ------------------------------------------------------------------------------

  private void onEvent(JobEvent e) {
    try {
      switch (e.kind()) {
        case STARTED -> {
          Duration delay = e.pickupDelay();
          if (delay != null) {
            meters(e).timer.record(delay.toNanos(), TimeUnit.NANOSECONDS);
          }
        }
        case RESCUED -> meters(e).counter.increment();
        default -> {
          Meters m = meters(e);
          m.counter.increment();
          m.timer.record(e.duration().toNanos(), TimeUnit.NANOSECONDS);
        }
      }
    } catch (Throwable t) {
      failures.failed("recording a job event in the meter registry", t);
    }
  }

  private void afterEnqueue(List<EnqueueInterceptor.Job> jobs, List<EnqueueResult> results) {
    if (results == null) {
      return; // the write failed: nothing was enqueued
    }
    try {
      for (int i = 0; i < jobs.size(); i++) {
        EnqueueInterceptor.Job job = jobs.get(i);
        boolean duplicate = results.get(i).duplicate();
        (duplicate ? deduplicated : enqueued).computeIfAbsent(new Key(null, job.name(), job.queue()), k ->
            Counter.builder(duplicate ? DEDUPLICATED : ENQUEUED)
                .description(duplicate
                    ? "Jobs not written because they duplicated a waiting or running job (unique key)"
                    : "Jobs written by an enqueue call (counted after the write, before a caller's commit)")
                .tags(tags).tag("name", k.name).tag("queue", k.queue)
                .register(registry))
            .increment();
      }
    } catch (Throwable t) {
      // pgqueue would log it too, but metrics keep their own rate-limited failure log.
      failures.failed("counting enqueued jobs in the meter registry", t);
    }
  }

  private Meters meters(JobEvent e) {
    return meters.computeIfAbsent(new Key(e.kind(), e.name(), e.queue()), this::register);
  }

  private Meters register(Key k) {
    Tags t = tags.and("name", k.name, "queue", k.queue);
    return switch (k.kind) {
      case STARTED -> new Meters(null,
          Timer.builder(PICKUP_DELAY)
              .description("From when an attempt was due to when it started, by the database clock")
              .tags(t).register(registry));
      case RESCUED -> new Meters(
          Counter.builder(RESCUED)
              .description("Jobs this process's rescuer took back from a worker that stopped heartbeating")
              .tags(t).register(registry),
          null);
      default -> {
        Tags to = t.and("outcome", outcome(k.kind));
        yield new Meters(
            Counter.builder(PROCESSED)
                .description("Attempts that ended, by outcome")
                .tags(to).register(registry),
            Timer.builder(DURATION)
                .description("How long handlers ran, by outcome")
                .tags(to).register(registry));
      }
    };
  }

  /**
   * The outcome tag of an attempt that ended. A kind added to core later is counted under its own
   * name in lower case rather than lost.
   */
  static String outcome(JobEvent.Kind kind) {
    return switch (kind) {
      case RETRIED -> "failed";
      default -> kind.name().toLowerCase(java.util.Locale.ROOT);
    };
  }

  private record Key(JobEvent.Kind kind, String name, String queue) {}

  private record Meters(Counter counter, Timer timer) {}

  /**
   * Configures {@link PgQueueMetrics}. Each setter validates its argument at once. Not
   * thread-safe.
   */
  public static final class Builder {
    private final MeterRegistry registry;
    private Tags tags = Tags.empty();

    private Builder(MeterRegistry registry) {
      this.registry = registry;
    }

    /**
     * Tags added to every meter, e.g. to tell apart two workers or two schemas in one registry.
     * Defaults to none. The keys {@code name}, {@code queue} and {@code outcome} are pgqueue's.
     *
     * @param tags the tags
     * @return this builder
     * @throws NullPointerException if {@code tags} or one of them is null
     * @throws IllegalArgumentException if a tag uses one of pgqueue's keys
     */
    public Builder tags(Iterable<Tag> tags) {
      Objects.requireNonNull(tags, "tags");
      Tags t = Tags.empty();
      for (Tag tag : tags) {
        Objects.requireNonNull(tag, "tags: a tag is null");
        String key = tag.getKey();
        if (key.equals("name") || key.equals("queue") || key.equals("outcome")) {
          throw new IllegalArgumentException(
              "tags: the key \"" + key + "\" is set by pgqueue on its meters; choose another, got: " + tag);
        }
        t = t.and(tag);
      }
      this.tags = t;
      return this;
    }

    /**
     * Builds the metrics. Registers nothing yet: meters appear as jobs are enqueued and run.
     *
     * @return the metrics
     */
    public PgQueueMetrics build() {
      return new PgQueueMetrics(this);
    }
  }
}
