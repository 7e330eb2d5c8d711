-- pgqueue migration 3: a token per claim on jobs, and each worker's own heartbeat settings.
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Every statement here is cheap on a large table: adding a nullable column without a default
-- only changes the catalog (no rewrite, no scan), so this runs in milliseconds whatever the size
-- of jobs. No constraint is added on jobs.lock_token: processes of the previous release keep
-- running during a rolling deploy, and their claims do not set it while their releases and
-- rescues do not clear it, so "set iff running" would make their writes fail. pgqueue itself
-- always sets and clears lock_token together with locked_by.

-- The claim that holds a running job, unique per (locked_by, lock_token): a counter kept by the
-- worker process, which never repeats for one registration, even across a database crash.
-- Every outcome write and release is guarded by (id, locked_by, lock_token).
ALTER TABLE ${schema}.jobs ADD COLUMN lock_token bigint;

-- Each worker's own heartbeat interval and stale threshold, in milliseconds. A worker is judged
-- by its own threshold, never by the rescuer's. NULL (a row of an older process) counts as the
-- default threshold of 30 seconds.
ALTER TABLE ${schema}.workers
    ADD COLUMN heartbeat_ms   bigint,
    ADD COLUMN stale_after_ms bigint,
    ADD CONSTRAINT workers_heartbeat_ms_check   CHECK (heartbeat_ms IS NULL OR heartbeat_ms > 0),
    ADD CONSTRAINT workers_stale_after_ms_check CHECK (stale_after_ms IS NULL OR stale_after_ms > 0);
