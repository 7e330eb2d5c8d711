package io.github.pgqueue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * A worker process for the flow-control process tests: {@code FlowWorkerProcess <jdbc url with
 * credentials> <queue> <concurrency> <heartbeat ms> <stale ms>}. Runs {@link LedgerJobs#WORK} on
 * the queue and, before each attempt's {@code started} row, writes a row in {@code claims} whose
 * time is the claim's ({@code jobs.locked_at}, database clock). Prints READY once registered;
 * runs until killed.
 */
public final class FlowWorkerProcess {
  private FlowWorkerProcess() {}

  static final String CLAIMED =
      "INSERT INTO claims (n, job_id, attempt, pid, at)"
          + " SELECT ?, j.id, j.attempt, ?, j.locked_at FROM pgqueue.jobs j WHERE j.id = ?";

  /** Each attempt's claim time, beside the ledger (whose checks know only its own outcomes). */
  static final String CREATE_CLAIMS =
      "CREATE TABLE IF NOT EXISTS claims (n int NOT NULL, job_id bigint NOT NULL, attempt int NOT NULL,"
          + " pid bigint NOT NULL, at timestamptz NOT NULL)";

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String queue = args[1];
    int concurrency = Integer.parseInt(args[2]);
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(url);
    config.setMaximumPoolSize(concurrency + 4);
    HikariDataSource ds = new HikariDataSource(config);
    long pid = ProcessHandle.current().pid();
    JobHandler<LedgerJobs.Work> ledger = LedgerJobs.handler(ds);
    Worker worker =
        Worker.builder(ds)
            .heartbeatInterval(Duration.ofMillis(Long.parseLong(args[3])))
            .staleAfter(Duration.ofMillis(Long.parseLong(args[4])))
            .queue(queue, concurrency)
            .pollInterval(Duration.ofMillis(100))
            .backoff(Backoff.fixed(Duration.ofMillis(20)))
            .handle(LedgerJobs.WORK, (work, ctx) -> {
              try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(CLAIMED)) {
                ps.setInt(1, work.n());
                ps.setLong(2, pid);
                ps.setLong(3, ctx.id().value());
                ps.executeUpdate();
              }
              ledger.handle(work, ctx);
            })
            .build();
    worker.start();
    while (worker.workerId() == 0) {
      Thread.sleep(10);
    }
    System.out.println("READY worker " + worker.workerId());
    new CountDownLatch(1).await(); // until killed
  }
}
