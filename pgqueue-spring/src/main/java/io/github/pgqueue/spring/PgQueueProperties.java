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
}
