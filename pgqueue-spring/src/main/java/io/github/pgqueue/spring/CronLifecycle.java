package io.github.pgqueue.spring;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.cron.CronJob;
import io.github.pgqueue.cron.CronScheduler;
import java.util.Map;
import java.util.Objects;
import javax.sql.DataSource;
import org.springframework.context.SmartLifecycle;

/**
 * Starts a {@link CronScheduler} when the application context has started and closes it when the
 * context stops (within {@link CronScheduler#CLOSE_TIMEOUT}), before the connection pool is
 * destroyed. Same phase as {@link WorkerLifecycle}. A closed scheduler cannot start again.
 */
public final class CronLifecycle implements SmartLifecycle {

  private final CronScheduler scheduler;
  private volatile boolean running;

  /**
   * A lifecycle for {@code scheduler}.
   *
   * @param scheduler a scheduler not yet started
   */
  public CronLifecycle(CronScheduler scheduler) {
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
  }

  /**
   * A lifecycle for a scheduler (not yet started) that fires every {@link CronJob} bean.
   *
   * @param queue the queue the firings are enqueued on
   * @param dataSource the DataSource of the schedules' table (the queue's)
   * @param cronJobs the cron job beans by bean name
   * @return the lifecycle
   * @throws IllegalStateException if there is no cron job bean
   * @throws IllegalArgumentException if two cron jobs share a name (the scheduler's check)
   */
  public static CronLifecycle of(JobQueue queue, DataSource dataSource, Map<String, ? extends CronJob<?>> cronJobs) {
    if (cronJobs.isEmpty()) {
      throw new IllegalStateException("pgqueue.cron.enabled is true but the application has no "
          + "CronJob bean: the scheduler would have nothing to fire");
    }
    CronScheduler.Builder builder = CronScheduler.builder(queue, dataSource);
    cronJobs.values().forEach(builder::add);
    return new CronLifecycle(builder.build());
  }

  /**
   * The scheduler.
   *
   * @return the scheduler
   */
  public CronScheduler scheduler() {
    return scheduler;
  }

  /** Starts the scheduler. */
  @Override
  public void start() {
    scheduler.start();
    running = true;
  }

  /** Closes the scheduler; returns when it is closed. */
  @Override
  public void stop() {
    try {
      scheduler.close();
    } finally {
      running = false;
    }
  }

  /**
   * Whether the scheduler was started and not yet stopped.
   *
   * @return true while running
   */
  @Override
  public boolean isRunning() {
    return running;
  }

  /**
   * {@link WorkerLifecycle#PHASE}.
   *
   * @return the phase
   */
  @Override
  public int getPhase() {
    return WorkerLifecycle.PHASE;
  }
}
