-- pgqueue migration: claim_controlled_v2, the claim of a queue whose control row sets at most a
-- pause and a global concurrency limit, in one statement on every connection (prepared statements
-- or not). ${schema} is replaced by the validated schema name.
--
-- What changed from claim_controlled_v1 (V010):
-- 1. The global limit's count leaves out the calling worker's own jobs whose handlers have
--    returned and whose outcomes are still on their way to the database (p_finished_ids and
--    p_finished_tokens, index by index; the job must still be held by that worker under that
--    claim token, so a job claimed again since is counted). The limit bounds the handler runs; a
--    row not yet deleted is not a run. Without this, a worker with fast handlers found its own
--    last batch still counted at every claim, so each claim took about half of the limit: with a
--    limit of 100 at concurrency 20, 45 jobs per claim against 93 without the limit, and 52-54% of
--    the unlimited throughput; with it, 95 jobs per claim and 77-78% before the claim went to one
--    statement (docs/flow-control.md, "Global concurrency limit per queue").
-- 2. A row that sets a per-key rate limit (key_rate_limit, V011) is handed back as CONTROLS too;
--    v1 predates that column and relies on its callers to keep such queues away.
-- 3. It is called on its own, in autocommit: the row lock is then held until that statement's
--    transaction commits, which is when the claim commits, so it is one round trip. A CONTROLS
--    verdict then ends the call having claimed nothing; the caller claims again with the
--    statements in a transaction.
--
-- claim_controlled_v1 stays: processes of the previous release call it during a rolling deploy.
-- Additive: one new function; nothing here touches a table.
CREATE FUNCTION ${schema}.claim_controlled_v2(p_queue text, p_names text[], p_owner bigint, p_want integer,
                                              p_token bigint, p_finished_ids bigint[], p_finished_tokens bigint[])
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
  RETURN QUERY SELECT c.*, v_held, v_free FROM ${schema}.claim_v1(p_queue, p_names, p_owner, v_free, p_token) c;
  GET DIAGNOSTICS v_got = ROW_COUNT;
  IF v_got = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::text, NULL::integer, NULL::integer, NULL::smallint,
                        NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::boolean, NULL::text,
                        NULL::timestamptz, 'NO'::text, v_free;
  END IF;
END
$fn$;
