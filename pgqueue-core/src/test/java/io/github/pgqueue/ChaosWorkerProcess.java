package io.github.pgqueue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * A worker process for the chaos tests, set up as a production worker would be: a HikariCP pool
 * for claims, outcomes and the handlers' own writes, and a dedicated physical connection for
 * LISTEN and the heartbeat. {@code ChaosWorkerProcess <jdbc url with credentials> <heartbeat ms>
 * <stale ms> <concurrency>}. Prints READY once registered; runs until killed.
 *
 * <p>The URL should carry an {@code ApplicationName} so the test can find this process's
 * connections in {@code pg_stat_activity} and terminate them.
 */
public final class ChaosWorkerProcess {
  private ChaosWorkerProcess() {}

  public static void main(String[] args) throws Exception {
    String url = args[0];
    int concurrency = Integer.parseInt(args[3]);
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url);
    config.setMaximumPoolSize(concurrency + 4);
    // Fail fast while the database is away, as docs/worker.md recommends.
    config.setConnectionTimeout(2_000);
    config.setValidationTimeout(1_000);
    config.setPoolName("chaos-" + ProcessHandle.current().pid());
    HikariDataSource ds = new HikariDataSource(config);
    String direct = url + (url.contains("?") ? "&" : "?") + "tcpKeepAlive=true";
    Worker worker =
        Worker.builder(ds)
            .heartbeatInterval(Duration.ofMillis(Long.parseLong(args[1])))
            .staleAfter(Duration.ofMillis(Long.parseLong(args[2])))
            .queue("default", concurrency)
            .pollInterval(Duration.ofMillis(100))
            .backoff(Backoff.fixed(Duration.ofMillis(50)))
            .jobTimeout(Duration.ofSeconds(20))
            .dedicatedConnection(() -> DriverManager.getConnection(direct))
            .handle(LedgerJobs.WORK, LedgerJobs.handler(ds))
            .build();
    worker.start();
    while (worker.workerId() == 0) {
      Thread.sleep(10);
    }
    System.out.println("READY worker " + worker.workerId());
    new CountDownLatch(1).await(); // until killed
  }
}
