-- pgqueue migration: each worker records how many jobs of each of its queues it runs at once.
-- ${schema} is replaced by the validated schema name; every statement names it explicitly.
--
-- Read by dashboards (the live workers' slots per queue); nothing in the claim reads it. A nullable
-- column without a default changes only the catalog: instant on any size of workers. Rows written
-- by a release before this migration leave it null.
ALTER TABLE ${schema}.workers ADD COLUMN concurrency integer[];
