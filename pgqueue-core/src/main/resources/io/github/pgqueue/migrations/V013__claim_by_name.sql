-- pgqueue migration: the claim by name's index (docs/performance.md, "Big, old tables").
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Additive: one index. A worker whose queue holds many due jobs of names it does not handle
-- (another worker type's, or a name no worker handles yet) claims name by name through it, so
-- those jobs cost its claims nothing; THE CLAIM, through jobs_fetch_idx, would read each of them.
-- Like jobs_fetch_idx it holds available rows only: a claim moves a row out of it, and the enqueue
-- pays one more index entry (measured in docs/performance.md). Building it scans jobs under a
-- SHARE lock (enqueues, claims and outcome writes wait for the scan): on a large, busy table create
-- it first with CREATE INDEX CONCURRENTLY, as docs/schema.md shows; IF NOT EXISTS then finds it.
CREATE INDEX IF NOT EXISTS jobs_name_fetch_idx ON ${schema}.jobs (queue, name, priority DESC, run_at, id)
    WHERE state = 'available';
