-- pgqueue migration: the claims' plans. claim_after_v1 and claim_by_name_v1, THE CURSOR CLAIM and
-- THE CLAIM BY NAME as functions planned like claim_v2; and sorts off for the claims that walk the
-- queue in claim order. ${schema} is replaced by the validated schema name.
--
-- 1. The cursor claim and the claim by name ran as prepared statements, and a prepared statement
--    keeps the generic plan PostgreSQL makes at its sixth execution on a connection until the
--    table's statistics change. Made while the statistics said the queue held a few rows, that
--    plan reads the whole queue: sequential scans and a sort in each branch, and a hash join over
--    a sequential scan for the update. On PostgreSQL 15, a claim of 100 among 200,000 due jobs
--    took 130 ms (cursor claim) and 30-165 ms (claim by name) with such a plan, 7-8 ms once the
--    table was analyzed. claim_v2 (V015) fixed the same defect for THE CLAIM; claim_after_v1 and
--    claim_by_name_v1 do the same for the other two: planned with enable_seqscan and
--    enable_bitmapscan off, a generic plan kept per backend, and the update finding the claimed
--    rows by primary key from the array of their ids alone, reading whether each may run from the
--    row it updates (V015 says why). The bodies are otherwise the statements Sql.claimAfter and
--    Sql.claimByName, word for word but for the parameters.
-- 2. enable_sort off for claim_v2, claim_controlled_v3 and claim_after_v1. A generic plan costs
--    "queue = $1 AND name = ANY($2)" from averages: each queue's share of the table, each name's
--    share of that. In a table holding many queues and names that is a few hundred rows, and the
--    planner read all of the queue's due jobs through jobs_name_fetch_idx (V013) and sorted them
--    rather than walk jobs_fetch_idx in claim order: a claim of 20 behind 100,000 due jobs among
--    1,000,000 of 100 other queues took 43-54 ms instead of 0.6 ms (PostgreSQL 15). With sorts
--    off the only plan without a sort is the walk in claim order. claim_by_name_v1 keeps sorts: it
--    merges the heads of its names, a few rows, in a sort.
--
-- claim_v2 and claim_controlled_v3 are altered, not added again under new names: a planner setting
-- is not the statement, their bodies and results stay as they were, and processes of the previous
-- release, which call them, get the better plan too (PL/pgSQL recompiles a function whose
-- catalogue row changed). Otherwise additive: two new functions; nothing here touches a table.
-- The constants are JobError.KEPT_PER_JOB (20) and Worker.DEFAULT_STALE_AFTER (30 s), as in V010.

CREATE FUNCTION ${schema}.claim_after_v1(p_queue text, p_names text[], p_priority integer, p_run_at timestamptz,
                                         p_id bigint, p_owner bigint, p_limit integer, p_token bigint)
RETURNS TABLE (id bigint, name text, payload text, attempt integer, max_attempts integer, priority smallint,
               run_at timestamptz, created_at timestamptz, context text, ok boolean, trace_context text,
               claimed_at timestamptz)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH claimable AS (
    SELECT x.id FROM (
      SELECT * FROM (SELECT j.id FROM ${schema}.jobs j
        WHERE j.state = 'available' AND j.queue = p_queue AND j.name = ANY(p_names) AND j.run_at <= now()
          AND j.priority > p_priority
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT p_limit
        FOR UPDATE OF j SKIP LOCKED) above
      UNION ALL
      SELECT * FROM (SELECT j.id FROM ${schema}.jobs j
        WHERE j.state = 'available' AND j.queue = p_queue AND j.name = ANY(p_names) AND j.run_at <= now()
          AND j.priority = p_priority AND (j.run_at, j.id) > (p_run_at, p_id)
        ORDER BY j.run_at, j.id
        LIMIT p_limit
        FOR UPDATE OF j SKIP LOCKED) at_cursor
      UNION ALL
      SELECT * FROM (SELECT j.id FROM ${schema}.jobs j
        WHERE j.state = 'available' AND j.queue = p_queue AND j.name = ANY(p_names) AND j.run_at <= now()
          AND j.priority < p_priority
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT p_limit
        FOR UPDATE OF j SKIP LOCKED) below
    ) x
    WHERE EXISTS (
      SELECT 1 FROM ${schema}.workers w
      WHERE w.id = p_owner
        AND w.heartbeat_at > now() - coalesce(w.stale_after_ms, 30000) * interval '500 microseconds')
    LIMIT p_limit
  )
  UPDATE ${schema}.jobs j
  SET state = CASE WHEN j.attempt < j.max_attempts THEN 'running' ELSE 'discarded' END,
      attempt = CASE WHEN j.attempt < j.max_attempts THEN j.attempt + 1 ELSE j.attempt END,
      locked_by = CASE WHEN j.attempt < j.max_attempts THEN p_owner END,
      lock_token = CASE WHEN j.attempt < j.max_attempts THEN p_token END,
      locked_at = CASE WHEN j.attempt < j.max_attempts THEN now() END,
      discarded_at = CASE WHEN j.attempt < j.max_attempts THEN NULL ELSE now() END,
      errors = CASE WHEN j.attempt < j.max_attempts THEN j.errors
                    ELSE (CASE WHEN jsonb_array_length(j.errors) >= 20 THEN j.errors - 0 ELSE j.errors END)
                         || jsonb_build_array(jsonb_build_object(
                              'at', now(), 'attempt', j.attempt, 'kind', 'failed',
                              'class', 'io.github.pgqueue.NoAttemptLeft',
                              'message', 'available with no attempt left (attempt ' || j.attempt
                                         || ' of ' || j.max_attempts || ', set outside pgqueue): discarded instead of run',
                              'trace', ''))
               END
  WHERE j.id = ANY(ARRAY(SELECT c.id FROM claimable c))
  RETURNING j.id, j.name, j.payload::text, j.attempt, j.max_attempts, j.priority,
            j.run_at, j.created_at, j.context, j.state = 'running', j.trace_context::text, now();
