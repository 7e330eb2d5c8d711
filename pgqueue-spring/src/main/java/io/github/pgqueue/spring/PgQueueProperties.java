package io.github.pgqueue.spring;

import io.github.pgqueue.Migrator;
import io.github.pgqueue.Worker;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The {@code pgqueue.*} settings, as a plain JavaBean that the Spring Boot starters bind (under
 * the prefix {@code pgqueue}) and that plain Spring applications may fill themselves. Every setter
 * checks its value and throws an {@link IllegalArgumentException} naming the property and the
 * value, so a bad setting fails start-up with a message that says which one.
 *
 * <p>Defaults are the core library's, except {@code pgqueue.worker.shutdown-timeout}, which is 20
 * seconds (not 30) so that with the 5-second grace it fits Spring Boot's default shutdown phase of
 * 30 seconds.
 */
public class PgQueueProperties {

  /** The default of {@code pgqueue.worker.shutdown-timeout}. */
  public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(20);
  /** The default of {@code pgqueue.health.stats-interval}. */
  public static final Duration DEFAULT_STATS_INTERVAL = Duration.ofSeconds(30);

  private String schema = Migrator.DEFAULT_SCHEMA;
  private boolean migrate;
  private final WorkerSettings worker = new WorkerSettings();
  private final CronSettings cron = new CronSettings();
  private final HealthSettings health = new HealthSettings();
  private final MetricsSettings metrics = new MetricsSettings();
  private final TracingSettings tracing = new TracingSettings();

  /** Creates the defaults. */
  public PgQueueProperties() {}

  /**
   * {@code pgqueue.schema}: the schema of pgqueue's tables.
   *
   * @return the schema, {@value Migrator#DEFAULT_SCHEMA} by default
   */
  public String getSchema() {
    return schema;
  }

  /**
   * Sets {@code pgqueue.schema}. Checked as an identifier when the queue is built.
   *
   * @param schema the schema
   * @throws IllegalArgumentException if blank
   */
  public void setSchema(String schema) {
    if (schema == null || schema.isBlank()) {
      throw new IllegalArgumentException("pgqueue.schema must not be blank, got \"" + schema + "\"");
    }
    this.schema = schema;
  }

  /**
   * {@code pgqueue.migrate}: whether to apply pgqueue's migrations when the queue bean is built.
   *
   * @return true to migrate at start-up; false by default
   */
  public boolean isMigrate() {
    return migrate;
  }

  /**
   * Sets {@code pgqueue.migrate}.
   *
   * @param migrate true to migrate at start-up
   */
  public void setMigrate(boolean migrate) {
    this.migrate = migrate;
  }

  /**
   * {@code pgqueue.worker.*}.
   *
   * @return the worker settings
   */
  public WorkerSettings getWorker() {
    return worker;
  }

  /**
   * {@code pgqueue.cron.*}.
   *
   * @return the cron settings
   */
  public CronSettings getCron() {
    return cron;
  }

  /**
   * {@code pgqueue.health.*}.
   *
   * @return the health settings
   */
  public HealthSettings getHealth() {
    return health;
  }

  /**
   * {@code pgqueue.metrics.*}.
   *
   * @return the metrics settings
   */
  public MetricsSettings getMetrics() {
    return metrics;
  }

  /**
   * {@code pgqueue.tracing.*}.
   *
   * @return the tracing settings
   */
  public TracingSettings getTracing() {
    return tracing;
  }

