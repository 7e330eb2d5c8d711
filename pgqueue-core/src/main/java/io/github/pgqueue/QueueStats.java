package io.github.pgqueue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * A snapshot of the queue's health for dashboards and alerts: work per queue, due work that no
 * live worker can run, and the state of the {@code jobs} table that decides claim speed (dead
 * tuples, vacuum, and the oldest transaction holding vacuum back). See {@link JobQueue#stats()}.
 *
 * @param queues one entry per queue that has any job, sorted by name
 * @param unhandled due jobs whose (name, queue) no live worker handles; they wait, and slow every
 *     claim that must skip them
 * @param liveWorkers worker processes with a fresh heartbeat
 * @param table the jobs table's statistics; null if PostgreSQL has none yet
 */
public record QueueStats(
    List<Queue> queues, List<Unhandled> unhandled, long liveWorkers, Table table) {

  /**
   * @throws NullPointerException if a list is null
   */
  public QueueStats {
    queues = List.copyOf(queues);
    unhandled = List.copyOf(unhandled);
  }

  /**
   * Jobs of one queue by state.
   *
   * @param queue the queue
   * @param due available and due now
   * @param scheduled available with a future run time
   * @param running claimed by a worker
   * @param discarded given up on, kept for inspection
   * @param oldestDueAge how long the oldest due job has been waiting; null when none is due
   */
  public record Queue(
      String queue, long due, long scheduled, long running, long discarded, Duration oldestDueAge) {
    /**
     * @throws NullPointerException if {@code queue} is null
     */
    public Queue {
      Objects.requireNonNull(queue, "queue");
    }
  }

  /**
   * Due jobs that no live worker handles.
   *
   * @param name the job name
   * @param queue the queue
   * @param count how many are due
   */
  public record Unhandled(String name, String queue, long count) {}

  /**
   * The jobs table, from {@code pg_stat_user_tables} and {@code pg_stat_activity}.
   *
   * @param liveTuples estimated live rows
   * @param deadTuples estimated dead rows not yet vacuumed; claims slow down as these pile up
   * @param lastVacuum the last (auto)vacuum of the table, or null if never
   * @param totalBytes size of the table with its indexes and TOAST
   * @param oldestXminAge age in transactions of the oldest snapshot or transaction id held by
   *     another session (which holds vacuum back), or null if none; as visible to the current role
   *     (other roles' sessions may be hidden without {@code pg_read_all_stats})
   * @param oldestTransactionAge how long the oldest such transaction has been open, or null
   */
  public record Table(
      long liveTuples,
      long deadTuples,
      Instant lastVacuum,
      long totalBytes,
      Long oldestXminAge,
      Duration oldestTransactionAge) {}
}
