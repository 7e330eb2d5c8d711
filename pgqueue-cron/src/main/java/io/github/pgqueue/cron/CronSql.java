package io.github.pgqueue.cron;

/**
 * Every SQL statement of pgqueue-cron, in one place, built once per schema. The schema name comes
 * from {@code JobQueue.schema()}, which was validated as a lowercase identifier; it is the only
 * value interpolated into the text, everything else is a bind parameter. {@link ScheduleStore}
 * runs them.
 */
final class CronSql {

  /** Columns every statement that returns a schedule row returns, in this order. */
  private static final String ROW = "definition, origin, last_fired, enabled";

  /**
   * Registers a name seen for the first time, starting from now by the database clock (so every
   * process agrees on it). Parameters: name, definition, catch-up, job name, job queue. Returns the
   * row only if it was inserted.
   */
  final String insertIfAbsent;

  /** The row of an existing name, locked until the transaction ends. Parameter: name. */
  final String lock;

  /**
   * Overwrites the definition of a name and re-anchors it at now: the interval grid starts again
   * from now and last_fired moves up to now (never back). Parameters: definition, name.
   */
  final String redefine;

  /**
   * Claims one firing. Parameters: the scheduled instant, name, the same instant, this process's
   * definition, the origin this process computed the instant from. One row updated means this
   * transaction owns the firing; none means another process already claimed it or this
   * process's definition or origin is not the stored one.
   */
  final String claim;

  /** The row of a name, unlocked. Parameter: name. */
  final String read;

  /**
   * Records what the registering process would enqueue, for {@code CronAdmin}, if it differs.
   * Parameters: catch-up, job name, job queue, name, definition, then catch-up, job name, job
   * queue again.
   */
  final String describe;

  /**
   * The admin state of this process's schedules, read each poll: name, the row's columns, and the
   * pending trigger request. Parameter: the names (text[]).
   */
  final String poll;

  /**
   * Takes a pending trigger request, so that exactly one process serves it. Parameters: name, the
   * request's time, this process's definition. One row updated means this transaction owns it.
   */
  final String takeTrigger;

  // ---- CronAdmin ------------------------------------------------------------------------------

  /** Every schedule, with the database's now. */
  final String adminList;
  /** One schedule, with the database's now. Parameter: name. */
  final String adminOne;
  /** Requests a trigger unless one is pending. Parameter: name. Returns the row's state. */
  final String adminTrigger;
  /** Disables. Parameter: name. */
  final String adminDisable;
  /**
   * Enables; a schedule that was disabled restarts from now (its missed firings are not caught
   * up). Parameter: name.
   */
  final String adminEnable;

  CronSql(String schema) {
    insertIfAbsent =
        q(schema, """
            INSERT INTO {s}.cron_schedules
                (name, definition, origin, last_fired, catch_up, job_name, job_queue)
            VALUES (?, ?, now(), now(), ?, ?, ?)
            ON CONFLICT (name) DO NOTHING
            RETURNING {row}
            """);
    lock = q(schema, "SELECT {row} FROM {s}.cron_schedules WHERE name = ? FOR UPDATE");
    redefine =
        q(schema, """
            UPDATE {s}.cron_schedules
            SET definition = ?, origin = now(), last_fired = greatest(last_fired, now()),
                updated_at = now()
            WHERE name = ?
            RETURNING {row}
            """);
    claim =
        q(schema, """
            UPDATE {s}.cron_schedules
            SET last_fired = ?, updated_at = now()
            WHERE name = ? AND last_fired < ? AND definition = ? AND origin = ? AND enabled
            """);
    read = q(schema, "SELECT {row} FROM {s}.cron_schedules WHERE name = ?");
    describe =
        q(schema, """
            UPDATE {s}.cron_schedules SET catch_up = ?, job_name = ?, job_queue = ?
            WHERE name = ? AND definition = ?
              AND (catch_up, job_name, job_queue) IS DISTINCT FROM (?, ?, ?)
            """);
    poll =
        q(schema, """
            SELECT name, {row}, trigger_requested_at FROM {s}.cron_schedules WHERE name = ANY(?)
            """);
    takeTrigger =
        q(schema, """
            UPDATE {s}.cron_schedules
            SET trigger_requested_at = NULL, last_triggered_at = now(), updated_at = now()
            WHERE name = ? AND trigger_requested_at = ? AND definition = ?
            """);
    String admin = "name, definition, origin, last_fired, enabled, catch_up, job_name, job_queue,"
        + " trigger_requested_at, last_triggered_at, updated_at, now()";
    adminList = q(schema, "SELECT " + admin + " FROM {s}.cron_schedules ORDER BY name");
    adminOne = q(schema, "SELECT " + admin + " FROM {s}.cron_schedules WHERE name = ?");
    adminTrigger =
        q(schema, """
            WITH requested AS (
              UPDATE {s}.cron_schedules SET trigger_requested_at = now(), updated_at = now()
              WHERE name = ? AND trigger_requested_at IS NULL
              RETURNING name)
            SELECT (SELECT count(*) FROM requested) AS requested,
                   EXISTS (SELECT 1 FROM {s}.cron_schedules WHERE name = ?) AS present
            """);
    adminDisable =
        q(schema, """
            UPDATE {s}.cron_schedules SET enabled = false, updated_at = now() WHERE name = ?
            """);
    adminEnable =
        q(schema, """
            UPDATE {s}.cron_schedules
            SET last_fired = CASE WHEN enabled THEN last_fired ELSE greatest(last_fired, now()) END,
                enabled = true, updated_at = now()
            WHERE name = ?
            """);
  }

  private static String q(String schema, String sql) {
    return sql.replace("{s}", schema).replace("{row}", ROW).strip() + "\n";
  }
}
