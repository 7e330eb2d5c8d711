package io.github.pgqueue.spring;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.Worker;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * Builds pgqueue's parts from {@link PgQueueProperties} and beans, the same way for every Spring
 * setup (the Boot 3 and Boot 4 starters call these, and so can a plain Spring configuration).
 */
public final class SpringPgQueue {

  private SpringPgQueue() {}

  /**
   * A queue on {@code dataSource} whose enqueues join the caller's Spring transaction ({@link
   * SpringConnectionSource}), in the configured schema, after applying pgqueue's migrations when
   * {@code pgqueue.migrate} is true.
   *
   * @param dataSource the application's DataSource (the one its transaction manager manages)
   * @param properties the settings
   * @param customizers applied in order, after the settings
   * @return the queue
   * @throws io.github.pgqueue.PgQueueException if migrating fails
   * @throws IllegalArgumentException if the schema is not a valid identifier
   */
  public static JobQueue jobQueue(
      DataSource dataSource, PgQueueProperties properties, List<? extends JobQueueCustomizer> customizers) {
    Objects.requireNonNull(dataSource, "dataSource");
    if (properties.isMigrate()) {
      Migrator.create(dataSource, properties.getSchema()).migrate();
    }
    JobQueue.Builder builder = JobQueue.builder(dataSource)
        .schema(properties.getSchema())
        .connectionSource(new SpringConnectionSource(dataSource));
    customizers.forEach(c -> c.customize(builder));
    return builder.build();
  }

  /**
   * A worker (not started) for {@code queue}, running every handler bean, with queues, concurrency
   * and timings from the settings. Start and stop it with a {@link WorkerLifecycle}.
   *
   * @param queue the queue whose jobs it runs
   * @param properties the settings
   * @param handlers handler beans by bean name
   * @param customizers applied in order, after handlers and settings
   * @return the worker
   * @throws IllegalStateException if there is no handler bean, or two handle the same job name
   * @throws IllegalArgumentException naming the property if a setting is refused by the worker
   */
  public static Worker worker(
      JobQueue queue,
      PgQueueProperties properties,
      Map<String, ? extends JobHandlerBean<?>> handlers,
      List<? extends WorkerCustomizer> customizers) {
    PgQueueProperties.WorkerSettings w = properties.getWorker();
    if (handlers.isEmpty()) {
      throw new IllegalStateException("pgqueue.worker.enabled is true but the application has no "
          + JobHandlerBean.class.getSimpleName() + " bean: the worker would have nothing to run");
    }
    Worker.Builder builder = Worker.builder(queue)
        .pollInterval(w.getPollInterval())
        .heartbeatInterval(w.getHeartbeatInterval())
        .jobTimeout(w.getJobTimeout())
        .timeoutGrace(w.getTimeoutGrace())
        .shutdownTimeout(w.getShutdownTimeout())
        .shutdownHook(false); // the application context stops the worker
    try {
      builder.staleAfter(w.getStaleAfter());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("pgqueue.worker.stale-after (" + w.getStaleAfter() + ") is refused: "
          + e.getMessage(), e);
    }
    w.getQueues().forEach((name, concurrency) -> {
      try {
        builder.queue(name, concurrency);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("pgqueue.worker.queues." + name + "=" + concurrency
            + " is refused: " + e.getMessage(), e);
      }
    });
    Map<String, String> beanByJob = new LinkedHashMap<>();
    handlers.forEach((beanName, handler) -> {
      JobType<?> type = handler.jobType();
      if (type == null) {
        throw new IllegalStateException("handler bean '" + beanName + "' returned no job type from jobType()");
      }
      String previous = beanByJob.putIfAbsent(type.name(), beanName);
      if (previous != null) {
        throw new IllegalStateException("job \"" + type.name() + "\" has two handler beans, '" + previous
            + "' and '" + beanName + "': a job name has exactly one handler");
      }
      register(builder, handler);
    });
    customizers.forEach(c -> c.customize(builder));
    return builder.build();
  }

  private static <T> void register(Worker.Builder builder, JobHandlerBean<T> handler) {
    builder.handle(handler.jobType(), handler, handler.options());
  }

  /**
   * Fails when the worker's shutdown timeout plus its timeout grace exceeds the time Spring gives
   * a lifecycle phase to stop: Spring would then go on to close the connection pool while jobs are
   * still finishing, and their outcomes could not be written.
   *
   * @param properties the settings
   * @param phaseTimeout Spring's time per shutdown phase ({@code
   *     spring.lifecycle.timeout-per-shutdown-phase} in Spring Boot)
   * @param phaseTimeoutProperty the name of the setting, for the message
   * @throws IllegalStateException naming the three settings and their values if it does not fit
   */
  public static void checkShutdownFits(PgQueueProperties properties, Duration phaseTimeout, String phaseTimeoutProperty) {
    Duration timeout = properties.getWorker().getShutdownTimeout();
    Duration grace = properties.getWorker().getTimeoutGrace();
    Duration needed = timeout.plus(grace);
    if (needed.compareTo(phaseTimeout) > 0) {
      throw new IllegalStateException("pgqueue.worker.shutdown-timeout (" + timeout
          + ") plus pgqueue.worker.timeout-grace (" + grace + ") is " + needed + ", more than "
          + phaseTimeoutProperty + " (" + phaseTimeout + "): the application would close the "
          + "connection pool while jobs are still finishing. Lower pgqueue.worker.shutdown-timeout "
          + "or raise " + phaseTimeoutProperty + ".");
    }
  }
}
