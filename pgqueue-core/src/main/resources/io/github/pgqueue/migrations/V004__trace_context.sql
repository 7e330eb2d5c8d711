-- pgqueue migration 4: the enqueuing code's W3C trace context, in a column of its own.
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Cheap on a large table: a nullable column without a default only changes the catalog (no
-- rewrite, no scan). No constraint is added (a CHECK would scan the table); pgqueue validates the
-- value before writing it, and reads back anything else as "no trace context". Processes of the
-- previous release keep working during a rolling deploy: they neither write nor read it.

-- {"traceparent": "00-<trace id>-<parent id>-<flags>", "tracestate": "..."} (tracestate only when
-- set), written at enqueue, never changed afterwards: a deduplicated enqueue leaves the stored
-- job's value alone, and retries, snoozes and rescues keep it. NULL when the enqueuing code had
-- no trace context (or no tracing integration is installed).
ALTER TABLE ${schema}.jobs ADD COLUMN trace_context jsonb;
