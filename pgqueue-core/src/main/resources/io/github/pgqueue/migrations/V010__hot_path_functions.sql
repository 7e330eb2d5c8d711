-- pgqueue migration: the hot statements as PL/pgSQL functions, for connections that cannot keep
-- server-side prepared statements (prepareThreshold=0 behind PgBouncer before 1.21, Supavisor,
-- RDS Proxy and other transaction-mode poolers; docs/performance.md, "Without server-side
-- prepared statements").
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Why functions: PL/pgSQL prepares each statement of a function once per backend and keeps it,
-- whatever the pooler does with the client's statements; the client's own statement is then a
-- trivial SELECT of a function call. SQL-language functions cache plans only from PostgreSQL 18.
-- Each function runs with plan_cache_mode = force_generic_plan (restored when it returns), so
-- every call after a backend's first runs the one cached generic plan: left to choose, PostgreSQL
-- keeps planning the claim anew on every call, because a generic LIMIT $n is costed as a tenth of
-- the queue although the plan is the same index scan (HotPathFunctionsTest shows the plan).
--
-- Each function is the statement of Sql.java it names, with the same bind parameters as
-- arguments; a change to one of those statements must change its function too. A function is
-- never replaced: a changed one is added under the next name (claim_v2) by a new migration, so
-- processes of the previous release keep calling the body they were written for while a rolling
-- deploy runs. No function has an EXCEPTION block (each would be a subtransaction per call).
-- SECURITY INVOKER (the default): a caller needs the same table privileges as for the statements.
-- Additive: only new functions; nothing here touches a table.

-- Sql.claim (THE CLAIM): up to p_limit due jobs of p_queue among p_names, running under
-- (p_owner, p_token), with an asynchronous commit for this transaction. The constants are
-- JobError.KEPT_PER_JOB (20) and Worker.DEFAULT_STALE_AFTER (30 s) at this migration. One
-- addition to the statement: the update also finds the claimed rows by primary key from an array
-- (j.id = ANY(ARRAY(...))), because the generic plan costs LIMIT p_limit as a tenth of the queue
-- and would otherwise join them by a hash over a scan of the whole table on a small one.
CREATE FUNCTION ${schema}.claim_v1(p_queue text, p_names text[], p_owner bigint, p_limit integer, p_token bigint)
RETURNS TABLE (id bigint, name text, payload text, attempt integer, max_attempts integer, priority smallint,
               run_at timestamptz, created_at timestamptz, context text, ok boolean, trace_context text,
               claimed_at timestamptz)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH claimable AS (
    SELECT j.id, j.attempt < j.max_attempts AS ok FROM ${schema}.jobs j
    WHERE j.state = 'available' AND j.queue = p_queue AND j.run_at <= now() AND j.name = ANY(p_names)
      AND EXISTS (
        SELECT 1 FROM ${schema}.workers w
        WHERE w.id = p_owner
          AND w.heartbeat_at > now() - coalesce(w.stale_after_ms, 30000) * interval '500 microseconds')
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT p_limit
    FOR UPDATE OF j SKIP LOCKED
  ),
  claimed AS (
    UPDATE ${schema}.jobs j
    SET state = CASE WHEN c.ok THEN 'running' ELSE 'discarded' END,
        attempt = CASE WHEN c.ok THEN j.attempt + 1 ELSE j.attempt END,
        locked_by = CASE WHEN c.ok THEN p_owner END,
        lock_token = CASE WHEN c.ok THEN p_token END,
        locked_at = CASE WHEN c.ok THEN now() END,
        discarded_at = CASE WHEN c.ok THEN NULL ELSE now() END,
        errors = CASE WHEN c.ok THEN j.errors
                      ELSE (CASE WHEN jsonb_array_length(j.errors) >= 20 THEN j.errors - 0 ELSE j.errors END)
                           || jsonb_build_array(jsonb_build_object(
                                'at', now(), 'attempt', j.attempt, 'kind', 'failed',
                                'class', 'io.github.pgqueue.NoAttemptLeft',
                                'message', 'available with no attempt left (attempt ' || j.attempt
                                           || ' of ' || j.max_attempts || ', set outside pgqueue): discarded instead of run',
                                'trace', ''))
                 END
    FROM claimable c
    WHERE j.id = ANY(ARRAY(SELECT c2.id FROM claimable c2)) AND j.id = c.id
    RETURNING j.id, j.name, j.payload::text, j.attempt, j.max_attempts, j.priority,
              j.run_at, j.created_at, j.context, c.ok, j.trace_context::text, now()
  )
  SELECT * FROM claimed;
END
$fn$;

-- JobStore.claimControlled in one round trip, for a queue whose control row sets at most a pause
-- and a global concurrency limit: lock the queue's control row without waiting (Sql.lockControl),
-- count its running jobs in a later statement (Sql.countRunning: a VOLATILE function takes a new
-- snapshot per statement, so the count sees every claim committed before the lock was granted),
-- and claim at most the free starts (claim_v1). Every row carries the verdict in held and the
-- free starts the claim asked for in free: NO (nothing held it back), FULL (the limit is
-- reached, or the claim may have taken the last free starts: the caller compares free with the
-- jobs it got), PAUSED, BUSY (another claim holds the row), NO_CONTROL (no row), or CONTROLS when
-- the row also sets a rate or a per-key limit, which the caller then claims with the statements
-- in the same transaction (the row stays locked by it). A verdict without jobs is one row whose
-- id is NULL. Must run inside a transaction that commits after it (the caller's), so the row
-- lock is held until the claim commits.
CREATE FUNCTION ${schema}.claim_controlled_v1(p_queue text, p_names text[], p_owner bigint, p_want integer,
                                              p_token bigint)
RETURNS TABLE (id bigint, name text, payload text, attempt integer, max_attempts integer, priority smallint,
               run_at timestamptz, created_at timestamptz, context text, ok boolean, trace_context text,
               claimed_at timestamptz, held text, free integer)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan
  SET enable_bitmapscan = off AS $fn$
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
    -- Up to the limit, walking the index of running jobs (Sql.countRunning: never a bitmap of its
    -- dead entries, hence enable_bitmapscan off for this function's statements).
    SELECT count(*) INTO v_running
    FROM (SELECT 1 FROM ${schema}.jobs r WHERE r.state = 'running' AND r.queue = p_queue LIMIT v_max) r;
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
  RETURN QUERY SELECT c.*, v_held, v_free FROM ${schema}.claim_v1(p_queue, p_names, p_owner, v_free, p_token) c;
  GET DIAGNOSTICS v_got = ROW_COUNT;
  IF v_got = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::smallint,
                        NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::boolean, NULL::text,
                        NULL::timestamptz, 'NO'::text, v_free;
  END IF;
END
$fn$;

-- Sql.complete: deletes the succeeded jobs still held by the claims that ran them. Returns the
-- rows deleted.
CREATE FUNCTION ${schema}.complete_v1(p_ids bigint[], p_owners bigint[], p_tokens bigint[])
RETURNS integer
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
  v_n integer;
BEGIN
  DELETE FROM ${schema}.jobs j
  USING unnest(p_ids, p_owners, p_tokens) AS d(id, owner, token)
  WHERE j.id = d.id AND j.locked_by = d.owner AND j.lock_token = d.token;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$fn$;

-- Sql.settle: every other outcome (retry, discard, snooze, release) from parallel arrays, guarded
-- as complete_v1; keeps the newest 20 errors (JobError.KEPT_PER_JOB). Returns the rows changed.
CREATE FUNCTION ${schema}.settle_v1(p_ids bigint[], p_owners bigint[], p_tokens bigint[], p_states text[],
                                    p_delays_us bigint[], p_refunds integer[], p_errors text[])
RETURNS integer
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
  v_n integer;
BEGIN
  UPDATE ${schema}.jobs j
  SET state = d.state,
      run_at = CASE WHEN d.state = 'available'
                    THEN now() + d.delay_us * interval '1 microsecond' ELSE j.run_at END,
      attempt = j.attempt - d.refund,
      locked_by = NULL,
      locked_at = NULL,
      lock_token = NULL,
      discarded_at = CASE WHEN d.state = 'discarded' THEN now() END,
      errors = CASE WHEN d.error IS NULL THEN j.errors
                    ELSE (CASE WHEN jsonb_array_length(j.errors) >= 20 THEN j.errors - 0 ELSE j.errors END)
                         || jsonb_build_array(d.error::jsonb || jsonb_build_object('at', now()))
               END
  FROM unnest(p_ids, p_owners, p_tokens, p_states, p_delays_us, p_refunds, p_errors)
       AS d(id, owner, token, state, delay_us, refund, error)
  WHERE j.id = d.id AND j.locked_by = d.owner AND j.lock_token = d.token;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END
$fn$;

-- Sql.insertJob and Sql.insertUniqueJob (with a unique key), each with its NOTIFY when p_channel
-- is not null (Sql.insertJobNotify, Sql.insertUniqueJobNotify): the new job's id, or NULL when
-- the unique key is held (nothing inserted, nothing notified; the caller looks up the holder).
CREATE FUNCTION ${schema}.enqueue_v1(p_name text, p_queue text, p_payload text, p_priority integer,
                                     p_run_at timestamptz, p_delay_us bigint, p_max_attempts integer,
                                     p_context text, p_trace_context text, p_unique_key text, p_channel text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
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

-- Sql.insertJobs (bulk, unkeyed), with one NOTIFY per queue in p_notify when p_channel is not null
-- (Sql.insertJobsNotify): the new ids, in input order.
CREATE FUNCTION ${schema}.enqueue_all_v1(p_names text[], p_queues text[], p_payloads text[], p_priorities integer[],
                                         p_run_ats timestamptz[], p_delays_us bigint[], p_max_attempts integer[],
                                         p_contexts text[], p_trace_contexts text[], p_channel text,
                                         p_notify text[])
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
BEGIN
  RETURN QUERY
  WITH inserted AS (
    INSERT INTO ${schema}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context)
    SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c, tc::jsonb
    FROM unnest(p_names, p_queues, p_payloads, p_priorities, p_run_ats, p_delays_us, p_max_attempts, p_contexts,
                p_trace_contexts)
         WITH ORDINALITY AS t(n, q, p, pr, ra, d, ma, c, tc, ord)
    ORDER BY ord
    RETURNING id
  )
  SELECT i.id FROM inserted i;
  IF p_channel IS NOT NULL THEN
    PERFORM pg_notify(p_channel, q) FROM unnest(p_notify) AS q;
  END IF;
END
$fn$;
