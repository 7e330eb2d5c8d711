package io.github.pgqueue;

/**
 * Every SQL statement pgqueue-core runs, in one place, built once per schema. The schema name is
 * the only value interpolated into the text, and it was validated as a lowercase identifier;
 * everything else is a bind parameter. {@link JobStore} runs them.
 */
final class Sql {

  final String schema;
  /** The NOTIFY channel of this schema; its payload is the queue name. */
  final String channel;

  // ---- enqueue -------------------------------------------------------------------------------

  /**
   * Columns bound by every insert, in this order: name, queue, payload (JSON text), priority,
   * run_at (null for "now + delay"), delay in microseconds, max_attempts, context.
   */
  final String insertJob;
  /** {@link #insertJob} plus a NOTIFY in the same statement, so an autocommit enqueue is one round trip. */
  final String insertJobNotify;
  /** As {@link #insertJob}, with a unique key as the 9th parameter; a duplicate inserts nothing. */
  final String insertUniqueJob;
  final String insertUniqueJobNotify;
  /** The pending or running job holding (name, unique_key). */
  final String findUnique;

  /** Bulk insert from arrays, in input order, so the returned ids ascend with the input. */
  final String insertJobs;
  /** Bulk insert of keyed rows in (name, key) order, so concurrent batches lock keys in one order. */
  final String insertUniqueJobs;
  /** The pending or running jobs holding the given (name, unique_key) pairs. */
  final String findUniques;
  /** One NOTIFY per queue name in the array. */
  final String notifyQueues;

  // ---- inspection ----------------------------------------------------------------------------

  final String findJob;
  final String countJobs;

  Sql(String schema) {
    this.schema = Identifiers.schema(schema);
    this.channel = schema + ".jobs";

    String insertValues =
        """
        INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context%s)
        VALUES (?, ?, ?::jsonb, ?, coalesce(?::timestamptz, now() + ?::bigint * interval '1 microsecond'), ?, ?%s)
        """;
    String onConflict =
        " ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL"
            + " AND state IN ('available', 'running') DO NOTHING";
    insertJob = q(insertValues.formatted("", "")) + "RETURNING id";
    insertUniqueJob = q(insertValues.formatted(", unique_key", ", ?")) + onConflict + " RETURNING id";
    insertJobNotify = "WITH j AS (" + insertJob + ") SELECT j.id, pg_notify(?, ?) FROM j";
    insertUniqueJobNotify = "WITH j AS (" + insertUniqueJob + ") SELECT j.id, pg_notify(?, ?) FROM j";
    findUnique =
        q("""
          SELECT id FROM {s}.jobs
          WHERE name = ? AND unique_key = ? AND state IN ('available', 'running')
          """);

    insertJobs =
        q("""
          INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context)
          SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c
          FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[], ?::text[])
               WITH ORDINALITY AS t(n, q, p, pr, ra, d, ma, c, ord)
          ORDER BY ord
          RETURNING id
          """);
    insertUniqueJobs =
        q("""
          INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context, unique_key)
          SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c, uk
          FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[], ?::text[], ?::text[])
               AS t(n, q, p, pr, ra, d, ma, c, uk)
          ORDER BY n, uk
          """) + onConflict + " RETURNING id, name, unique_key";
    findUniques =
        q("""
          SELECT j.id, j.name, j.unique_key FROM {s}.jobs j
          JOIN unnest(?::text[], ?::text[]) AS k(n, uk) ON j.name = k.n AND j.unique_key = k.uk
          WHERE j.state IN ('available', 'running')
          """);
    notifyQueues = "SELECT pg_notify(?, q) FROM unnest(?::text[]) AS q";

    findJob =
        q("""
          SELECT id, name, queue, state, priority, attempt, max_attempts, run_at, created_at,
                 locked_at, locked_by, unique_key, context, payload::text, errors::text, discarded_at
          FROM {s}.jobs WHERE id = ?
          """);
    countJobs =
        q("""
          SELECT queue, state, count(*) FROM {s}.jobs GROUP BY queue, state ORDER BY queue, state
          """);
  }

  private String q(String sql) {
    return sql.replace("{s}", schema).strip() + "\n";
  }
}
