-- pgqueue migration 2: the cron schedule registry of pgqueue-cron.
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.

-- One row per cron schedule name ever registered. Each firing is claimed by moving last_fired
-- forward to the scheduled instant in the same transaction as the job's enqueue, so the row is
-- the guard that makes a firing happen once however many cron processes run. It outlives the
-- job: a fast worker deleting the job cannot let a lagging cron process fire the same instant
-- again. Rows of schedules removed from the code simply stay.
CREATE TABLE ${schema}.cron_schedules (
    name        text        PRIMARY KEY,
    -- Canonical text of the schedule, e.g. 'cron 0 3 * * * Europe/Berlin' or 'every PT1M'. A
    -- process whose definition differs from the stored one claims nothing for this name.
    definition  text        NOT NULL,
    -- Anchor of an interval schedule's grid (origin + k * interval), so that every process
    -- computes the same instants. Set at first registration and when the definition changes.
    origin      timestamptz NOT NULL,
    -- The last scheduled instant claimed. Only ever moves forward.
    last_fired  timestamptz NOT NULL,
    -- Database time of the last write (registration, definition change or firing).
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cron_schedules_name_check       CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT cron_schedules_definition_check CHECK (length(definition) BETWEEN 1 AND 2000),
    CONSTRAINT cron_schedules_fired_check      CHECK (last_fired >= origin)
)
-- Every firing updates one row; no indexed column changes, so with free space on the page the
-- update stays a heap-only tuple and the table does not bloat between vacuums.
WITH (fillfactor = 50);
