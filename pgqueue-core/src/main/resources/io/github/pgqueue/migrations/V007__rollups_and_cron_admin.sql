-- pgqueue migration: per-minute throughput rollups written by workers, and what the cron admin
-- (pgqueue-cron's CronAdmin) needs in cron_schedules.
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Cheap on a large jobs table: a new small table, and nullable or defaulted columns on
-- cron_schedules (one row per schedule; a constant default is a catalog change only). Nothing
-- here touches jobs.

-- Job outcomes counted per minute, for charts that must never read the jobs table. Each worker
-- counts its outcomes in memory and adds them here in one upsert at most every flush interval
-- (10 s by default), on a pool connection of its own, never per job and never in the statements
-- of the completer or the heartbeat. A key gets a row per worker so that concurrent flushes of
-- different workers never wait on each other's row locks; readers sum over worker.
CREATE TABLE ${schema}.job_rollups (
    -- date_trunc('minute', now()) of the flush that wrote the counts, by the database clock.
    minute   timestamptz NOT NULL,
    queue    text        NOT NULL,
    name     text        NOT NULL,
    -- The JobEvent kind, lowercased: succeeded, retried (a failed attempt that will run again),
    -- discarded, cancelled, snoozed, rescued.
    outcome  text        NOT NULL,
    -- The id of the worker that counted them (workers.id, as text); the row may outlive it.
    worker   text        NOT NULL,
    count    bigint      NOT NULL,
    -- minute leads the key: the dashboard reads "the last hour / day" and pruning deletes "older
    -- than 8 days", both ranges on minute, so the primary key serves both and no other index is
    -- needed.
    PRIMARY KEY (minute, queue, name, outcome, worker),
    CONSTRAINT job_rollups_outcome_check
        CHECK (outcome IN ('succeeded', 'retried', 'discarded', 'cancelled', 'snoozed', 'rescued')),
    CONSTRAINT job_rollups_count_check CHECK (count >= 0)
);

-- What the cron admin shows and controls. Rows written by an older pgqueue-cron keep NULL in the
-- descriptive columns until a current process registers the schedule again.
ALTER TABLE ${schema}.cron_schedules
    -- The catch-up policy of the registering process: 'one', 'skip' or 'all(N)'.
    ADD COLUMN catch_up             text,
    -- The job every firing enqueues: its name and queue (the payload is computed per firing by
    -- the cron process and cannot be stored).
    ADD COLUMN job_name             text,
    ADD COLUMN job_queue            text,
    -- False: no cron process claims a firing of this schedule (the claim checks it), fleet-wide.
    ADD COLUMN enabled              boolean     NOT NULL DEFAULT true,
    -- A pending "trigger now" request (database time it was made). A cron process that runs the
    -- schedule clears it in the transaction that enqueues the job, so it is served exactly once.
    ADD COLUMN trigger_requested_at timestamptz,
    -- Database time of the last served "trigger now".
    ADD COLUMN last_triggered_at    timestamptz;
