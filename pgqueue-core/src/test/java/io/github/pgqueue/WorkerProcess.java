package io.github.pgqueue;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A worker process for the process tests: {@code WorkerProcess <jdbc url with credentials>
 * <heartbeat ms> <stale ms> <concurrency>}. Prints READY once registered, and stops gracefully on
 * SIGTERM (through the worker's shutdown hook).
 */
public final class WorkerProcess {
  private WorkerProcess() {}

  public static void main(String[] args) throws Exception {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(args[0]);
    Worker worker =
        Worker.builder(ds)
            .heartbeatInterval(Duration.ofMillis(Long.parseLong(args[1])))
            .staleAfter(Duration.ofMillis(Long.parseLong(args[2])))
            .queue("default", Integer.parseInt(args[3]))
            .pollInterval(Duration.ofMillis(100))
            .backoff(Backoff.fixed(Duration.ofMillis(50)))
            .shutdownHook(true)
            .handle(LedgerJobs.WORK, LedgerJobs.handler(ds))
            .build();
    worker.start();
    while (worker.workerId() == 0) {
      Thread.sleep(10);
    }
    System.out.println("READY worker " + worker.workerId());
    new CountDownLatch(1).await(); // until killed or terminated
  }
}
