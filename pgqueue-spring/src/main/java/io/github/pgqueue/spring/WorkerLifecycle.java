package io.github.pgqueue.spring;

import io.github.pgqueue.Worker;
import java.util.Objects;
import org.springframework.context.SmartLifecycle;

/**
 * Starts a {@link Worker} when the application context has started and closes it when the context
 * stops, before any bean is destroyed: the worker stops claiming, lets running jobs finish within
 * its shutdown timeout, writes their outcomes and deregisters while the connection pool is still
 * open. The stop runs on a thread of its own, so the worker drains in parallel with other
 * lifecycles of its phase (a web server's graceful shutdown) within Spring's time per phase.
 *
 * <p>A closed worker cannot start again: starting the context again after a stop fails.
 */
public final class WorkerLifecycle implements SmartLifecycle {

  /**
   * The phase of the worker and cron lifecycles: the phase of Spring Boot's graceful web server
   * shutdown, so in-flight requests and jobs drain together, and both stop long before beans
   * (the pool) are destroyed.
   */
  public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 1024;

  private final Worker worker;
  private volatile boolean running;

  /**
   * A lifecycle for {@code worker}.
   *
   * @param worker a worker not yet started
   */
  public WorkerLifecycle(Worker worker) {
    this.worker = Objects.requireNonNull(worker, "worker");
  }

  /**
   * The worker.
   *
   * @return the worker
   */
  public Worker worker() {
    return worker;
  }

  /** Starts the worker. */
  @Override
  public void start() {
    worker.start();
    running = true;
  }

  /** Closes the worker gracefully; returns when it is closed. */
  @Override
  public void stop() {
    try {
      worker.close();
    } finally {
      running = false;
    }
  }

  /**
   * Closes the worker on a thread of its own and runs {@code callback} when it is closed.
   *
   * @param callback Spring's completion callback
   */
  @Override
  public void stop(Runnable callback) {
    Thread t = new Thread(() -> {
      try {
        stop();
      } finally {
        callback.run();
      }
    }, "pgqueue-worker-stop");
    t.start();
  }

  /**
   * Whether the worker was started and not yet stopped.
   *
   * @return true while running
   */
  @Override
  public boolean isRunning() {
    return running;
  }

  /**
   * {@link #PHASE}.
   *
   * @return the phase
   */
  @Override
  public int getPhase() {
    return PHASE;
  }
}
