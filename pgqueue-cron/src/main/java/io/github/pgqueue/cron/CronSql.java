package io.github.pgqueue.cron;

/**
 * Every SQL statement of pgqueue-cron, in one place, built once per schema. The schema name comes
 * from {@code JobQueue.schema()}, which was validated as a lowercase identifier; it is the only
 * value interpolated into the text, everything else is a bind parameter. {@link ScheduleStore}
 * runs them.
 */
final class CronSql {

  /** Columns every statement that returns a schedule row returns, in this order. */
  private static final String ROW = "definition, origin, last_fired";

  /**
   * Registers a name seen for the first time, starting from now by the database clock (so every
   * process agrees on it). Parameters: name, definition. Returns the row only if it was inserted.
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

  CronSql(String schema) {
    insertIfAbsent =
        q(schema, """
            INSERT INTO {s}.cron_schedules (name, definition, origin, last_fired)
            VALUES (?, ?, now(), now())
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
            WHERE name = ? AND last_fired < ? AND definition = ? AND origin = ?
            """);
    read = q(schema, "SELECT {row} FROM {s}.cron_schedules WHERE name = ?");
  }

  private static String q(String schema, String sql) {
    return sql.replace("{s}", schema).replace("{row}", ROW).strip() + "\n";
  }
}
