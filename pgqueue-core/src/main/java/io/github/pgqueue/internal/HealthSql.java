package io.github.pgqueue.internal;

import io.github.pgqueue.Worker;

/**
 * SQL that pgqueue's modules must agree on word for word: when a worker row counts as alive, and
 * the health statistics of the jobs table. Core's statements ({@code Sql}) and the dashboard's
 * reads both build on these, so a change to the rule changes both.
 *
 * <p>Unsupported for users, like everything in this package.
 */
public final class HealthSql {

  /**
   * The jobs table's health: live and dead tuples, last vacuum, total size, the age of the oldest
   * transaction id held (xmin or xid) and how long the oldest such transaction has been open (ms),
   * both over other sessions. One row, or none before the table has statistics. Parameter: the
   * schema name.
   */
  public static final String TABLE_HEALTH =
      """
      SELECT t.n_live_tup, t.n_dead_tup, greatest(t.last_autovacuum, t.last_vacuum),
             pg_total_relation_size(t.relid),
             (SELECT max(greatest(age(a.backend_xmin), age(a.backend_xid))) FROM pg_stat_activity a
              WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) AND a.pid <> pg_backend_pid()),
             (SELECT (extract(epoch FROM now() - min(a.xact_start)) * 1000)::bigint
              FROM pg_stat_activity a
              WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) AND a.xact_start IS NOT NULL
                AND a.pid <> pg_backend_pid())
      FROM pg_stat_user_tables t
      WHERE t.schemaname = ? AND t.relname = 'jobs'
      """;

  private HealthSql() {}

  /**
   * A worker's own stale threshold in ms; rows of older processes carry none and count as the
   * default ({@link Worker#DEFAULT_STALE_AFTER}).
   *
   * @param w the alias of the workers table
   * @return an SQL expression
   */
  public static String staleAfterMs(String w) {
    return "coalesce(" + w + ".stale_after_ms, " + Worker.DEFAULT_STALE_AFTER.toMillis() + ")";
  }

  /**
   * The worker row {@code w} is alive: its heartbeat, by the database clock, is within its own
   * stale threshold.
   *
   * @param w the alias of the workers table
   * @return an SQL condition
   */
  public static String alive(String w) {
    return "(" + w + ".heartbeat_at > now() - " + staleAfterMs(w) + " * interval '1 millisecond')";
  }
}
