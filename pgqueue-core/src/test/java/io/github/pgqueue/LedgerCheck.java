package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.testing.postgres.TestDatabase;

/**
 * Compares the ledger the {@link LedgerJobs} handlers keep with the jobs table, after a chaos run
 * has settled. The invariants (asserted):
 *
 * <ul>
 *   <li><b>nothing lost</b>: every job either succeeded (its row is gone and the ledger holds a
 *       {@code succeeded} row for it) or is discarded with its errors;
 *   <li><b>nothing stuck</b>: no job is left available or running;
 *   <li><b>the attempt that deleted a job succeeded</b>: for every succeeded job the highest
 *       attempt the ledger saw has a {@code succeeded} row (a job is only deleted by the attempt
 *       holding it, and nothing can claim it afterwards);
 *   <li><b>discarded jobs used up their attempts</b>, and their last error is of the last attempt;
 *       every planned failure recorded in a job's errors is in the ledger too;
 *   <li><b>no attempt was handed out twice</b>: no two {@code started} rows share (job, attempt);
 *       each job number has one job id; every outcome row follows a {@code started} row.
 * </ul>
 *
 * <p>Duplicates (a job whose handler succeeded more than once, because the worker died between
 * the handler's return and the write of its outcome) are at-least-once delivery working as
 * documented: they are counted and printed, never a failure.
 */
final class LedgerCheck {
  private LedgerCheck() {}

  record Result(
      long jobs, long succeeded, long discarded, long attemptsStarted, long interruptedAttempts,
      long plannedFailures, long duplicates, long rescuedErrors) {}

  static String notStuckSql(String schema) {
    return "SELECT count(*) FROM " + schema + ".jobs WHERE state <> 'discarded'";
  }

  static Result check(TestDatabase db, int jobs, String scenario) {
    String s = db.schema();
    String all = "generate_series(0, " + (jobs - 1) + ") g(n)";
    String gone = "NOT EXISTS (SELECT 1 FROM " + s + ".jobs j WHERE (j.payload->>'n')::int = g.n)";

    assertThat(db.queryLong(notStuckSql(s))).as(scenario + ": jobs left available or running").isZero();
    assertThat(db.queryLong("SELECT count(*) FROM " + s + ".jobs WHERE (payload->>'n')::int NOT BETWEEN 0 AND " + (jobs - 1)))
        .as(scenario + ": jobs the test never enqueued").isZero();
    assertThat(db.queryLong(
        "SELECT count(*) FROM " + all + " WHERE " + gone
            + " AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.n = g.n AND l.outcome = 'succeeded')"))
        .as(scenario + ": jobs lost (deleted without a successful run)").isZero();
    assertThat(db.queryLong(
        "WITH done AS (SELECT g.n FROM " + all + " WHERE " + gone + "),"
            + " last AS (SELECT l.n, max(l.attempt) AS a FROM ledger l JOIN done USING (n) GROUP BY l.n)"
            + " SELECT count(*) FROM last WHERE NOT EXISTS (SELECT 1 FROM ledger l"
            + "   WHERE l.n = last.n AND l.attempt = last.a AND l.outcome = 'succeeded')"))
        .as(scenario + ": succeeded jobs whose last attempt did not succeed").isZero();
    assertThat(db.queryLong(
        "SELECT count(*) FROM " + s + ".jobs WHERE state = 'discarded' AND NOT ("
            + " jsonb_array_length(errors) > 0 AND attempt = max_attempts"
            + " AND (errors -> -1 ->> 'attempt')::int = attempt)"))
        .as(scenario + ": discarded jobs with attempts left or without the last attempt's error").isZero();
    assertThat(db.queryLong(
        "SELECT count(*) FROM " + s + ".jobs j, jsonb_array_elements(j.errors) e"
            + " WHERE e ->> 'kind' = 'failed' AND e ->> 'message' LIKE 'planned failure%'"
            + " AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.job_id = j.id"
            + "   AND l.attempt = (e ->> 'attempt')::int AND l.outcome = 'failed')"))
        .as(scenario + ": planned failures in the jobs table but not in the ledger").isZero();
    assertThat(db.queryLong(
        "SELECT count(*) FROM (SELECT n, attempt FROM ledger WHERE outcome = 'started'"
            + " GROUP BY n, attempt HAVING count(*) > 1) x"))
        .as(scenario + ": attempts started twice (one claim handed to two runs)").isZero();
    assertThat(db.queryLong(
        "SELECT count(*) FROM (SELECT n FROM ledger GROUP BY n HAVING count(DISTINCT job_id) > 1) x"))
        .as(scenario + ": job numbers recorded under two job ids").isZero();
    assertThat(db.queryLong(
        "SELECT count(*) FROM ledger o WHERE o.outcome <> 'started' AND NOT EXISTS ("
            + " SELECT 1 FROM ledger l WHERE l.n = o.n AND l.attempt = o.attempt AND l.outcome = 'started')"))
        .as(scenario + ": outcomes recorded without a start").isZero();

    long discarded = db.queryLong("SELECT count(*) FROM " + s + ".jobs WHERE state = 'discarded'");
    long succeeded = jobs - discarded;
    long successRows = db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'succeeded'");
    Result r = new Result(
        jobs,
        succeeded,
        discarded,
        db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'started'"),
        db.queryLong(
            "SELECT count(*) FROM ledger l WHERE l.outcome = 'started' AND NOT EXISTS ("
                + " SELECT 1 FROM ledger o WHERE o.n = l.n AND o.attempt = l.attempt AND o.outcome <> 'started')"),
        db.queryLong("SELECT count(*) FROM ledger WHERE outcome = 'failed'"),
        successRows - succeeded,
        db.queryLong(
            "SELECT count(*) FROM " + s + ".jobs j, jsonb_array_elements(j.errors) e WHERE e ->> 'kind' = 'rescued'"));
    System.out.printf(
        "LEDGER %s: %d jobs: %d succeeded, %d discarded with errors; %d attempts started, %d planned"
            + " failures, %d attempts cut short (killed or disconnected); duplicates (successful"
            + " reruns, at-least-once): %d; rescued attempts among discarded jobs: %d%n",
        scenario, r.jobs(), r.succeeded(), r.discarded(), r.attemptsStarted(), r.plannedFailures(),
        r.interruptedAttempts(), r.duplicates(), r.rescuedErrors());
    return r;
  }
}
