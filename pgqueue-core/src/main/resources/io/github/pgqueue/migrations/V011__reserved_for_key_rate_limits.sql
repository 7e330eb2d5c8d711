-- pgqueue migration 11 is the key rate limits' (branch keyrate, V011__key_rate_limits.sql). This
-- stand-in only lets migration 12 apply on a branch without it; it is dropped when both are
-- merged, and keyrate's migration 11 takes its place. It changes nothing.
SELECT 1;
