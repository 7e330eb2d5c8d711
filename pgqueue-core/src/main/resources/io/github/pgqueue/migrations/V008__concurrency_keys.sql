-- pgqueue migration: per-key concurrency limits and fairness between keys (docs/flow-control.md).
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Additive. The two columns are nullable without a default (a catalog change only). The two
-- indexes hold keyed rows only (concurrency_key IS NOT NULL), so jobs enqueued without a key never
-- enter them and a queue that uses no key pays nothing for them. Building them scans jobs under a
-- SHARE lock (inserts and claims wait for the build): on a large, busy table create them first
-- with CREATE INDEX CONCURRENTLY, as docs/schema.md shows; the IF NOT EXISTS clauses then find them.

-- The key a job's concurrency is counted under (a tenant, an account, a remote host), and its
-- place in the fair fetch order, decided at enqueue: the key's next rank, never lower than the
-- queue's head rank. Both null for a job enqueued without a key.
ALTER TABLE ${schema}.jobs ADD COLUMN IF NOT EXISTS concurrency_key text;
ALTER TABLE ${schema}.jobs ADD COLUMN IF NOT EXISTS key_rank bigint;
ALTER TABLE ${schema}.jobs ADD CONSTRAINT jobs_concurrency_key_check
    CHECK (concurrency_key IS NULL OR length(concurrency_key) BETWEEN 1 AND 500) NOT VALID;

-- The fair claim's index: keyed available jobs of one queue in fair order (key_rank first), so a
-- key with a deep backlog has at most one job per rank ahead of a new key's first.
CREATE INDEX IF NOT EXISTS jobs_key_fetch_idx ON ${schema}.jobs (queue, key_rank, priority DESC, run_at, id)
    WHERE state = 'available' AND concurrency_key IS NOT NULL;

-- Per key: the running jobs (the claim counts them after the queue's control row is locked) and
-- the last rank of its available jobs (the enqueue reads the key's next rank from it).
CREATE INDEX IF NOT EXISTS jobs_key_idx ON ${schema}.jobs (queue, state, concurrency_key, key_rank)
    WHERE concurrency_key IS NOT NULL AND state IN ('available', 'running');

-- Per queue: at most key_max_running jobs of one key running at once, and whether claims take
-- turns across keys (the fair fetch order).
ALTER TABLE ${schema}.queue_controls ADD COLUMN key_max_running integer;
ALTER TABLE ${schema}.queue_controls ADD COLUMN key_fair boolean NOT NULL DEFAULT false;
ALTER TABLE ${schema}.queue_controls ADD CONSTRAINT queue_controls_key_max_running_check
    CHECK (key_max_running IS NULL OR key_max_running > 0);
