package io.github.pgqueue.internal;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Worker;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * The benchmark's window into pgqueue-core's package-private parts (the JDK's {@code
 * SharedSecrets} pattern): the raw-SQL ceiling runs the very statements of core's {@code Sql}
 * through its {@code JobStore}, without fetchers, completer, threads or pools; and the worker's
 * claim counters give the batch size it actually reached. Core implements it in a package-private
 * class that registers itself with {@link SharedSecrets} when it is initialised, so those classes
 * stay package-private and no other module puts a class into core's package.
 *
 * <p>Unsupported for users, like everything in this package.
 */
public interface BenchAccess {

  /**
   * Claim statements and jobs claimed by a worker since it started.
   *
   * @param worker the worker
   * @return {claim statements, jobs claimed}
   */
  long[] claimCounters(Worker worker);

  /**
   * Installs (or, with null, removes) the probe that receives the timestamps of the pickup path,
   * for the benchmark's latency breakdown. One probe per JVM.
   *
   * @param probe the probe, or null
   */
  void probe(Probe probe);

  /**
   * Turns the in-process wake-up of a queue's enqueues on or off (on by default), so the benchmark
   * can compare pickup with and without it in one run.
   *
   * @param queue the queue
   * @param on whether its own commits wake local workers at once
   */
  void localWake(JobQueue queue, boolean on);

  /** Receives timestamps of the pickup path; called on pgqueue's threads, so it must be quick and thread-safe. */
  @FunctionalInterface
  interface Probe {
    /**
     * A point of the pickup path was passed.
     *
     * @param point COMMITTED, WAKE_LOCAL, WAKE_NOTIFY, CLAIM_SENT, CLAIM_RETURNED or SLOT_ENTERED
     * @param nanos {@link System#nanoTime()} there
     * @param count the jobs a claim returned (CLAIM_RETURNED), else 0
     */
    void at(String point, long nanos, int count);
  }

  /**
   * The raw statements of one schema.
   *
   * @param schema a valid schema name
   * @return the statements
   * @throws IllegalArgumentException if the schema name is invalid
   */
  Raw raw(String schema);

  /** Core's own statements, run on a connection the caller holds (and commits). */
  interface Raw {

    /**
     * One job of {@code name} with payload {@code {"n": i}}, as {@code JobQueue.enqueue} writes it.
     *
     * @param c the connection
     * @param name the job name
     * @param i the payload's number
     * @param notify whether to send the NOTIFY an enqueue of a due job sends
     * @throws SQLException as the statement throws it
     */
    void insert(Connection c, String name, int i, boolean notify) throws SQLException;

    /**
     * A batch, as {@code JobQueue.enqueueAll} writes it (one unnest insert; no NOTIFY).
     *
     * @param c the connection
     * @param name the job name
     * @param from the first payload's number
     * @param count how many jobs
     * @throws SQLException as the statement throws it
     */
    void insertAll(Connection c, String name, int from, int count) throws SQLException;

    /**
     * One claim of up to {@code limit} jobs on the default queue, then one delete of them, as a
     * worker would.
     *
     * @param c the connection
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id (see {@link #registerWorker})
     * @return how many jobs were claimed and completed
     * @throws SQLException as the statements throw it
     */
    int claimAndComplete(Connection c, String name, int limit, long owner) throws SQLException;

    /**
     * As {@link #claimAndComplete}, with the claim starting where a worker's fetcher would start it:
     * at the head of the queue, or after the last job claimed while the head is full of index
     * entries of claimed jobs that an old transaction keeps (counted every 10 seconds).
     *
     * @param c the connection, in autocommit
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id (see {@link #registerWorker})
     * @return how many jobs were claimed and completed
     * @throws SQLException as the statements throw it
     */
    int claimAndCompleteAsAWorker(Connection c, String name, int limit, long owner) throws SQLException;

    /**
     * Completing and claiming in one round trip, the ceiling a loop reaches past the two
     * statements of {@link #claimAndComplete}: one statement deletes the jobs this object's previous call claimed for {@code
     * owner} (as {@link #claimAndComplete}'s delete) and claims up to {@code limit} more (THE
     * CLAIM, as the function {@code claim_v2} a worker calls), in one transaction that commits
     * durably, since it writes outcomes. The call that claims nothing has completed the last batch.
     *
     * @param c the connection, in autocommit
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id (see {@link #registerWorker})
     * @return how many jobs were claimed (to be completed by the next call)
     * @throws SQLException as the statement throws it
     */
    int completeAndClaim(Connection c, String name, int limit, long owner) throws SQLException;

    /**
     * How many of {@link #claimAndCompleteAsAWorker}'s claims of {@code name} started after the
     * last job claimed rather than at the head.
     *
     * @param name the job name
     * @return the claims
     */
    long claimsAfterCursor(String name);

    /**
     * Runs the claim of pgqueue-core itself on one queue, as a worker runs it (THE CLAIM in the
     * function {@code claim_v2}).
     *
     * @param c the connection
     * @param queue the queue
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id
     * @return the ids claimed
     * @throws SQLException as the statement throws it
     */
    List<Long> claim(Connection c, String queue, String name, int limit, long owner) throws SQLException;

    /**
     * Runs THE CLAIM as the statement itself ({@code Sql.claim}, a prepared statement on a
     * connection that keeps them), which workers ran before they called {@code claim_v2} on every
     * connection; for comparing the two forms.
     *
     * @param c the connection
     * @param queue the queue
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id
     * @return the ids claimed
     * @throws SQLException as the statement throws it
     */
    List<Long> claimStatement(Connection c, String queue, String name, int limit, long owner) throws SQLException;

    /**
     * Runs the claim a worker takes while its queue holds many due jobs of names it does not handle
     * (claiming name by name), on one queue.
     *
     * @param c the connection
     * @param queue the queue
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id
     * @return the ids claimed
     * @throws SQLException as the statement throws it
     */
    List<Long> claimByName(Connection c, String queue, String name, int limit, long owner) throws SQLException;

    /**
     * Runs the controlled claim of pgqueue-core itself on one queue, in the caller's transaction
     * (autocommit off): with the queue's per-key settings, this is the keyed claim.
     *
     * @param c the connection, autocommit off
     * @param queue the queue
     * @param name the job name
     * @param limit the most jobs to claim
     * @param owner a registered worker id
     * @return the ids claimed
     * @throws SQLException as the statements throw it
     */
    List<Long> claimControlled(Connection c, String queue, String name, int limit, long owner) throws SQLException;

    /**
     * Registers a worker row so claims have a lock owner. It never heartbeats, so it registers
     * with a stale threshold of a day: the claim refuses an owner whose row is older than half
     * its threshold. Remove it with {@link #deregisterWorker}.
     *
     * @param c the connection
     * @param name the job name it handles
     * @return its id
     * @throws SQLException as the statement throws it
     */
    long registerWorker(Connection c, String name) throws SQLException;

    /**
     * One batch of pruning, as the worker's maintenance runs it: deletes up to 1,000 discarded
     * jobs older than the retention.
     *
     * @param c the connection
     * @param retentionMillis how long discarded jobs are kept, in ms
     * @return how many jobs were deleted
     * @throws SQLException as the statement throws it
     */
    int pruneDiscarded(Connection c, long retentionMillis) throws SQLException;

    /**
     * Removes a row made by {@link #registerWorker}.
     *
     * @param c the connection
     * @param id its id
     * @throws SQLException as the statement throws it
     */
    void deregisterWorker(Connection c, long id) throws SQLException;
  }
}
