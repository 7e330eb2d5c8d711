-- pgqueue migration: progress that handlers record on their running jobs.
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- A table of its own, never a column of jobs: progress is written while a job runs, and every
-- update of a jobs row writes a new version into every index of the hottest table. Creating an
-- empty table is cheap whatever the size of jobs.
--
-- No foreign key to jobs: a cascade would add a lookup here to every job deletion, the hot path
-- of every job whether it records progress or not. Rows whose job is gone are pruned by the
-- workers in small batches instead.
CREATE TABLE ${schema}.job_progress (
    -- The job (jobs.id).
    job_id      bigint      PRIMARY KEY,
    -- The attempt that recorded it.
    attempt     integer     NOT NULL CHECK (attempt >= 1),
    -- The handler's data, JSON. pgqueue limits it to 8 KiB as encoded; the check is a backstop
    -- for hand-written rows (jsonb's text form spaces out what the library wrote compactly).
    data        jsonb       NOT NULL CHECK (octet_length(data::text) <= 65536),
    -- Database time of the last write.
    updated_at  timestamptz NOT NULL DEFAULT now()
);
