-- pgqueue migration: claim_v2 and claim_controlled_v3, THE CLAIM as functions whose cached plan
-- cannot go quadratic or scan the table. ${schema} is replaced by the validated schema name.
--
-- What changed from claim_v1 (V010) and claim_controlled_v2 (V014):
-- 1. The update finds the claimed rows by primary key from the array of their ids alone
--    (j.id = ANY(ARRAY(...))), and reads whether each may run from the row it updates (the row is
--    locked by this statement, so attempt and max_attempts are those the claim saw). claim_v1 also
--    joined the rows to the claimed set (j.id = c.id). A function's plan is generic and cached
--    per backend until the table's statistics change; planned while the statistics said the
--    queue had no available jobs (taken while it held only finished or discarded rows), that join
--    became a nested loop whose inner index scan carried both conditions, so each of the n claimed
--    rows walked the n-element array: on PostgreSQL 15, a 100-job claim took 9.4 ms instead of
--    1.5 ms (its update 7.7 ms), and the benchmark's limited queue, claimed through
--    claim_controlled_v2, ran at 54-85% of the unlimited one (docs/flow-control.md).
-- 2. enable_seqscan and enable_bitmapscan are off while the claim is planned: a plan cached while
--    the table held a few rows scanned the whole table for the update (14-19 ms for 100 jobs of
--    20,000 once the queue had grown); the claim is always an index walk in claim order and one
--    primary-key lookup per claimed row.
-- 3. claim_controlled_v3 is claim_controlled_v2 with THE CLAIM written in its body instead of a
--    call of claim_v1 (the rows were returned twice, once per function).
--
-- claim_v1 and claim_controlled_v2 stay: processes of the previous release call them during a
-- rolling deploy. Additive: two new functions; nothing here touches a table.
-- The constants are JobError.KEPT_PER_JOB (20) and Worker.DEFAULT_STALE_AFTER (30 s), as in V010.

CREATE FUNCTION ${schema}.claim_v2(p_queue text, p_names text[], p_owner bigint, p_limit integer, p_token bigint)
RETURNS TABLE (id bigint, name text, payload text, attempt integer, max_attempts integer, priority smallint,
               run_at timestamptz, created_at timestamptz, context text, ok boolean, trace_context text,
               claimed_at timestamptz)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_bitmapscan = off AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH claimable AS (
    SELECT j.id FROM ${schema}.jobs j
    WHERE j.state = 'available' AND j.queue = p_queue AND j.run_at <= now() AND j.name = ANY(p_names)
      AND EXISTS (
        SELECT 1 FROM ${schema}.workers w
        WHERE w.id = p_owner
          AND w.heartbeat_at > now() - coalesce(w.stale_after_ms, 30000) * interval '500 microseconds')
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT p_limit
    FOR UPDATE OF j SKIP LOCKED
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

CREATE FUNCTION ${schema}.claim_controlled_v3(p_queue text, p_names text[], p_owner bigint, p_want integer,
                                              p_token bigint, p_finished_ids bigint[], p_finished_tokens bigint[])
RETURNS TABLE (id bigint, name text, payload text, attempt integer, max_attempts integer, priority smallint,
               run_at timestamptz, created_at timestamptz, context text, ok boolean, trace_context text,
               claimed_at timestamptz, held text, free integer)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_bitmapscan = off AS $fn$
#variable_conflict use_column
DECLARE
  v_paused boolean;
  v_max integer;
  v_other boolean;
  v_running bigint;
  v_free integer := p_want;
  v_held text := 'NO';
  v_got integer;
BEGIN
  SELECT qc.paused, qc.max_running,
         qc.rate_limit IS NOT NULL OR qc.key_max_running IS NOT NULL OR qc.key_fair
           OR qc.key_rate_limit IS NOT NULL
  INTO v_paused, v_max, v_other
  FROM ${schema}.queue_controls qc
  WHERE qc.queue = p_queue
  FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    PERFORM 1 FROM ${schema}.queue_controls qc WHERE qc.queue = p_queue;
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::smallint,
                        NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::boolean, NULL::text,
                        NULL::timestamptz, CASE WHEN FOUND THEN 'BUSY' ELSE 'NO_CONTROL' END, 0;
    RETURN;
  END IF;
  IF v_paused OR v_other THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::smallint,
                        NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::boolean, NULL::text,
                        NULL::timestamptz, CASE WHEN v_paused THEN 'PAUSED' ELSE 'CONTROLS' END, 0;
    RETURN;
  END IF;
  IF v_max IS NOT NULL THEN
    -- Sql.countRunningExcept: a later statement than the lock, so its snapshot sees every claim
    -- committed before the lock was granted; walking the index of running jobs up to the limit
    -- (never a bitmap of its dead entries, hence enable_bitmapscan off).
    SELECT count(*) INTO v_running
    FROM (SELECT 1 FROM ${schema}.jobs r
          WHERE r.state = 'running' AND r.queue = p_queue
            AND (r.locked_by IS DISTINCT FROM p_owner OR NOT EXISTS (
                  SELECT 1 FROM unnest(p_finished_ids, p_finished_tokens) f(id, token)
                  WHERE f.id = r.id AND f.token = r.lock_token))
          LIMIT v_max) r;
    IF v_max - v_running <= 0 THEN
      RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::smallint,
                          NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::boolean, NULL::text,
                          NULL::timestamptz, 'FULL'::text, 0;
      RETURN;
    END IF;
    IF v_max - v_running <= v_free THEN
      v_free := v_max - v_running;
      v_held := 'FULL';
    END IF;
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  -- THE CLAIM, as in claim_v2.
  RETURN QUERY
  WITH claimable AS (
    SELECT j.id FROM ${schema}.jobs j
    WHERE j.state = 'available' AND j.queue = p_queue AND j.run_at <= now() AND j.name = ANY(p_names)
      AND EXISTS (
        SELECT 1 FROM ${schema}.workers w
        WHERE w.id = p_owner
          AND w.heartbeat_at > now() - coalesce(w.stale_after_ms, 30000) * interval '500 microseconds')
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT v_free
    FOR UPDATE OF j SKIP LOCKED
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
            j.run_at, j.created_at, j.context, j.state = 'running', j.trace_context::text, now(),
            v_held, v_free;
  GET DIAGNOSTICS v_got = ROW_COUNT;
  IF v_got = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::smallint,
                        NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::boolean, NULL::text,
                        NULL::timestamptz, 'NO'::text, v_free;
  END IF;
END
$fn$;
