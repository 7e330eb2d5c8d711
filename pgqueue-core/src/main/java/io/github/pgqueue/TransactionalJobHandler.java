package io.github.pgqueue;

import java.sql.Connection;

/**
 * Runs one kind of job inside a database transaction that also completes the job: what the
 * handler writes through {@code connection} and the removal of the finished job commit together,
 * or not at all. Registered with {@link Worker.Builder#handleInTransaction}.
 *
 * <p>Guarantees, per attempt:
 *
 * <ul>
 *   <li>The connection is borrowed from the worker's data source, with autocommit off and no
 *       transaction begun; the transaction runs at the pool's isolation level. The handler must not
 *       commit, roll back or close it.
 *   <li>When the handler returns normally, the job's guarded completion (a delete by id and by the
 *       claim that runs this attempt) runs last, on the same connection, just before the commit. If
 *       the claim no longer holds the job (it was rescued from a worker judged dead, or cancelled),
 *       the completion matches nothing and the whole transaction is rolled back: the handler's
 *       writes of an attempt whose job was taken away never commit. So of all the attempts of a job,
 *       at most one commits its writes, and the job is done exactly when they commit.
 *   <li>When the handler throws, snoozes or cancels its job, or the attempt is stopped, the
 *       transaction is rolled back and the job goes on as with a {@link JobHandler} (retried,
 *       snoozed, discarded or released).
 *   <li>When the commit's reply is lost (the connection broke while it was in flight), the worker
 *       settles the question by looking the job up by its claim: still held means the commit did not
 *       happen, and the attempt is retried; gone means it did.
 *   <li>When the attempt is abandoned (past its timeout and grace, at shutdown, or cancelled), its
 *       connection is aborted, so its transaction rolls back and its locks are released even while
 *       the handler's thread is still stuck.
 * </ul>
 *
 * <p>Each running transactional handler holds one pool connection for its whole run: size the pool
 * for it (see {@link Worker}).
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface TransactionalJobHandler<T> {

  /**
   * Runs the job in the transaction of {@code connection}.
   *
   * @param payload the decoded payload, never null
   * @param context the job's identity and controls
   * @param connection the attempt's transaction; do not commit, roll back or close it
   * @throws Exception to fail this attempt (its writes are rolled back)
   */
  void handle(T payload, JobContext context, Connection connection) throws Exception;
}
