-- pgqueue migration: rate limits per concurrency key (docs/flow-control.md, "Rate limits per key").
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Additive and cheap on a large jobs table: three nullable columns without a default on
-- queue_controls (a catalog change only) and a new, empty table. Nothing here touches jobs.

-- Per queue: at most key_rate_limit starts per key_rate_period_ms for each concurrency key, with a
-- bucket of key_rate_burst tokens per key. All three set, or none.
ALTER TABLE ${schema}.queue_controls ADD COLUMN key_rate_limit integer;
ALTER TABLE ${schema}.queue_controls ADD COLUMN key_rate_period_ms bigint;
ALTER TABLE ${schema}.queue_controls ADD COLUMN key_rate_burst integer;
ALTER TABLE ${schema}.queue_controls ADD CONSTRAINT queue_controls_key_rate_check CHECK (
    (key_rate_limit IS NULL AND key_rate_period_ms IS NULL AND key_rate_burst IS NULL)
    OR (key_rate_limit > 0 AND key_rate_period_ms > 0 AND key_rate_burst > 0));

-- One token bucket per (queue, concurrency key) whose bucket is not full; a key without a row has
-- a full bucket (burst tokens). The bucket is one time, empty_at: the time at which it held (or
-- would have held) no token. With the key's token interval I (key_rate_period_ms / key_rate_limit,
-- rounded up to a whole microsecond), the bucket holds (t - empty_at) / I tokens at time t, at most
-- burst plus less than one; a start moves empty_at on by I, for good. A key has no whole token
-- while empty_at > t - I, and its row is full and pruned once empty_at <= t - ((burst + 1) * I - 1
-- microsecond). Rows are read and written only by claims holding the queue's control row lock, so
-- the claims of a queue are serialised over its buckets; nothing waits on these rows.
CREATE TABLE ${schema}.key_rate_buckets (
    queue           text        NOT NULL,
    concurrency_key text        NOT NULL,
    empty_at        timestamptz NOT NULL,
    PRIMARY KEY (queue, concurrency_key)
);

-- The keys of a queue in order of empty_at: the keys without a token (a range at its end, read to
-- compute when the first of them gets one) and the full buckets to prune (a range at its start).
CREATE INDEX key_rate_buckets_empty_idx ON ${schema}.key_rate_buckets (queue, empty_at);
