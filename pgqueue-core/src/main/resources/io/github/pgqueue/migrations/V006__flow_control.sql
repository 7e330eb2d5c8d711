-- pgqueue migration: flow control (pause and resume, global concurrency limits, rate limits).
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Cheap on a large jobs table: a new small table, and a nullable column without a default on
-- workers (a catalog change only). Nothing here touches jobs.

-- One row per controlled queue. A queue without a row, or whose row sets nothing, takes the
-- ordinary claim. The claim of a controlled queue locks its row (FOR UPDATE SKIP LOCKED, never
-- waiting), then counts the queue's running rows in a later statement: the count is derived from
-- the jobs, never kept here, so rescue, cancel or hand-written SQL cannot make it drift.
CREATE TABLE ${schema}.queue_controls (
    queue          text        PRIMARY KEY,
    -- Paused: no worker claims from the queue (enqueue still works).
    paused         boolean     NOT NULL DEFAULT false,
    paused_at      timestamptz,
    -- At most this many jobs of the queue running at once, across all workers.
    max_running    integer,
    -- At most rate_limit starts per rate_period_ms, with a bucket of rate_burst tokens, refilled
    -- continuously. tokens and tokens_at (database clock) are the bucket; a start takes a token
    -- for good.
    rate_limit     integer,
    rate_period_ms bigint,
    rate_burst     integer,
    tokens         double precision,
    tokens_at      timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queue_controls_queue_check       CHECK (length(queue) BETWEEN 1 AND 100),
    CONSTRAINT queue_controls_paused_at_check   CHECK (paused = (paused_at IS NOT NULL)),
    CONSTRAINT queue_controls_max_running_check CHECK (max_running IS NULL OR max_running > 0),
    CONSTRAINT queue_controls_rate_check        CHECK (
        (rate_limit IS NULL AND rate_period_ms IS NULL AND rate_burst IS NULL)
        OR (rate_limit > 0 AND rate_period_ms > 0 AND rate_burst > 0
            AND tokens IS NOT NULL AND tokens_at IS NOT NULL))
)
-- Rate-limited claims update one row each; no indexed column changes, so the update stays a
-- heap-only tuple with free space on the page.
WITH (fillfactor = 50);

-- The paused queues this worker has seen and acted on: it claims nothing from them, released
-- what it had buffered, and every job it started before had started when it wrote this.
ALTER TABLE ${schema}.workers ADD COLUMN paused_queues text[];
