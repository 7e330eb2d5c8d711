-- pgqueue migration: enqueue_v2, the single enqueue of connections that do not keep server-side
-- prepared statements (prepareThreshold=0; JobStore.unprepared), without the plan_cache_mode
-- setting of enqueue_v1. ${schema} is replaced by the validated schema name.
--
-- Why: a function with a SET clause saves, sets and restores the setting on every call, and
-- PostgreSQL runs it through a wrapper that also keeps it from being treated as an ordinary call.
-- For the claim that is worth it (V010: left to choose, PostgreSQL plans the claim anew on every
-- call). An INSERT ... VALUES has one plan whatever its parameters, and plan_cache_mode = auto
-- settles on the cached generic plan after five calls per backend anyway. Measured with pgbench,
-- one client, synchronous_commit off to leave the WAL flush out, three alternating runs:
-- enqueue_v1 1,275 / 1,352 / 1,743 calls/s, the same body without the setting 2,595 / 2,516 /
-- 2,691; pg_stat_statements: 107-175 against 84-99 microseconds per call (docs/performance.md,
-- "Without server-side prepared statements").
--
-- The body is enqueue_v1's, word for word. enqueue_v1 stays: processes of the previous release
-- call it during a rolling deploy. Additive: one new function; nothing here touches a table.

-- Sql.insertJob and Sql.insertUniqueJob (with a unique key), each with its NOTIFY when p_channel
-- is not null (Sql.insertJobNotify, Sql.insertUniqueJobNotify): the new job's id, or NULL when
-- the unique key is held (nothing inserted, nothing notified; the caller looks up the holder).
CREATE FUNCTION ${schema}.enqueue_v2(p_name text, p_queue text, p_payload text, p_priority integer,
                                     p_run_at timestamptz, p_delay_us bigint, p_max_attempts integer,
                                     p_context text, p_trace_context text, p_unique_key text, p_channel text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  v_id bigint;
BEGIN
  IF p_unique_key IS NULL THEN
    INSERT INTO ${schema}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context)
    VALUES (p_name, p_queue, p_payload::jsonb, p_priority,
            coalesce(p_run_at, now() + p_delay_us * interval '1 microsecond'), p_max_attempts, p_context,
            p_trace_context::jsonb)
    RETURNING id INTO v_id;
  ELSE
    INSERT INTO ${schema}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context,
                                unique_key)
    VALUES (p_name, p_queue, p_payload::jsonb, p_priority,
            coalesce(p_run_at, now() + p_delay_us * interval '1 microsecond'), p_max_attempts, p_context,
            p_trace_context::jsonb, p_unique_key)
    ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running') DO NOTHING
    RETURNING id INTO v_id;
  END IF;
  IF v_id IS NOT NULL AND p_channel IS NOT NULL THEN
    PERFORM pg_notify(p_channel, p_queue);
  END IF;
  RETURN v_id;
END
$fn$;
