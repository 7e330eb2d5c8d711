package io.github.pgqueue;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * A worker process for {@link TransactionalCompletionProcessTest}: {@code TransactionalWorkerProcess
 * <jdbc url with credentials> <heartbeat ms> <stale ms>}. Runs {@link #INSERT} jobs with a
 * transactional handler that writes one row in {@code effects}, prints {@code INSERTED n attempt
 * a}, sleeps, and then returns or throws as the payload says. Prints every outcome as {@code EVENT
 * kind n attempt}, and READY once registered; runs until killed.
 */
public final class TransactionalWorkerProcess {
  private TransactionalWorkerProcess() {}

  /** One job: which row to write, how long to hold the transaction open, and whether to throw. */
  public record Insert(int n, long sleepMillis, boolean fail) {}

  static final JobType<Insert> INSERT = JobType.of("tx-insert", Insert.class);

  /** The application_name of this process's sessions, to find them in pg_stat_activity. */
  static final String APPLICATION_NAME = "pgqueue-tx-worker-process";

  /** The handler's effects; no unique key, so every committed attempt shows as a row. */
  static final String CREATE_EFFECTS =
      "CREATE TABLE IF NOT EXISTS effects (n int NOT NULL, attempt int NOT NULL, pid bigint NOT NULL)";

  /** The handler both this process and the test's own worker run. */
  static TransactionalJobHandler<Insert> handler(long pid) {
    return (insert, ctx, connection) -> {
      try (PreparedStatement ps = connection.prepareStatement("INSERT INTO effects (n, attempt, pid) VALUES (?, ?, ?)")) {
        ps.setInt(1, insert.n());
        ps.setInt(2, ctx.attempt());
        ps.setLong(3, pid);
        ps.executeUpdate();
      }
      System.out.println("INSERTED " + insert.n() + " attempt " + ctx.attempt());
      Thread.sleep(insert.sleepMillis());
      if (insert.fail()) {
        throw new IllegalStateException("fails after its insert (test)");
      }
    };
  }

  public static void main(String[] args) throws Exception {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(args[0]);
    config.setMaximumPoolSize(8);
    config.addDataSourceProperty("ApplicationName", APPLICATION_NAME);
    HikariDataSource ds = new HikariDataSource(config);
    Worker worker =
        Worker.builder(ds)
            .heartbeatInterval(Duration.ofMillis(Long.parseLong(args[1])))
            .staleAfter(Duration.ofMillis(Long.parseLong(args[2])))
            .pollInterval(Duration.ofMillis(100))
            // Long enough that a resumed attempt ends by returning, not by its own timeout.
            .jobTimeout(Duration.ofMinutes(5))
            .backoff(Backoff.fixed(Duration.ofMillis(50)))
            .listener(e -> System.out.println("EVENT " + e.kind() + " " + e.id().value() + " attempt " + e.attempt()))
            .handleInTransaction(INSERT, handler(ProcessHandle.current().pid()))
            .build();
    worker.start();
    while (worker.workerId() == 0) {
      Thread.sleep(10);
    }
    System.out.println("READY worker " + worker.workerId());
    new CountDownLatch(1).await(); // until killed
  }
}