END
$fn$;

CREATE FUNCTION ${schema}.claim_by_name_v1(p_queue text, p_names text[], p_owner bigint, p_limit integer,
                                           p_token bigint)
RETURNS TABLE (id bigint, name text, payload text, attempt integer, max_attempts integer, priority smallint,
               run_at timestamptz, created_at timestamptz, context text, ok boolean, trace_context text,
               claimed_at timestamptz)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_bitmapscan = off AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH args AS MATERIALIZED (
    SELECT p_queue AS queue, p_names AS names, p_owner AS worker, p_limit AS n
  ),
  shares AS MATERIALIZED (
    SELECT h.name, count(*) AS take FROM (
      SELECT d.name, d.priority, d.run_at, d.id
      FROM args a CROSS JOIN unnest(a.names) AS nm(name) CROSS JOIN LATERAL (
        SELECT j.name, j.priority, j.run_at, j.id FROM ${schema}.jobs j
        WHERE j.state = 'available' AND j.queue = a.queue AND j.name = nm.name AND j.run_at <= now()
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT a.n) d
      WHERE EXISTS (
        SELECT 1 FROM ${schema}.workers w
        WHERE w.id = a.worker
          AND w.heartbeat_at > now() - coalesce(w.stale_after_ms, 30000) * interval '500 microseconds')
      ORDER BY d.priority DESC, d.run_at, d.id
      LIMIT (SELECT args.n FROM args)) h
    GROUP BY h.name
  ),
  claimable AS (
    SELECT l.id FROM args a CROSS JOIN shares s CROSS JOIN LATERAL (
      SELECT j.id FROM ${schema}.jobs j
      WHERE j.state = 'available' AND j.queue = a.queue AND j.name = s.name AND j.run_at <= now()
      ORDER BY j.priority DESC, j.run_at, j.id
      LIMIT s.take
      FOR UPDATE OF j SKIP LOCKED) l
    LIMIT (SELECT args.n FROM args)
  )
  UPDATE ${schema}.jobs j
  SET state = CASE WHEN j.attempt < j.max_attempts THEN 'running' ELSE 'discarded' END,
      attempt = CASE WHEN j.attempt < j.max_attempts THEN j.attempt + 1 ELSE j.attempt END,
      locked_by = CASE WHEN j.attempt < j.max_attempts THEN p_owner END,
      lock_token = CASE WHEN j.attempt < j.max_attempts THEN p_token END,
      locked_at = CASE WHEN j.attempt < j.max_attempts THEN now() END,
      discarded_at = CASE WHEN j.attempt < j.max_attempts THEN NULL ELSE now() END,
      errors = CASE WHEN j.attempt < j.max_attempts THEN j.errors
                    ELSE (CASE WHEN jsonb_array_length(j.errors) >= 20 THEN j.errors - 0 ELSE j.errors END)
                         || jsonb_build_array(jsonb_build_object(
                              'at', now(), 'attempt', j.attempt, 'kind', 'failed',
                              'class', 'io.github.pgqueue.NoAttemptLeft',
                              'message', 'available with no attempt left (attempt ' || j.attempt
                                         || ' of ' || j.max_attempts || ', set outside pgqueue): discarded instead of run',
                              'trace', ''))
               END
  WHERE j.id = ANY(ARRAY(SELECT c.id FROM claimable c))
  RETURNING j.id, j.name, j.payload::text, j.attempt, j.max_attempts, j.priority,
            j.run_at, j.created_at, j.context, j.state = 'running', j.trace_context::text, now();
END
$fn$;

ALTER FUNCTION ${schema}.claim_v2(text, text[], bigint, integer, bigint) SET enable_sort = off;
ALTER FUNCTION ${schema}.claim_controlled_v3(text, text[], bigint, integer, bigint, bigint[], bigint[])
  SET enable_sort = off;