  static Duration positive(String property, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(property + " must be positive, got " + value);
    }
    return value;
  }

  /** {@code pgqueue.worker.*}: whether this process runs a worker, and how. */
  public static class WorkerSettings {
    private boolean enabled;
    private Map<String, Integer> queues = new LinkedHashMap<>();
    private Duration pollInterval = Worker.DEFAULT_POLL_INTERVAL;
    private Duration heartbeatInterval = Worker.DEFAULT_HEARTBEAT_INTERVAL;
    private Duration staleAfter = Worker.DEFAULT_STALE_AFTER;
    private Duration jobTimeout = Worker.DEFAULT_JOB_TIMEOUT;
    private Duration timeoutGrace = Worker.DEFAULT_TIMEOUT_GRACE;
    private Duration shutdownTimeout = DEFAULT_SHUTDOWN_TIMEOUT;

    /** Creates the defaults. */
    public WorkerSettings() {}

    /**
     * {@code pgqueue.worker.enabled}: whether this process runs a worker.
     *
     * @return false by default
     */
    public boolean isEnabled() {
      return enabled;
    }

    /**
     * Sets {@code pgqueue.worker.enabled}.
     *
     * @param enabled true to run a worker
     */
    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }

    /**
     * {@code pgqueue.worker.queues.<name>}: the queues this worker claims from, each with its
     * concurrency. Empty means the core default: queue {@code default} at {@value
     * Worker#DEFAULT_CONCURRENCY}.
     *
     * @return queue name to concurrency, in the order given
     */
    public Map<String, Integer> getQueues() {
      return queues;
    }

    /**
     * Sets {@code pgqueue.worker.queues}.
     *
     * @param queues queue name to concurrency, each between 1 and 1000
     * @throws IllegalArgumentException naming the queue and the value if a concurrency is out of range
     */
    public void setQueues(Map<String, Integer> queues) {
      Map<String, Integer> copy = new LinkedHashMap<>();
      queues.forEach((name, concurrency) -> {
        if (concurrency == null || concurrency < 1 || concurrency > 1000) {
          throw new IllegalArgumentException(
              "pgqueue.worker.queues." + name + " must be between 1 and 1000, got " + concurrency);
        }
        copy.put(Objects.requireNonNull(name, "queue name"), concurrency);
      });
      this.queues = copy;
    }

    /**
     * {@code pgqueue.worker.poll-interval}: how often a queue is polled when no notification came.
     *
     * @return the interval
     */
    public Duration getPollInterval() {
      return pollInterval;
    }

    /**
     * Sets {@code pgqueue.worker.poll-interval}.
     *
     * @param pollInterval positive
     * @throws IllegalArgumentException if not positive
     */
    public void setPollInterval(Duration pollInterval) {
      this.pollInterval = positive("pgqueue.worker.poll-interval", pollInterval);
    }

    /**
     * {@code pgqueue.worker.heartbeat-interval}: how often the worker proves it is alive.
     *
     * @return the interval
     */
    public Duration getHeartbeatInterval() {
      return heartbeatInterval;
    }

    /**
     * Sets {@code pgqueue.worker.heartbeat-interval}.
     *
     * @param heartbeatInterval positive
     * @throws IllegalArgumentException if not positive
     */
    public void setHeartbeatInterval(Duration heartbeatInterval) {
      this.heartbeatInterval = positive("pgqueue.worker.heartbeat-interval", heartbeatInterval);
    }

    /**
     * {@code pgqueue.worker.stale-after}: after how long without a heartbeat peers judge this
     * worker dead and rescue its jobs.
     *
     * @return the threshold
     */
    public Duration getStaleAfter() {
      return staleAfter;
    }

    /**
     * Sets {@code pgqueue.worker.stale-after}.
     *
     * @param staleAfter positive (the worker checks it against the heartbeat interval when built)
     * @throws IllegalArgumentException if not positive
     */
    public void setStaleAfter(Duration staleAfter) {
      this.staleAfter = positive("pgqueue.worker.stale-after", staleAfter);
    }

    /**
     * {@code pgqueue.worker.job-timeout}: the default time a handler may run.
     *
     * @return the timeout
     */
    public Duration getJobTimeout() {
      return jobTimeout;
    }

    /**
     * Sets {@code pgqueue.worker.job-timeout}.
     *
     * @param jobTimeout positive
     * @throws IllegalArgumentException if not positive
     */
    public void setJobTimeout(Duration jobTimeout) {
      this.jobTimeout = positive("pgqueue.worker.job-timeout", jobTimeout);
    }

    /**
     * {@code pgqueue.worker.timeout-grace}: how long an interrupted handler has to return before
     * it is abandoned.
     *
     * @return the grace
     */
    public Duration getTimeoutGrace() {
      return timeoutGrace;
    }

    /**
     * Sets {@code pgqueue.worker.timeout-grace}.
     *
     * @param timeoutGrace positive
     * @throws IllegalArgumentException if not positive
     */
    public void setTimeoutGrace(Duration timeoutGrace) {
      this.timeoutGrace = positive("pgqueue.worker.timeout-grace", timeoutGrace);
    }

    /**
     * {@code pgqueue.worker.shutdown-timeout}: how long running jobs may finish when the
     * application stops, before they are interrupted and handed back.
     *
     * @return the timeout, {@link PgQueueProperties#DEFAULT_SHUTDOWN_TIMEOUT} by default
     */
    public Duration getShutdownTimeout() {
      return shutdownTimeout;
    }

    /**
     * Sets {@code pgqueue.worker.shutdown-timeout}.
     *
     * @param shutdownTimeout zero or positive
     * @throws IllegalArgumentException if negative
     */
    public void setShutdownTimeout(Duration shutdownTimeout) {
      if (shutdownTimeout == null || shutdownTimeout.isNegative()) {
        throw new IllegalArgumentException(
            "pgqueue.worker.shutdown-timeout must be zero or positive, got " + shutdownTimeout);
      }
      this.shutdownTimeout = shutdownTimeout;
    }
  }

  /** {@code pgqueue.cron.*}: whether this process runs the cron scheduler. */
  public static class CronSettings {
    private boolean enabled;

    /** Creates the defaults. */
    public CronSettings() {}

    /**
     * {@code pgqueue.cron.enabled}: whether this process runs the cron scheduler, with the {@code
     * CronJob} beans as its schedules.
     *
     * @return false by default
     */
    public boolean isEnabled() {
      return enabled;
    }

    /**
     * Sets {@code pgqueue.cron.enabled}.
     *
     * @param enabled true to run cron
     */
    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }
  }

  /** {@code pgqueue.health.*}: what the health indicator judges. */
  public static class HealthSettings {
    private Duration maxLag;
    private Duration statsInterval = DEFAULT_STATS_INTERVAL;

    /** Creates the defaults. */
    public HealthSettings() {}

    /**
     * {@code pgqueue.health.max-lag}: the health turns DOWN when a queue's oldest due job has
     * waited longer than this. Unset (the default): the lag is reported, not judged.
     *
     * @return the threshold, or null
     */
    public Duration getMaxLag() {
      return maxLag;
    }

    /**
     * Sets {@code pgqueue.health.max-lag}.
     *
     * @param maxLag positive, or null to report only
     * @throws IllegalArgumentException if zero or negative
     */
    public void setMaxLag(Duration maxLag) {
      this.maxLag = maxLag == null ? null : positive("pgqueue.health.max-lag", maxLag);
    }

    /**
     * {@code pgqueue.health.stats-interval}: how long a read of the queue statistics (for the lag)
     * is reused, so frequent probes do not each scan the jobs table.
     *
     * @return the interval
     */
    public Duration getStatsInterval() {
      return statsInterval;
    }

    /**
     * Sets {@code pgqueue.health.stats-interval}.
     *
     * @param statsInterval positive
     * @throws IllegalArgumentException if not positive
     */
    public void setStatsInterval(Duration statsInterval) {
      this.statsInterval = positive("pgqueue.health.stats-interval", statsInterval);
    }
  }

  /**
   * {@code pgqueue.metrics.*}: the Micrometer integration, used when pgqueue-micrometer is on the
   * class path and the application has a {@code MeterRegistry}.
   */
  public static class MetricsSettings {
    private boolean enabled = true;
    private final QueueGaugeSettings queueGauges = new QueueGaugeSettings();

    /** Creates the defaults. */
    public MetricsSettings() {}

    /**
     * {@code pgqueue.metrics.enabled}: whether to record pgqueue's metrics.
     *
     * @return true by default
     */
    public boolean isEnabled() {
      return enabled;
    }

    /**
     * Sets {@code pgqueue.metrics.enabled}.
     *
     * @param enabled false to record none
     */
    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }

    /**
     * {@code pgqueue.metrics.queue-gauges.*}.
     *
     * @return the fleet-wide queue gauges' settings
     */
    public QueueGaugeSettings getQueueGauges() {
      return queueGauges;
    }
  }

  /**
   * {@code pgqueue.metrics.queue-gauges.*}: the fleet-wide {@code pgqueue.queue.*} gauges. Every
   * process would report the same numbers, and each reporting process runs a statement per
   * interval, so they are off by default: switch them on in one process (or one role).
   */
  public static class QueueGaugeSettings {
    /** The default of {@code pgqueue.metrics.queue-gauges.interval}. */
    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(30);

    private static final Duration MIN_INTERVAL = Duration.ofSeconds(1);
    private static final Duration MAX_INTERVAL = Duration.ofHours(1);

    private boolean enabled;
    private Duration interval = DEFAULT_INTERVAL;

    /** Creates the defaults. */
    public QueueGaugeSettings() {}

    /**
     * {@code pgqueue.metrics.queue-gauges.enabled}: whether this process reports the fleet-wide
     * queue gauges.
     *
     * @return false by default
     */
    public boolean isEnabled() {
      return enabled;
    }

    /**
     * Sets {@code pgqueue.metrics.queue-gauges.enabled}.
     *
     * @param enabled true in the one process (or role) that reports them
     */
    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }

    /**
     * {@code pgqueue.metrics.queue-gauges.interval}: how often the gauges' one statement runs.
     *
     * @return the interval, {@link #DEFAULT_INTERVAL} by default
     */
    public Duration getInterval() {
      return interval;
    }

    /**
     * Sets {@code pgqueue.metrics.queue-gauges.interval}.
     *
     * @param interval between 1 second and 1 hour
     * @throws IllegalArgumentException naming the property and the value if out of range
     */
    public void setInterval(Duration interval) {
      if (interval == null || interval.compareTo(MIN_INTERVAL) < 0 || interval.compareTo(MAX_INTERVAL) > 0) {
        throw new IllegalArgumentException(
            "pgqueue.metrics.queue-gauges.interval must be between 1s and 1h, got " + interval);
      }
      this.interval = interval;
    }
  }

  /**
   * {@code pgqueue.tracing.*}: the OpenTelemetry integration, used when pgqueue-opentelemetry is
   * on the class path and the application has an {@code OpenTelemetry} bean.
   */
  public static class TracingSettings {
    private boolean enabled = true;
    private boolean consumerSpanIsChild;

    /** Creates the defaults. */
    public TracingSettings() {}

    /**
     * {@code pgqueue.tracing.enabled}: whether to trace enqueues and attempts.
     *
     * @return true by default
     */
    public boolean isEnabled() {
      return enabled;
    }

    /**
     * Sets {@code pgqueue.tracing.enabled}.
     *
     * @param enabled false to trace nothing
     */
    public void setEnabled(boolean enabled) {
      this.enabled = enabled;
    }

    /**
     * {@code pgqueue.tracing.consumer-span-is-child}: whether an attempt's span is a child of the
     * enqueue's span (one trace from the request through every attempt) rather than the root of a
     * trace of its own that links to it.
     *
     * @return false by default (linked)
     */
    public boolean isConsumerSpanIsChild() {
      return consumerSpanIsChild;
    }

    /**
     * Sets {@code pgqueue.tracing.consumer-span-is-child}.
     *
     * @param consumerSpanIsChild true for one trace
     */
    public void setConsumerSpanIsChild(boolean consumerSpanIsChild) {
      this.consumerSpanIsChild = consumerSpanIsChild;
    }
  }
}
