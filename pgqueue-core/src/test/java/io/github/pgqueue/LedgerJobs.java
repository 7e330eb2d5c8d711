package io.github.pgqueue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BiPredicate;
import java.util.function.LongSupplier;
import javax.sql.DataSource;

/**
 * The job the process and chaos tests run: it records each run in a ledger table (committed on
 * its own, so the record survives whatever happens to the worker afterwards), works for a while,
 * and fails now and then if asked to.
 *
 * <p>Each attempt writes a {@code started} row when it begins and, if it gets that far, a {@code
 * succeeded} row just before the handler returns or a {@code failed} row just before it throws its
 * planned failure. Rows carry the job id and the attempt number, so a rerun of a job (at-least-once
 * delivery after a crash) shows as a second {@code succeeded} row with a higher attempt, and an
 * attempt that was killed shows as a {@code started} row with nothing after it.
 * {@link LedgerCheck} compares the ledger with the jobs table.
 */
final class LedgerJobs {
  private LedgerJobs() {}

  /**
   * @param n the job's number, unique in a test
   * @param workMillis how long the handler works after recording its run
   * @param failPercent chance in percent that the attempt throws after working
   */
  record Work(int n, int workMillis, int failPercent) {}

  static final JobType<Work> WORK = JobType.of("ledger_work", Work.class);

  static final String CREATE_LEDGER =
      "CREATE TABLE IF NOT EXISTS ledger (n int NOT NULL, job_id bigint NOT NULL, attempt int NOT NULL,"
          + " pid bigint NOT NULL, outcome text NOT NULL DEFAULT 'started', at timestamptz NOT NULL DEFAULT clock_timestamp())";

  static JobHandler<Work> handler(DataSource ds) {
    long pid = ProcessHandle.current().pid();
    return handler(ds, () -> pid,
        (work, attempt) -> work.failPercent() > 0 && ThreadLocalRandom.current().nextInt(100) < work.failPercent());
  }

  /**
   * The same handler with the {@code pid} column and the planned failures chosen by the caller:
   * several workers in one JVM record which of them ran an attempt, and a seeded test decides the
   * failures as a function of (job, attempt) so a replay fails the same attempts.
   *
   * @param recordedAs the value of the {@code pid} column, read when an attempt starts
   * @param fails whether the given attempt of the job fails
   */
  static JobHandler<Work> handler(DataSource ds, LongSupplier recordedAs, BiPredicate<Work, Integer> fails) {
    return (work, ctx) -> {
      long pid = recordedAs.getAsLong();
      record(ds, work.n(), ctx, pid, "started");
      if (work.workMillis() > 0) {
        Thread.sleep(work.workMillis());
      }
      if (fails.test(work, ctx.attempt())) {
        record(ds, work.n(), ctx, pid, "failed");
        throw new IllegalStateException("planned failure of job " + work.n() + " attempt " + ctx.attempt());
      }
      record(ds, work.n(), ctx, pid, "succeeded");
    };
  }

  static void record(DataSource ds, int n, JobContext ctx, long pid, String outcome) throws SQLException {
    try (Connection c = ds.getConnection();
        PreparedStatement ps = c.prepareStatement("INSERT INTO ledger (n, job_id, attempt, pid, outcome) VALUES (?, ?, ?, ?, ?)")) {
      if (!c.getAutoCommit()) {
        c.setAutoCommit(true);
      }
      ps.setInt(1, n);
      ps.setLong(2, ctx.id().value());
      ps.setInt(3, ctx.attempt());
      ps.setLong(4, pid);
      ps.setString(5, outcome);
      ps.executeUpdate();
    }
  }
}
