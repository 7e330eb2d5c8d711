package io.github.pgqueue;

import io.github.pgqueue.internal.HealthSql;
import io.github.pgqueue.internal.Identifiers;

/**
 * Every SQL statement pgqueue-core runs, in one place, built once per schema. The schema name is
 * the only value interpolated into the text, and it was validated as a lowercase identifier;
 * everything else is a bind parameter. {@link JobStore} runs them.
 */
final class Sql {

  final String schema;
  /** The NOTIFY channel of this schema; its payload is the queue name. */
  final String channel;

  // ---- enqueue -------------------------------------------------------------------------------

  /**
   * Columns bound by every insert, in this order: name, queue, payload (JSON text), priority,
   * run_at (null for "now + delay"), delay in microseconds, max_attempts, context, trace_context
   * (JSON text or null).
   */
  final String insertJob;
  /**
   * {@link #insertJob} plus a NOTIFY in the same statement, so an autocommit enqueue is one round
   * trip. These four are also the body of the functions {@code enqueue_v1} and {@code enqueue_v2}
   * ({@link #enqueueFn}).
   */
  final String insertJobNotify;
  /**
   * As {@link #insertJob}, with a unique key as the 10th parameter; a duplicate inserts nothing (so
   * the waiting job's context and trace context stay as they were).
   */
  final String insertUniqueJob;
  final String insertUniqueJobNotify;
  /** The pending or running job holding (name, unique_key). */
  final String findUnique;

  /**
   * Bulk insert of unkeyed rows without a concurrency key, in input order, so the returned ids
   * ascend with the input. Binds only what the batch uses: first five scalars, the name, queue,
   * priority, max_attempts and context shared by every row (or null), then the nine arrays of
   * {@link #insertJob}'s columns, of which only the payloads must hold a row each. Any other array
   * may be empty ({@code '{}'}), which {@code unnest} pads with nulls: a null name, queue,
   * priority, max_attempts or context takes the scalar, a null delay is 0. So a batch whose rows
   * share a name, a queue, a priority, max_attempts and a context and leave run_at, delay and trace
   * context at their defaults (the common batch) sends one array; a mixed batch sends the arrays it needs. One
   * statement text, with types fixed (an empty array is still a typed array), so a connection
   * keeps one server-side prepared statement for every shape of batch. Binding nine full arrays
   * cost 6% at 1,000 rows and 16% at 10,000 (docs/performance.md, "Bulk enqueue: the methods").
   *
   * <p>The function {@code enqueue_all_v1} ({@link #enqueueAllFn}) is the same insert with every
   * array bound in full; {@link JobStore} calls it that way.
   */
  final String insertJobs;
  /**
   * {@link #insertJobs} plus one NOTIFY per queue in a trailing array parameter, in the same
   * statement: an unkeyed batch is one round trip in autocommit. Returns the ids in column 1 (and
   * the count of NOTIFYs beside each).
   */
  final String insertJobsNotify;
  /** Bulk insert of keyed rows in (name, key) order, so concurrent batches lock keys in one order. */
  final String insertUniqueJobs;
  /** The pending or running jobs holding the given (name, unique_key) pairs. */
  final String findUniques;
  /** One NOTIFY per queue name in the array. */
  final String notifyQueues;

  /**
   * The inserts of jobs that carry a concurrency key ("Ck"): as {@link #insertJob}, {@link
   * #insertJobNotify}, {@link #insertUniqueJob} and {@link #insertUniqueJobNotify}, plus the key
   * and its rank ({@link #KEY_RANK}). After the usual parameters (and the unique key): the
   * concurrency key, then queue, key, queue for the rank. Jobs without a key keep the
   * statements above, unchanged.
   */
  final String insertJobCk;
  final String insertJobCkNotify;
  final String insertUniqueJobCk;
  final String insertUniqueJobCkNotify;
  /**
   * Bulk inserts of a batch that holds a concurrency key: as {@link #insertJobs} and {@link
   * #insertUniqueJobs} with a trailing array of keys (null for a row without one). Rows of one key
   * in a batch take consecutive ranks from the key's next rank, in batch order.
   */
  final String insertJobsCk;
  final String insertUniqueJobsCk;

  // ---- worker: claim, complete, settle --------------------------------------------------------

  /**
   * THE CLAIM. Takes up to n due jobs of one queue, only names this worker handles, in claim order
   * (priority DESC, run_at, id), skipping rows another worker is claiming, and marks them running
   * under this worker's id in the same statement. One round trip per batch.
   *
   * <p>The claim alone commits without waiting for its WAL flush ({@code synchronous_commit = off}
   * for this statement's transaction, set inside the statement so the caller's connection is left
   * as it was). Losing a claim to a server crash only puts the job back to available with its old
   * attempt count: it runs again (delivery is at-least-once anyway), and the late outcome of the
   * lost attempt matches no row. Nothing is lost and nothing stays locked. Every other write
   * (enqueue, outcomes, rescue) keeps the server's durability setting: a lost outcome could leave a
   * job "running" under a live worker. On this kind of 2-core box the flush is most of a claim's
   * time: 4.0 ms against 1.35 ms for 50 jobs (pgbench, see docs/performance.md).
   *
   * <p>Each claim stamps its rows with its own token ({@code lock_token}), a counter of the
   * worker process: (locked_by, lock_token) names one claim, and every outcome write and release
   * is guarded by it. A snooze or release gives the attempt back, so (id, attempt, owner) can
   * repeat for the same worker; the token cannot. It is not a database sequence: the claim
   * commits asynchronously, so after a crash a sequence could hand out a value again.
   *
   * <p>The claim takes nothing when this worker's own row is older than half its stale threshold
   * by the database clock (a primary-key lookup, evaluated once): its peers may soon judge it dead
   * and rescue whatever it holds. An available row with no attempt left ({@code attempt =
   * max_attempts}, only reachable by hand-written SQL) is discarded with a recorded error instead
   * of claimed, so one such row never makes the queue's claims fail; RETURNING reports it with
   * its new state, and the caller does not run it.
   *
   * <p>RETURNING ends with {@code now()}, the claim's time by the database clock: with the job's
   * {@code run_at} it dates the attempt's pickup delay without another round trip or trusting the
   * worker's clock.
   *
   * <p>Parameters: queue, names (text[]), worker id, limit, worker id, token.
   *
   * <p>What a worker runs is the same claim as the body of the function {@code claim_v2} (migration
   * V015), through {@link #claimFn}, on every connection: there the update finds the claimed rows
   * by primary key from the array of their ids alone, and reads whether each may run from the row
   * it updates, because the function's cached generic plan could otherwise join the rows to that
   * array quadratically (V015 says when; {@code claim_v1} of V010 did), and it is planned with
   * sequential and bitmap scans and (since V016) sorts off: with sorts allowed, in a table of many
   * queues and names, the generic plan read all of the queue's due jobs through
   * jobs_name_fetch_idx and sorted them. As a prepared statement this text kept the generic plan
   * PostgreSQL made at its sixth execution on a connection until the table's statistics changed:
   * made on a near-empty queue, that plan read and sorted the whole queue once it had grown (see
   * {@code HotPathFunctionsTest}). The statement itself stays the readable form of the claim,
   * the base of {@link #claimAfter} and {@link #claimByName}, and what the benchmark's ceiling of
   * one round trip runs.
   */
  final String claim;
  /**
   * THE CLAIM BY NAME: THE CLAIM, with its rows taken name by name through jobs_name_fetch_idx
   * ({@code (queue, name, priority DESC, run_at, id)} of available rows), for a worker whose queue
   * holds many due jobs of names it does not handle (see {@link #foreignJobs} and {@link
   * Fetcher#FOREIGN_JOBS_FOR_BY_NAME}). THE CLAIM walks the queue in claim order and reads every
   * such job ahead of its own, one heap visit each (100,000 of them made a claim of 20 seventeen
   * times slower); this claim never reads a row of another name. Costlier than THE CLAIM when there
   * are no such jobs (one index descent per handled name, twice), so it is not the default. Two
   * passes, in one statement:
   *
   * <ol>
   *   <li>{@code shares}: each handled name's first n due jobs in claim order (n index entries
   *       each, no lock), merged, the first n kept and counted per name: how many of the batch
   *       each name gives;
   *   <li>{@code claimable}: per name, that many of its due jobs in claim order, locked {@code FOR
   *       UPDATE SKIP LOCKED}: a row another claim holds is walked past, as THE CLAIM does, so
   *       the batch stays full; at most n rows are locked in all.
   * </ol>
   *
   * <p>Without concurrent claims it takes exactly THE CLAIM's jobs. While another claim holds some
   * of them, each name still gives its share, in that name's claim order. Then THE CLAIM's update,
   * word for word. Parameters as {@link #claim}. A worker runs it as the function {@code
   * claim_by_name_v1} ({@link #claimByNameFn}), planned as {@code claim_v2} is; as a prepared
   * statement it had THE CLAIM's defect (see {@link #claim}).
   */
  final String claimByName;
  /**
   * THE CURSOR CLAIM: THE CLAIM, starting after the last job this fetcher claimed instead of at the
   * head of the queue, for a queue whose head is full of index entries no scan may skip (see {@link
   * #deadHead}). Every claimed job leaves its entry in jobs_fetch_idx until vacuum removes it;
   * while a transaction older than those rows is open, neither vacuum nor the scan itself can drop
   * them, and THE CLAIM, starting at the head, reads each one (a heap visit; ten minutes of a
   * REPEATABLE READ transaction made a claim of 20 ten times slower, docs/performance.md). Three
   * branches, read in order, each only if those before it came back short:
   *
   * <ol>
   *   <li>higher priorities than the cursor's, in claim order (from the head: a job of a higher
   *       priority never waits for the cursor);
   *   <li>the cursor's priority, {@code (run_at, id)} after the cursor's: one index descent to the
   *       cursor, then the rows behind it in claim order;
   *   <li>lower priorities, in claim order.
   * </ol>
   *
   * <p>So it takes THE CLAIM's jobs except those of the cursor's priority that became visible
   * behind it (a transaction that enqueued them committed after the cursor passed their {@code
   * run_at}, a rescue, a rolled-back claim). Those wait for the next claim from the head, which the
   * fetcher runs at least every {@link ClaimCursor#RESET_NANOS}. Then THE CLAIM's update, word for
   * word. Parameters: queue, names, cursor priority, limit; queue, names, cursor priority, cursor
   * run_at, cursor id, limit; queue, names, cursor priority, limit; worker id, limit, worker id,
   * token. A worker runs it as the function {@code claim_after_v1} ({@link #claimAfterFn}), planned
   * as {@code claim_v2} is; as a prepared statement it had THE CLAIM's defect (see {@link #claim}).
   */
  final String claimAfter;
  /**
   * The dead head of a queue: reads THE CLAIM's first n due rows through jobs_fetch_idx, without
   * locking them, between two readings of {@link #deadHeadCount} in one transaction. Parameters:
   * queue, names (text[]), n (the claim's size: a claim walks the dead entries among its rows too,
   * not only those ahead of the first).
   */
  final String deadHead;
  /**
   * The dead head of a queue, read before and after {@link #deadHead}: the index entries this
   * backend's scans of jobs_fetch_idx (or jobs_name_fetch_idx, which the planner may take for one
   * name) read whose rows were not visible (entries returned minus live rows fetched, from the
   * statistics counters the backend has not reported yet). The difference is how many entries a
   * claim of n from the head walks. Also turns sequential and bitmap scans off for
   * the rest of the transaction: on a queue with few live rows the planner would read the head
   * from the table and see no index entry at all, though the claim's cached plan walks them.
   * Entries a scan found dead to every
   * transaction are marked and later scans skip them without a heap visit; the count is of those it
   * could not mark, which only an old snapshot keeps. The marked ones still cost their pages: the
   * second column is the index pages the backend's scans read (buffer accesses), so that a head
   * made of marked entries shows as pages (a drain of a million jobs between two autovacuum runs
   * left 3,400 such pages, 15 ms a claim, docs/performance.md).
   */
  final String deadHeadCount;
  /**
   * Whether THE CLAIM BY NAME pays on a queue: how many due jobs of names outside the given ones
   * the queue holds, counted up to a bound. Enumerates the queue's names by skipping through
   * jobs_name_fetch_idx (one index descent per name present), then counts each other name's due
   * jobs until the bound is reached. The skip steps compare the queue with a sub-select of
   * {@code args} (a parameter of the plan) so that it is an index condition and the index gives
   * the names in order; joined to {@code args}, the planner read every available entry of the
   * queue and sorted them (0.3-0.6 s a call on a backlog of 300,000 jobs, every 10 s per fetcher,
   * docs/performance.md). Parameters: queue, names (text[]), bound.
   */
  final String foreignJobs;
  /**
   * After a claim whose reply was lost (the connection broke after PostgreSQL committed it, or may
   * still commit it), the worker holds jobs it never saw. Releases the running jobs this worker
   * holds under the tokens of those lost claims; they never started, so the attempt is given back.
   * Parameters: worker id, tokens (bigint[]).
   */
  final String releaseLostClaims;
  /**
   * Success: delete, guarded by (id, lock owner, claim token) so a late or replayed result of an
   * earlier claim changes nothing. Also the body of the function {@code complete_v1} ({@link
   * #completeFn}).
   */
  final String complete;
  /**
   * Every other outcome (retry, discard, snooze, release), from parallel arrays: id, owner, claim
   * token, new state, delay in microseconds, attempts to refund (1 for snooze and release), error
   * object as JSON text or null. Guarded as {@link #complete}. Keeps the newest {@link
   * JobError#KEPT_PER_JOB} errors. Also the body of the function {@code settle_v1} ({@link
   * #settleFn}).
   */
  final String settle;
  /**
   * The guarded completion of a transactional handler, run last in the handler's own transaction:
   * deletes the job if the claim that ran it still holds it. Parameters: id, owner, token.
   */
  final String completeHeld;
  /**
   * After a transactional commit whose reply was lost: whether the claim still holds the job, so
   * the commit did not happen. {@code FOR UPDATE} waits until the lost session's transaction has
   * ended (committed or rolled back), so the answer is final. Parameters: id, owner, token.
   */
  final String claimStillHeld;

  /**
   * Records a running job's progress, guarded by its claim: writes nothing unless (id, owner,
   * token) still holds the job. Parameters: data (JSON text), id, owner, token. Returns a row when
   * written.
   */
  final String writeProgress;
  /** Deletes up to 1,000 progress rows whose job is gone (finished, deleted or pruned). */
  final String pruneProgress;

  // ---- the hot statements as functions (migration V010) -----------------------------------------

  /*
   * Behind a pooler that cannot keep server-side prepared statements (the connection's
   * prepareThreshold is 0 or less; see JobStore#unprepared), PostgreSQL would parse and plan every
   * statement above on every execution. These call the PL/pgSQL functions of migration
   * V010__hot_path_functions.sql instead (and for the claims those of V015__claim_v2.sql and
   * V016__claim_plans.sql): each
   * function is the statement it names, word for word but for the bind parameters (the claim's
   * update excepted, see {@link #claim}), and PL/pgSQL keeps its plan per backend. A change to one of those
   * statements must add a function with the next version (claim_v2 next to claim_v1, never a
   * replaced body: processes of the previous release still call the old one during a deploy).
   */

  /**
   * {@link #claim} as {@code claim_v2} (V015), what a worker's claim from the head runs on every
   * connection, prepared statements or not: its plan stays an index walk in claim order whatever
   * the statistics said when a backend first planned it, and it measured faster than the prepared
   * statement (docs/performance.md). Parameters: queue, names, worker id, limit, token.
   */
  final String claimFn;
  /**
   * {@link #claimAfter} as {@code claim_after_v1} (migration V016), on every connection, for the
   * reason {@link #claimFn} is. Parameters: queue, names, cursor priority, cursor run_at, cursor
   * id, worker id, limit, token.
   */
  final String claimAfterFn;
  /**
   * {@link #claimByName} as {@code claim_by_name_v1} (migration V016), on every connection, for the
   * reason {@link #claimFn} is. Parameters: queue, names, worker id, limit, token.
   */
  final String claimByNameFn;
  /**
   * {@link #lockControl}, {@link #countRunningExcept} and {@link #claim} as one call of {@code
   * claim_controlled_v3} (migration V015; {@code claim_controlled_v2} of V014 called {@code
   * claim_v1}), for a queue whose control row sets at most a pause and
   * a global limit, on every connection ({@link JobStore#claimControlledAtOnce}): the claim's
   * columns, then the verdict and the free starts asked for. Parameters: queue, names, worker id,
   * jobs wanted, token, the worker's finished ids and their tokens.
   */
  final String claimControlledFn;
  /** {@link #complete} as {@code complete_v1}; returns the rows deleted. */
  final String completeFn;
  /** {@link #settle} as {@code settle_v1}; returns the rows changed. */
  final String settleFn;
  /**
   * {@link #insertJob}, {@link #insertUniqueJob} and their NOTIFY variants as {@code enqueue_v2}
   * (migration V012; {@code enqueue_v1} of V010 is the same body with {@code plan_cache_mode =
   * force_generic_plan}, a setting that cost 20-45% of each call's server time in pgbench and
   * that an INSERT of one row does not need): the columns of {@link #insertJob}, then the unique key (or null) and the
   * channel (or null for no NOTIFY). Returns the id, or null when the unique key is held.
   */
  final String enqueueFn;
  /**
   * {@link #insertJobs} and {@link #insertJobsNotify} as {@code enqueue_all_v1}: the arrays of
   * {@link #insertJobs}, then the channel (or null) and the queues to notify.
   */
  final String enqueueAllFn;

  // ---- throughput rollups ---------------------------------------------------------------------

  /**
   * Adds one worker's outcome counts to the current minute (database clock). Parameters: worker id
   * (text), then arrays of queue, name, outcome and count of equal length, one element per key.
   */
  final String upsertRollups;
  /** Deletes up to 1,000 rollup rows older than 8 days, skipping rows another pruner holds. */
  final String pruneRollups;
  /**
   * Sums the rollups over workers, per bucket of whole minutes. Parameters: bucket seconds (three
   * times), window seconds.
   */
  final String throughput;

  // ---- worker registry, heartbeat, rescue, prune ----------------------------------------------

  /**
   * Registers a worker with its own heartbeat interval and stale threshold (ms). Committed durably
   * even where the server runs {@code synchronous_commit = off}: the id is half of every claim
   * token, and a registration lost to a crash would let the identity hand the same id out again.
   */
  final String registerWorker;
  final String heartbeat;
  final String deregisterWorker;
  /**
   * Returns running jobs to the queue (or discards them if that was their last attempt; the lost
   * attempt counts) when their lock owner is dead by its own stale threshold: no row, or a
   * heartbeat older than the threshold stored on its row (the default for rows without one). Only
   * owners whose threshold is at most the given time (ms) the rescuer has itself been heartbeating
   * without a gap are judged: after an outage every live worker gets its own threshold to
   * heartbeat again. Up to 1,000 jobs per statement.
   */
  final String rescue;
  /** Deletes the rows of workers dead by their own threshold, judged as in {@link #rescue}. */
  final String deleteStaleWorkers;
  /**
   * Deletes up to 1,000 discarded jobs older than the retention (ms), oldest first. The ids are
   * collected into an array so the delete looks each one up by primary key; with {@code IN
   * (subquery)} the planner chose a scan of the whole table per batch (measured: 50-130 ms per
   * batch of 1,000 on a 200,000-row backlog, against a few ms).
   */
  final String pruneDiscarded;

  // ---- flow control (see docs/flow-control.md) ------------------------------------------------

  /** The NOTIFY payload that tells workers to read {@link #controls} again; never a queue name. */
  static final String CONTROLS_CHANGED = "!controls";

  /**
   * Every controlled queue: queue, paused, max_running, rate_limit, rate_period_ms, rate_burst,
   * key_max_running, key_fair, key_rate_limit.
   */
  final String controls;
  /**
   * Pauses a queue (creating its row) and tells the workers, in one statement. Parameters: queue,
   * channel. Returns one row.
   */
  final String pauseQueue;
  /** Clears the pause of a queue. Parameter: queue. */
  final String resumeQueue;
  /**
   * Sets (or clears, with a null) the global concurrency limit of a queue, creating its row.
   * Parameters: queue, limit.
   */
  final String setMaxRunning;
  /**
   * Sets (or clears, with nulls) the rate limit of a queue, creating its row; a new limit starts
   * with a full bucket. Parameters: queue, starts, period ms, burst.
   */
  final String setRateLimit;
  /** Deletes the row of a queue that no longer sets any control. Parameter: queue. */
  final String deleteIdleControl;
  /** The paused queues this worker has seen and acted on. Parameters: queue names, worker id. */
  final String ackPaused;
  /**
   * Step 1 of the controlled claim: the queue's row, locked without waiting ({@code SKIP LOCKED}):
   * no row when another claim of the queue holds it (or the queue has no row). Returns paused,
   * max_running, and the bucket refilled to the statement's clock (tokens, or null without a rate
   * limit), with that clock. Turns sequential and bitmap scans off for the rest of the transaction,
   * so that the claim statements after it are planned as index walks in claim order as {@code
   * claim_v2} is, whatever the statistics said when a connection first planned them. Parameter: queue. With {@link #countRunningExcept} and {@link #claim},
   * also the body of the function {@code claim_controlled_v3} ({@link #claimControlledFn}).
   */
  final String lockControl;
  /** Whether the queue has a control row (after {@link #lockControl} found none). Parameter: queue. */
  final String controlExists;
  /**
   * Step 2 of the controlled claim, in a later statement than the lock (so its snapshot sees
   * every claim committed before the lock was granted): the queue's running jobs, from the rows,
   * through the partial index of running jobs, counted up to the limit (no more is needed).
   *
   * <p>It must walk the index (an index scan), never build a bitmap of it: every finished job
   * leaves a dead entry in that index until vacuum; an index scan marks the entries it finds dead
   * so the next scan skips them, a bitmap heap scan visits them all, on every claim. On a table
   * not analyzed since it was created the generic plan was such a bitmap scan (2-3 ms per claim
   * after 20,000 jobs; the limited queue ran at a quarter of the unlimited one's throughput), so
   * {@link #lockControl}, the statement before it in the same transaction, turns bitmap scans off
   * for the rest of that transaction ({@code set_config(..., true)}). Parameters: queue, limit.
   */
  final String countRunning;
  /**
   * {@link #countRunning} without the calling worker's own jobs whose handlers have returned and
   * whose outcomes are on their way to the database (the completer has not written them yet): the
   * count then bounds the handler runs, which is what the limit promises, rather than the rows not
   * yet written. Only the jobs still held by the same claim are left out (id, worker and claim
   * token), so a job claimed again since is counted. Parameters: queue, worker, ids, tokens, limit.
   */
  final String countRunningExcept;
  /**
   * Step 4: the bucket after a claim that took tokens. Parameters: tokens left, the time they
   * were computed at, queue.
   */
  final String takeTokens;

  // ---- per-key concurrency and fairness (the keyed claim) --------------------------------------

  /**
   * THE KEYED CLAIM with fairness on (a queue with a per-key limit or fairness; see {@link
   * JobStore#claimKeyed} and docs/flow-control.md). Runs after {@link #lockControl} in the same
   * transaction, so its snapshot sees every claim of the queue committed before that lock. In one
   * statement:
   *
   * <ol>
   *   <li>{@code running}: each key's running jobs, from the rows (at most the queue's running jobs
   *       are read, through a partial index of running jobs);
   *   <li>{@code candidates}: up to a window of due jobs in fetch order, here the fair order
   *       ({@code key_rank}, priority DESC, run_at, id) on jobs_key_fetch_idx, leaving out the keys
   *       already at their limit; each numbered by its place, and by its place among the window's
   *       jobs of its key ({@code nth}: a window over at most a few hundred candidates, never over
   *       the backlog);
   *   <li>{@code chosen}, THE PER-KEY RULE: a candidate is taken when its key's running jobs plus
   *       its {@code nth} stay within the limit; up to the jobs asked for, in fetch order;
   *   <li>THE CLAIM's update for exactly those rows ({@code SKIP LOCKED}).
   * </ol>
   *
   * <p>The candidates are a walk of the index in fetch order that stops after the window. The
   * planner takes it over reading the queue's jobs of these names through jobs_name_fetch_idx and
   * sorting them only because it knows how many such jobs there are: the extended statistics on
   * (queue, name) of migration V017. Without them it multiplied the queue's share of the table by
   * the name's and, among many queues and names, read and sorted the whole backlog. Sorts were not
   * simply turned off here, as for the claim functions: tried, the lock's {@code ORDER BY j.id} over
   * the chosen rows (since removed, {@link #byPrimaryKey}) became a walk of the whole primary key.
   *
   * <p>Parameters: queue, queue, names (text[]), limit per key, window, limit per key, jobs
   * asked for, worker id, worker id, token. Returns what {@link #claim} returns.
   */
  final String claimKeyedFair;
  /**
   * {@link #claimKeyedFair} in the ordinary fetch order (priority DESC, run_at, id) on
   * jobs_fetch_idx, jobs without a key included: fairness off. The jobs of a key at its limit are
   * skipped one by one, so a claim costs more the more such jobs lie ahead of the first free one.
   * Parameters as {@link #claimKeyedFair}.
   */
  final String claimKeyedOrdinary;
  /**
   * {@link #claim} restricted to jobs without a concurrency key: a fair claim's fill, since
   * jobs_key_fetch_idx holds keyed jobs only. Parameters as {@link #claim}.
   */
  final String claimUnkeyed;
  /**
   * Sets (or clears, with a null) the per-key concurrency limit of a queue, creating its row.
   * Parameters: queue, limit.
   */
  final String setKeyMaxRunning;
  /** Turns fairness between keys on or off for a queue, creating its row. Parameters: queue, on. */
  final String setKeyFair;

  // ---- rate limits per concurrency key (docs/flow-control.md, "Rate limits per key") ----------

  /**
   * {@link #lockControl} with the per-key rate limit's columns after key_fair (key_rate_limit,
   * key_rate_period_ms, key_rate_burst, then the lock's set_config): taken instead of it by a
   * worker that knows the queue sets a per-key rate limit, so the other controlled queues keep
   * their statement. Parameter: queue.
   */
  final String lockControlKeyRate;
  /**
   * {@link #claimKeyedFair} under a per-key rate limit: the candidates leave out the keys without
   * a whole token (a key whose bucket row in key_rate_buckets has {@code empty_at > clock - I}, a
   * primary-key probe per candidate row), and THE PER-KEY RULE also takes a candidate only when
   * its {@code nth} is within its key's whole tokens (burst for a key without a row). The clock is
   * the bucket's, read after the control row's lock. Parameters: queue, queue, names, limit per
   * key, clock, interval µs, window, limit per key, burst, clock, interval µs, queue, burst, jobs
   * asked for, worker id, worker id, token.
   */
  final String claimKeyedFairRated;
  /** {@link #claimKeyedOrdinary} under a per-key rate limit, as {@link #claimKeyedFairRated}. */
  final String claimKeyedOrdinaryRated;
  /**
   * Takes the tokens of a claim's starts from their keys' buckets and prunes full buckets, in one
   * statement, under the control row's lock: each key's {@code empty_at} moves on by one interval
   * per start, from at least {@code full_at} (a full bucket: burst and almost one more token); a key
   * without a row gets one, from {@code fresh_at} (burst tokens). Then up to the given number of
   * rows of full buckets ({@code empty_at <= full_at}, oldest first, on key_rate_buckets_empty_idx),
   * other than the keys charged, are deleted. The times are computed by the caller from the bucket
   * clock (plain parameters, so the plan uses the index's range). Parameters: claimed job ids,
   * queue, fresh_at, interval µs, full_at, fresh_at, queue, full_at, prune limit, queue.
   */
  final String chargeKeyTokens;
  /**
   * When the first key without a token that has a due job of the given names gets its next
   * token, in nanoseconds from now (the statement's own clock_timestamp()), or no row: the keys
   * without a whole token at the bucket clock, in order of {@code empty_at}
   * (key_rate_buckets_empty_idx), each probed for a waiting job (jobs_key_idx). Parameters:
   * interval µs, queue, clock, interval µs, clock, names.
   */
  final String keyTokenWait;
  /**
   * Sets (or clears, with nulls) the per-key rate limit of a queue, creating its row. Parameters:
   * queue, starts, period ms, burst.
   */
  final String setKeyRateLimit;
  /** Deletes every key bucket of a queue (all full again). Parameter: queue. */
  final String clearKeyBuckets;

  // ---- administration and inspection ---------------------------------------------------------

  final String findJob;
  final String countJobs;
  /**
   * Makes an available or discarded job available now (a discarded one with a fresh attempt
   * budget), unless another pending or running job holds its unique key, and wakes the queue's
   * workers with a NOTIFY that commits with it. Parameters: id, channel. Returns a row (id, queue)
   * when it changed the job; otherwise {@link #adminProbe} says why.
   */
  final String retryJob;
  /**
   * Discards an available or running job with a cancel error, guarded: a job that finished first
   * (deleted) or was discarded is left as it is. A running job's claim is cleared in the same
   * statement, so its attempt's late outcome matches nothing, and its worker is told with a NOTIFY
   * ({@link #CANCEL_PREFIX}owner:id:token) that commits with the cancel. Parameters: id, reason,
   * channel. Returns a row when done.
   */
  final String cancelJob;
  /**
   * The polling fallback for a cancel whose NOTIFY did not arrive: of the given running job ids,
   * those now discarded by a cancel. Parameter: ids (bigint[]).
   */
  final String cancelledJobs;
  /** Deletes an available or discarded job. Parameter: id. Returns a row when done. */
  final String deleteJob;
  /**
   * Why an admin write changed nothing: the job's state and, for a keyed job, the id of another
   * pending or running job holding its (name, unique key), or no row when the job does not exist.
   * A primary-key lookup plus, for a keyed job, one probe of {@code jobs_unique_idx}. Parameter: id.
   */
  final String adminProbe;
  final String listDiscarded;
  final String listDiscardedByName;
  /**
   * Revives the discarded jobs of a name whose last error matches, one per unique key, and wakes
   * their queues' workers with NOTIFYs that commit with it. Parameters: name, error text, channel.
   * Returns revived, skipped, and the revived jobs' queues (text[], null when none).
   */
  final String retryDiscarded;
  final String queueSummary;
  /**
   * Due, scheduled and running jobs per queue with the oldest due job's age (ms), for gauges read
   * at an interval. Reads only available and running rows, each branch through a partial index
   * (one of available jobs, jobs_fetch_idx or jobs_name_fetch_idx; jobs_running_idx): discarded rows, however many, are never touched, unlike
   * {@link #queueSummary}, which counts them. One row per (queue, branch); the caller adds them up.
   */
  final String queueDepths;
  final String unhandledJobs;
  final String tableHealth;
  final String liveWorkers;

  /** The NOTIFY payload prefix that tells a worker one of its running jobs was cancelled. */
  static final String CANCEL_PREFIX = "!cancel:";

  Sql(String schema) {
    this.schema = Identifiers.schema(schema);
    this.channel = schema + ".jobs";

    String insertValues =
        """
        INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context%s)
        VALUES (?, ?, ?::jsonb, ?, coalesce(?::timestamptz, now() + ?::bigint * interval '1 microsecond'), ?, ?, ?::jsonb%s)
        """;
    String onConflict =
        " ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL"
            + " AND state IN ('available', 'running') DO NOTHING";
    insertJob = q(insertValues.formatted("", "")) + "RETURNING id";
    insertUniqueJob = q(insertValues.formatted(", unique_key", ", ?")) + onConflict + " RETURNING id";
    insertJobNotify = "WITH j AS (" + insertJob + ") SELECT j.id, pg_notify(?, ?) FROM j";
    insertUniqueJobNotify = "WITH j AS (" + insertUniqueJob + ") SELECT j.id, pg_notify(?, ?) FROM j";
    String ck = ", concurrency_key, key_rank";
    String ckValues = ", ?::text, " + KEY_RANK.replace("{q}", "?::text").replace("{ck}", "?::text");
    insertJobCk = q(insertValues.formatted(ck, ckValues)) + "RETURNING id";
    insertUniqueJobCk = q(insertValues.formatted(", unique_key" + ck, ", ?" + ckValues)) + onConflict + " RETURNING id";
    insertJobCkNotify = "WITH j AS (" + insertJobCk + ") SELECT j.id, pg_notify(?, ?) FROM j";
    insertUniqueJobCkNotify = "WITH j AS (" + insertUniqueJobCk + ") SELECT j.id, pg_notify(?, ?) FROM j";
    findUnique =
        q("""
          SELECT id FROM {s}.jobs
          WHERE name = ? AND unique_key = ? AND state IN ('available', 'running')
          """);

    insertJobs =
        q("""
          INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context)
          SELECT coalesce(n, ?::text), coalesce(q, ?::text), p::jsonb, coalesce(pr, ?::int),
                 coalesce(ra, now() + coalesce(d, 0) * interval '1 microsecond'), coalesce(ma, ?::int), coalesce(c, ?::text), tc::jsonb
          FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[], ?::text[], ?::text[])
               WITH ORDINALITY AS t(n, q, p, pr, ra, d, ma, c, tc, ord)
          ORDER BY ord
          RETURNING id
          """);
    // The NOTIFYs as an uncorrelated subquery of the RETURNING list: PostgreSQL runs it once (an
    // InitPlan) and the ids stream out as from insertJobs. Wrapping the insert in a CTE joined to
    // the NOTIFYs, as before, stored and re-read every id: 0.3-1.2 ms of a batch of 1,000 (pgbench).
    insertJobsNotify =
        insertJobs.strip() + ",\n       (SELECT count(pg_notify(?, q)) FROM unnest(?::text[]) AS q) AS notified\n";
    insertUniqueJobs =
        q("""
          INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context, unique_key)
          SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c, tc::jsonb, uk
          FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[], ?::text[], ?::text[], ?::text[])
               AS t(n, q, p, pr, ra, d, ma, c, tc, uk)
          ORDER BY n, uk
          """) + onConflict + " RETURNING id, name, unique_key";
    findUniques =
        q("""
          SELECT j.id, j.name, j.unique_key FROM {s}.jobs j
          JOIN unnest(?::text[], ?::text[]) AS k(n, uk) ON j.name = k.n AND j.unique_key = k.uk
          WHERE j.state IN ('available', 'running')
          """);
    notifyQueues = "SELECT pg_notify(?, q) FROM unnest(?::text[]) AS q";
    // Rows of one key in a batch take consecutive ranks: the key's next rank plus the row's place
    // among the batch's rows of that key (a window over the batch, never over the backlog).
    String batchRank =
        "CASE WHEN ck IS NOT NULL THEN " + KEY_RANK.replace("{q}", "t.q").replace("{ck}", "t.ck")
            + " + row_number() OVER (PARTITION BY t.q, t.ck ORDER BY %s) - 1 END";
    insertJobsCk =
        q("""
          INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context, concurrency_key, key_rank)
          SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c, tc::jsonb, ck, %s
          FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[], ?::text[], ?::text[], ?::text[])
               WITH ORDINALITY AS t(n, q, p, pr, ra, d, ma, c, tc, ck, ord)
          ORDER BY ord
          RETURNING id
          """.formatted(batchRank.formatted("t.ord")));
    insertUniqueJobsCk =
        q("""
          INSERT INTO {s}.jobs (name, queue, payload, priority, run_at, max_attempts, context, trace_context, unique_key, concurrency_key, key_rank)
          SELECT n, q, p::jsonb, pr, coalesce(ra, now() + d * interval '1 microsecond'), ma, c, tc::jsonb, uk, ck, %s
          FROM unnest(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[])
               AS t(n, q, p, pr, ra, d, ma, c, tc, uk, ck)
          ORDER BY n, uk
          """.formatted(batchRank.formatted("t.n, t.uk"))) + onConflict + " RETURNING id, name, unique_key";

    claim =
        q("""
          WITH async_commit AS MATERIALIZED (
            SELECT set_config('synchronous_commit', 'off', true)
          ),
          claimable AS (
            SELECT j.id, j.attempt < j.max_attempts AS ok FROM {s}.jobs j, async_commit
            WHERE j.state = 'available' AND j.queue = ? AND j.run_at <= now() AND j.name = ANY(?::text[])
              AND EXISTS (
                SELECT 1 FROM {s}.workers w
                WHERE w.id = ? AND %s)
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT ?
            FOR UPDATE OF j SKIP LOCKED
          )
          UPDATE {s}.jobs j
          SET state = CASE WHEN c.ok THEN 'running' ELSE 'discarded' END,
              attempt = CASE WHEN c.ok THEN j.attempt + 1 ELSE j.attempt END,
              locked_by = CASE WHEN c.ok THEN ?::bigint END,
              lock_token = CASE WHEN c.ok THEN ?::bigint END,
              locked_at = CASE WHEN c.ok THEN now() END,
              discarded_at = CASE WHEN c.ok THEN NULL ELSE now() END,
              errors = CASE WHEN c.ok THEN j.errors
                            ELSE (CASE WHEN jsonb_array_length(j.errors) >= %d THEN j.errors - 0 ELSE j.errors END)
                                 || jsonb_build_array(jsonb_build_object(
                                      'at', now(), 'attempt', j.attempt, 'kind', 'failed',
                                      'class', 'io.github.pgqueue.NoAttemptLeft',
                                      'message', 'available with no attempt left (attempt ' || j.attempt
                                                 || ' of ' || j.max_attempts || ', set outside pgqueue): discarded instead of run',
                                      'trace', ''))
                       END
          FROM claimable c
          WHERE j.id = c.id
          RETURNING j.id, j.name, j.payload::text, j.attempt, j.max_attempts, j.priority,
                    j.run_at, j.created_at, j.context, c.ok, j.trace_context::text, now()
          """.formatted(freshForClaims("w"), JobError.KEPT_PER_JOB));
    String claimUpdate = "UPDATE " + this.schema + ".jobs j\nSET state";
    if (claim.indexOf(claimUpdate) < 0) {
      throw new IllegalStateException("THE CLAIM has no update to share: " + claim);
    }
    claimByName =
        q("""
          WITH async_commit AS MATERIALIZED (
            SELECT set_config('synchronous_commit', 'off', true)
          ),
          args AS MATERIALIZED (
            SELECT ?::text AS queue, ?::text[] AS names, ?::bigint AS worker, ?::int AS n
          ),
          shares AS MATERIALIZED (
            SELECT h.name, count(*) AS take FROM (
              SELECT d.name, d.priority, d.run_at, d.id
              FROM args a CROSS JOIN unnest(a.names) AS nm(name) CROSS JOIN LATERAL (
                SELECT j.name, j.priority, j.run_at, j.id FROM {s}.jobs j
                WHERE j.state = 'available' AND j.queue = a.queue AND j.name = nm.name AND j.run_at <= now()
                ORDER BY j.priority DESC, j.run_at, j.id
                LIMIT a.n) d
              WHERE EXISTS (
                SELECT 1 FROM {s}.workers w
                WHERE w.id = a.worker AND %s)
              ORDER BY d.priority DESC, d.run_at, d.id
              LIMIT (SELECT n FROM args)) h
            GROUP BY h.name
          ),
          claimable AS (
            SELECT l.id, l.ok FROM args a CROSS JOIN shares s CROSS JOIN async_commit CROSS JOIN LATERAL (
              SELECT j.id, j.attempt < j.max_attempts AS ok FROM {s}.jobs j
              WHERE j.state = 'available' AND j.queue = a.queue AND j.name = s.name AND j.run_at <= now()
              ORDER BY j.priority DESC, j.run_at, j.id
              LIMIT s.take
              FOR UPDATE OF j SKIP LOCKED) l
            LIMIT (SELECT n FROM args)
          )
          """.formatted(freshForClaims("w"))) + claim.substring(claim.indexOf(claimUpdate));
    String cursorBranch =
        """
            SELECT j.id, j.attempt < j.max_attempts AS ok FROM {s}.jobs j
            WHERE j.state = 'available' AND j.queue = ? AND j.name = ANY(?::text[]) AND j.run_at <= now()
              AND %s
            ORDER BY %s
            LIMIT ?
            FOR UPDATE OF j SKIP LOCKED""";
    claimAfter =
        q("""
          WITH async_commit AS MATERIALIZED (
            SELECT set_config('synchronous_commit', 'off', true)
          ),
          claimable AS (
            SELECT x.id, x.ok FROM (
              SELECT * FROM (%s) above
              UNION ALL
              SELECT * FROM (%s) at_cursor
              UNION ALL
              SELECT * FROM (%s) below
            ) x, async_commit
            WHERE EXISTS (
              SELECT 1 FROM {s}.workers w
              WHERE w.id = ? AND %s)
            LIMIT ?
          )
          """.formatted(
              cursorBranch.formatted("j.priority > ?", "j.priority DESC, j.run_at, j.id"),
              cursorBranch.formatted("j.priority = ? AND (j.run_at, j.id) > (?::timestamptz, ?::bigint)", "j.run_at, j.id"),
              cursorBranch.formatted("j.priority < ?", "j.priority DESC, j.run_at, j.id"),
              freshForClaims("w"))) + claim.substring(claim.indexOf(claimUpdate));
    deadHead =
        q("""
          SELECT count(*) FROM (
            SELECT 1 FROM {s}.jobs j
            WHERE j.state = 'available' AND j.queue = ? AND j.run_at <= now() AND j.name = ANY(?::text[])
            ORDER BY j.priority DESC, j.run_at, j.id
            LIMIT ?) x
          """);
    deadHeadCount =
        q("""
          SELECT sum(pg_stat_get_xact_tuples_returned(i) - pg_stat_get_xact_tuples_fetched(i))::bigint,
                 sum(pg_stat_get_xact_blocks_fetched(i))::bigint,
                 set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)
          FROM unnest(ARRAY['{s}.jobs_fetch_idx'::regclass, '{s}.jobs_name_fetch_idx'::regclass]) AS i
          """);
    foreignJobs =
        q("""
          WITH RECURSIVE args AS MATERIALIZED (
            SELECT ?::text AS queue, ?::text[] AS names, ?::int AS bound
          ),
          present(name) AS (
            (SELECT j.name FROM {s}.jobs j
             WHERE j.state = 'available' AND j.queue = (SELECT queue FROM args) ORDER BY j.name LIMIT 1)
            UNION ALL
            SELECT (SELECT j.name FROM {s}.jobs j
                    WHERE j.state = 'available' AND j.queue = (SELECT queue FROM args) AND j.name > p.name
                    ORDER BY j.name LIMIT 1)
            FROM present p WHERE p.name IS NOT NULL
          )
          SELECT count(*) FROM (
            SELECT 1 FROM present p CROSS JOIN args a CROSS JOIN LATERAL (
              SELECT 1 FROM {s}.jobs j
              WHERE j.state = 'available' AND j.queue = a.queue AND j.name = p.name AND j.run_at <= now()
              LIMIT a.bound) d
            WHERE p.name IS NOT NULL AND p.name <> ALL(a.names)
            LIMIT (SELECT bound FROM args)) x
          """);
    // The keyed claim's variants of THE CLAIM: the same statement, with another set of rows to take.
    claimUnkeyed = byPrimaryKey(replaceOnce(claim, "AND j.name = ANY(?::text[])",
        "AND j.name = ANY(?::text[]) AND j.concurrency_key IS NULL"));
    // The chosen rows, locked by primary key and nothing else: "state || ''" keeps the check of
    // the row (rechecked on its latest version under the lock) from matching the partial indexes'
    // predicate (state = 'available'), whose walks a plan made from a drained table's statistics
    // took over the primary key lookups; and no ORDER BY, which a plan could serve by walking the
    // whole primary key (byPrimaryKey). SKIP LOCKED never waits, so the lock order is free.
    String claimIds = replaceOnce(
        replaceOnce(claim,
            "j.state = 'available' AND j.queue = ? AND j.run_at <= now() AND j.name = ANY(?::text[])",
            "j.id = ANY(?::bigint[]) AND j.state || '' = 'available' AND j.run_at <= now()"),
        "ORDER BY j.priority DESC, j.run_at, j.id\n  LIMIT ?\n", "");
    String keyed =
        """
        running AS MATERIALIZED (
          SELECT r.concurrency_key AS k, count(*) AS n FROM {s}.jobs r
          WHERE r.state = 'running' AND r.queue = ? AND r.concurrency_key IS NOT NULL
          GROUP BY r.concurrency_key
        ),
        candidates AS MATERIALIZED (
          SELECT c.id, c.k,
                 row_number() OVER (ORDER BY %2$s) AS place,
                 row_number() OVER (PARTITION BY c.k ORDER BY %2$s) AS nth
          FROM (
            SELECT j.id, j.concurrency_key AS k, j.key_rank, j.priority, j.run_at FROM {s}.jobs j
            WHERE j.state = 'available' AND j.queue = ? AND j.run_at <= now() AND j.name = ANY(?::text[])%1$s
              AND (j.concurrency_key IS NULL
                   OR j.concurrency_key <> ALL(ARRAY(SELECT f.k FROM running f WHERE f.n >= ?)))
            ORDER BY %3$s
            LIMIT ?
          ) c
        ),
        chosen AS (
          SELECT c.id FROM candidates c
          WHERE c.k IS NULL OR c.nth + coalesce((SELECT r.n FROM running r WHERE r.k = c.k), 0) <= ?
          ORDER BY c.place
          LIMIT ?
        )""";
    claimKeyedFair = keyedClaim(claimIds, keyed.formatted(
        "\n      AND j.concurrency_key IS NOT NULL",
        "c.key_rank, c.priority DESC, c.run_at, c.id", "j.key_rank, j.priority DESC, j.run_at, j.id"));
    claimKeyedOrdinary = keyedClaim(claimIds, keyed.formatted(
        "", "c.priority DESC, c.run_at, c.id", "j.priority DESC, j.run_at, j.id"));
    // Under a per-key rate limit: the same statements, leaving out keys without a whole token and
    // taking no more of a key's candidates than its whole tokens.
    claimKeyedFairRated = keyRated(claimKeyedFair);
    claimKeyedOrdinaryRated = keyRated(claimKeyedOrdinary);
    // The functions of migrations V010, V015 and V016 (see claimFn): same statements, plans kept per backend.
    claimFn = q("SELECT * FROM {s}.claim_v2(?, ?::text[], ?, ?, ?)");
    claimAfterFn = q("SELECT * FROM {s}.claim_after_v1(?, ?::text[], ?, ?::timestamptz, ?, ?, ?, ?)");
    claimByNameFn = q("SELECT * FROM {s}.claim_by_name_v1(?, ?::text[], ?, ?, ?)");
    claimControlledFn = q("SELECT * FROM {s}.claim_controlled_v3(?, ?::text[], ?, ?, ?, ?::bigint[], ?::bigint[])");
    completeFn = q("SELECT {s}.complete_v1(?::bigint[], ?::bigint[], ?::bigint[])");
    settleFn =
        q("SELECT {s}.settle_v1(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::int[], ?::text[])");
    // enqueue_v2 (migration V012): enqueue_v1's body without its plan_cache_mode setting.
    enqueueFn =
        q("SELECT {s}.enqueue_v2(?, ?, ?, ?, ?::timestamptz, ?::bigint, ?, ?, ?, ?, ?)");
    enqueueAllFn =
        q("""
          SELECT * FROM {s}.enqueue_all_v1(?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[], ?::bigint[],
                                           ?::int[], ?::text[], ?::text[], ?::text, ?::text[])
          """);
    releaseLostClaims =
        q("""
          UPDATE {s}.jobs
          SET state = 'available', attempt = attempt - 1, locked_by = NULL, locked_at = NULL, lock_token = NULL
          WHERE locked_by = ? AND state = 'running' AND lock_token = ANY(?::bigint[])
          RETURNING id
          """);
    complete =
        q("""
          DELETE FROM {s}.jobs j
          USING unnest(?::bigint[], ?::bigint[], ?::bigint[]) AS d(id, owner, token)
          WHERE j.id = d.id AND j.locked_by = d.owner AND j.lock_token = d.token
          """);
    settle =
        q("""
          UPDATE {s}.jobs j
          SET state = d.state,
              run_at = CASE WHEN d.state = 'available'
                            THEN now() + d.delay_us * interval '1 microsecond' ELSE j.run_at END,
              attempt = j.attempt - d.refund,
              locked_by = NULL,
              locked_at = NULL,
              lock_token = NULL,
              discarded_at = CASE WHEN d.state = 'discarded' THEN now() END,
              errors = CASE WHEN d.error IS NULL THEN j.errors
                            ELSE (CASE WHEN jsonb_array_length(j.errors) >= %d THEN j.errors - 0 ELSE j.errors END)
                                 || jsonb_build_array(d.error::jsonb || jsonb_build_object('at', now()))
                       END
          FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::int[], ?::text[])
               AS d(id, owner, token, state, delay_us, refund, error)
          WHERE j.id = d.id AND j.locked_by = d.owner AND j.lock_token = d.token
          """.formatted(JobError.KEPT_PER_JOB));

    completeHeld = q("DELETE FROM {s}.jobs WHERE id = ? AND locked_by = ? AND lock_token = ?");
    claimStillHeld =
        q("SELECT 1 FROM {s}.jobs WHERE id = ? AND locked_by = ? AND lock_token = ? FOR UPDATE");

    writeProgress =
        q("""
          INSERT INTO {s}.job_progress AS p (job_id, attempt, data, updated_at)
          SELECT j.id, j.attempt, ?::jsonb, now() FROM {s}.jobs j
          WHERE j.id = ? AND j.locked_by = ? AND j.lock_token = ? AND j.state = 'running'
          ON CONFLICT (job_id) DO UPDATE
            SET attempt = excluded.attempt, data = excluded.data, updated_at = excluded.updated_at
          RETURNING p.job_id
          """);
    pruneProgress =
        q("""
          DELETE FROM {s}.job_progress WHERE job_id = ANY(ARRAY(
            SELECT p.job_id FROM {s}.job_progress p
            WHERE NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.id = p.job_id)
            LIMIT 1000))
          """);

    upsertRollups =
        q("""
          INSERT INTO {s}.job_rollups AS r (minute, queue, name, outcome, worker, count)
          SELECT date_trunc('minute', now()), t.queue, t.name, t.outcome, ?, t.count
          FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[]) AS t(queue, name, outcome, count)
          ON CONFLICT (minute, queue, name, outcome, worker) DO UPDATE SET count = r.count + excluded.count
          """);
    pruneRollups =
        q("""
          DELETE FROM {s}.job_rollups WHERE (minute, queue, name, outcome, worker) IN (
            SELECT minute, queue, name, outcome, worker FROM {s}.job_rollups
            WHERE minute < now() - interval '8 days'
            ORDER BY minute
            LIMIT 1000
            FOR UPDATE SKIP LOCKED)
          """);
    throughput =
        q("""
          SELECT to_timestamp(floor(extract(epoch FROM minute) / ?) * ?) AS bucket,
                 queue, name, outcome, sum(count)::bigint
          FROM {s}.job_rollups
          WHERE minute >= to_timestamp(floor(extract(epoch FROM now() - make_interval(secs => ?)) / ?) * ?)
          GROUP BY 1, 2, 3, 4
          ORDER BY 1, 2, 3, 4
          """);

    registerWorker =
        q("""
          WITH durable AS MATERIALIZED (
            SELECT set_config('synchronous_commit',
                              CASE current_setting('synchronous_commit') WHEN 'off' THEN 'local'
                                   ELSE current_setting('synchronous_commit') END, true)
          )
          INSERT INTO {s}.workers (host, pid, queues, concurrency, job_names, heartbeat_ms, stale_after_ms)
          SELECT ?, ?, ?::text[], ?::integer[], ?::text[], ?, ? FROM durable
          RETURNING id
          """);
    heartbeat = q("UPDATE {s}.workers SET heartbeat_at = now() WHERE id = ?");
    deregisterWorker = q("DELETE FROM {s}.workers WHERE id = ?");
    rescue =
        q("""
          WITH orphaned AS (
            SELECT j.id FROM {s}.jobs j
            LEFT JOIN {s}.workers w ON w.id = j.locked_by
            WHERE j.state = 'running'
              AND (w.id IS NULL OR NOT %1$s)
              AND (w.id IS NULL OR %2$s <= ?::bigint)
            ORDER BY j.id
            LIMIT 1000
            FOR UPDATE OF j SKIP LOCKED
          )
          UPDATE {s}.jobs j
          SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END,
              discarded_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
              run_at = now(),
              locked_by = NULL,
              locked_at = NULL,
              lock_token = NULL,
              errors = (CASE WHEN jsonb_array_length(j.errors) >= %3$d THEN j.errors - 0 ELSE j.errors END)
                       || jsonb_build_array(jsonb_build_object(
                            'at', now(), 'attempt', j.attempt, 'kind', 'rescued',
                            'class', 'io.github.pgqueue.Rescued',
                            'message', 'worker ' || j.locked_by || ' stopped heartbeating while running this attempt',
                            'trace', ''))
          FROM orphaned o
          WHERE j.id = o.id
          RETURNING j.id, j.name, j.queue, j.attempt, j.state
          """.formatted(alive("w"), staleAfterMs("w"), JobError.KEPT_PER_JOB));
    deleteStaleWorkers =
        q("DELETE FROM {s}.workers w WHERE NOT %s AND %s <= ?::bigint".formatted(alive("w"), staleAfterMs("w")));
    pruneDiscarded =
        q("""
          DELETE FROM {s}.jobs WHERE state = 'discarded' AND id = ANY(ARRAY(
            SELECT id FROM {s}.jobs
            WHERE state = 'discarded' AND discarded_at < now() - ?::bigint * interval '1 millisecond'
            ORDER BY discarded_at
            LIMIT 1000))
          """);

    String notHeldElsewhere =
        """
        NOT (j.unique_key IS NOT NULL AND EXISTS (
              SELECT 1 FROM {s}.jobs o
              WHERE o.name = j.name AND o.unique_key = j.unique_key
                AND o.state IN ('available', 'running') AND o.id <> j.id))
        """;
    retryJob =
        q("""
          UPDATE {s}.jobs j
          SET state = 'available', run_at = now(), discarded_at = NULL,
              attempt = CASE WHEN j.state = 'discarded' THEN 0 ELSE j.attempt END
          WHERE j.id = ? AND j.state IN ('available', 'discarded') AND %s
          RETURNING j.id, j.queue, pg_notify(?, j.queue)
          """.formatted(notHeldElsewhere));
    cancelJob =
        q("""
          WITH old AS (
            SELECT id, state, locked_by, lock_token FROM {s}.jobs
            WHERE id = ? AND state IN ('available', 'running')
            FOR UPDATE
          ),
          cancelled AS (
            UPDATE {s}.jobs j
            SET state = 'discarded', discarded_at = now(), locked_by = NULL, locked_at = NULL, lock_token = NULL,
                errors = (CASE WHEN jsonb_array_length(j.errors) >= %d THEN j.errors - 0 ELSE j.errors END)
                         || jsonb_build_array(jsonb_build_object(
                              'at', now(), 'attempt', j.attempt, 'kind', 'cancelled',
                              'class', 'io.github.pgqueue.Cancelled', 'message', ?::text, 'trace', ''))
            FROM old
            WHERE j.id = old.id
            RETURNING j.id, old.state, old.locked_by, old.lock_token
          )
          SELECT c.id,
                 CASE WHEN c.state = 'running' AND c.locked_by IS NOT NULL
                      THEN pg_notify(?, '%s' || c.locked_by || ':' || c.id || ':' || coalesce(c.lock_token, 0)) END
          FROM cancelled c
          """.formatted(JobError.KEPT_PER_JOB, CANCEL_PREFIX));
    cancelledJobs =
        q("""
          SELECT j.id FROM {s}.jobs j
          WHERE j.id = ANY(?::bigint[]) AND j.state = 'discarded' AND j.locked_by IS NULL
            AND j.errors -> -1 ->> 'kind' = 'cancelled'
          """);
    deleteJob = q("DELETE FROM {s}.jobs WHERE id = ? AND state IN ('available', 'discarded') RETURNING id");
    adminProbe =
        q("""
          SELECT j.state,
                 (SELECT o.id FROM {s}.jobs o
                  WHERE j.unique_key IS NOT NULL AND o.name = j.name AND o.unique_key = j.unique_key
                    AND o.state IN ('available', 'running') AND o.id <> j.id
                  LIMIT 1)
          FROM {s}.jobs j
          WHERE j.id = ?
          """);
    String jobColumns = JOB_COLUMNS;
    listDiscarded =
        q("SELECT " + jobColumns
            + " FROM {s}.jobs WHERE state = 'discarded' ORDER BY discarded_at DESC, id DESC LIMIT ?");
    listDiscardedByName =
        q("SELECT " + jobColumns
            + " FROM {s}.jobs WHERE state = 'discarded' AND name = ?"
            + " ORDER BY discarded_at DESC, id DESC LIMIT ?");
    // One job per (name, unique key) can be pending: of the matching discarded jobs that share a
    // key, only the most recently discarded is revived, and none while another job holds the key.
    // Unkeyed jobs are all revived. Returns (revived, skipped).
    retryDiscarded =
        q("""
          WITH matching AS (
            SELECT j.id, j.name, j.unique_key, j.discarded_at
            FROM {s}.jobs j
            WHERE j.state = 'discarded' AND j.name = ?
              AND strpos(lower(concat_ws(' ', j.errors -> -1 ->> 'kind', j.errors -> -1 ->> 'class', j.errors -> -1 ->> 'message')), lower(?::text)) > 0
          ),
          chosen AS (
            SELECT k.id
            FROM (SELECT m.*, row_number() OVER (PARTITION BY m.unique_key
                                                  ORDER BY m.discarded_at DESC NULLS LAST, m.id DESC) AS rn
                  FROM matching m WHERE m.unique_key IS NOT NULL) k
            WHERE k.rn = 1
              AND NOT EXISTS (SELECT 1 FROM {s}.jobs o
                              WHERE o.name = k.name AND o.unique_key = k.unique_key
                                AND o.state IN ('available', 'running'))
            UNION ALL
            SELECT m.id FROM matching m WHERE m.unique_key IS NULL
          ),
          revived AS (
            UPDATE {s}.jobs j
            SET state = 'available', run_at = now(), discarded_at = NULL, attempt = 0
            FROM chosen c
            WHERE j.id = c.id AND j.state = 'discarded'
            RETURNING j.id, j.queue
          ),
          queues AS (
            SELECT DISTINCT r.queue FROM revived r
          )
          SELECT (SELECT count(*) FROM revived), (SELECT count(*) FROM matching) - (SELECT count(*) FROM revived),
                 (SELECT array_agg(q.queue) FROM queues q),
                 (SELECT count(pg_notify(?, q.queue)) FROM queues q)
          """);
    queueSummary =
        q("""
          SELECT queue,
                 count(*) FILTER (WHERE state = 'available' AND run_at <= now()),
                 count(*) FILTER (WHERE state = 'available' AND run_at > now()),
                 count(*) FILTER (WHERE state = 'running'),
                 count(*) FILTER (WHERE state = 'discarded'),
                 (extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now())) * 1000)::bigint
          FROM {s}.jobs
          GROUP BY queue
          ORDER BY queue
          """);
    queueDepths =
        q("""
          SELECT queue,
                 count(*) FILTER (WHERE run_at <= now()),
                 count(*) FILTER (WHERE run_at > now()),
                 0::bigint,
                 (extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now())) * 1000)::bigint
          FROM {s}.jobs
          WHERE state = 'available'
          GROUP BY queue
          UNION ALL
          SELECT queue, 0, 0, count(*), NULL
          FROM {s}.jobs
          WHERE state = 'running'
          GROUP BY queue
          """);
    unhandledJobs =
        q("""
          SELECT j.name, j.queue, count(*)
          FROM {s}.jobs j
          WHERE j.state = 'available' AND j.run_at <= now()
            AND NOT EXISTS (
              SELECT 1 FROM {s}.workers w
              WHERE %s
                AND j.name = ANY(w.job_names) AND j.queue = ANY(w.queues))
          GROUP BY j.name, j.queue
          ORDER BY j.name, j.queue
          """.formatted(alive("w")));
    tableHealth = HealthSql.TABLE_HEALTH;
    liveWorkers =
        q("SELECT count(*) FROM {s}.workers w WHERE " + alive("w"));

    controls =
        q("""
          SELECT queue, paused, max_running, rate_limit, rate_period_ms, rate_burst, key_max_running, key_fair,
                 key_rate_limit
          FROM {s}.queue_controls
          """);
    pauseQueue =
        q("""
          WITH p AS (
            INSERT INTO {s}.queue_controls AS qc (queue, paused, paused_at) VALUES (?, true, now())
            ON CONFLICT (queue) DO UPDATE
              SET paused = true, paused_at = coalesce(qc.paused_at, now()), updated_at = now()
            RETURNING 1
          )
          SELECT pg_notify(?, '%s') FROM p
          """.formatted(CONTROLS_CHANGED));
    resumeQueue =
        q("UPDATE {s}.queue_controls SET paused = false, paused_at = NULL, updated_at = now() WHERE queue = ?");
    setMaxRunning =
        q("""
          INSERT INTO {s}.queue_controls AS qc (queue, max_running) VALUES (?, ?)
          ON CONFLICT (queue) DO UPDATE SET max_running = excluded.max_running, updated_at = now()
          """);
    setRateLimit =
        q("""
          INSERT INTO {s}.queue_controls AS qc (queue, rate_limit, rate_period_ms, rate_burst, tokens, tokens_at)
          SELECT t.q, t.r, t.p, t.b, t.b, CASE WHEN t.r IS NOT NULL THEN now() END
          FROM (VALUES (?::text, ?::int, ?::bigint, ?::int)) AS t(q, r, p, b)
          ON CONFLICT (queue) DO UPDATE
            SET rate_limit = excluded.rate_limit, rate_period_ms = excluded.rate_period_ms,
                rate_burst = excluded.rate_burst, tokens = excluded.tokens, tokens_at = excluded.tokens_at,
                updated_at = now()
          """);
    deleteIdleControl =
        q("""
          DELETE FROM {s}.queue_controls
          WHERE queue = ? AND NOT paused AND max_running IS NULL AND rate_limit IS NULL
            AND key_max_running IS NULL AND NOT key_fair AND key_rate_limit IS NULL
          """);
    ackPaused = q("UPDATE {s}.workers SET paused_queues = ?::text[] WHERE id = ?");
    lockControl =
        q("""
          SELECT paused, max_running,
                 CASE WHEN rate_limit IS NOT NULL THEN
                   -- Up to (almost) one token beyond the burst is kept: a claim that comes late
                   -- does not lose the lateness, and since starts are whole, a period still holds
                   -- at most rate_limit + rate_burst of them.
                   least(rate_burst + 0.999999,
                         tokens + rate_limit * greatest(0, extract(epoch FROM clock_timestamp() - tokens_at) * 1000)
                                  / rate_period_ms)
                 END,
                 clock_timestamp(),
                 rate_limit, rate_period_ms, key_max_running, key_fair,
                 -- For the statements that follow in this transaction: the count (see
                 -- countRunning), and the keyed claims, whose plans, cached on a connection that
                 -- keeps prepared statements, would otherwise read the whole queue once it had
                 -- outgrown the statistics they were made from (HotPathFunctionsTest).
                 set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)
          FROM {s}.queue_controls
          WHERE queue = ?
          FOR UPDATE SKIP LOCKED
          """);
    lockControlKeyRate = replaceOnce(lockControl, "rate_limit, rate_period_ms, key_max_running, key_fair,",
        "rate_limit, rate_period_ms, key_max_running, key_fair, key_rate_limit, key_rate_period_ms, key_rate_burst,");
    controlExists = q("SELECT 1 FROM {s}.queue_controls WHERE queue = ?");
    countRunning = q("SELECT count(*) FROM (SELECT 1 FROM {s}.jobs WHERE state = 'running' AND queue = ? LIMIT ?) r");
    countRunningExcept =
        q("""
          SELECT count(*) FROM (
            SELECT 1 FROM {s}.jobs j
            WHERE j.state = 'running' AND j.queue = ?
              AND (j.locked_by IS DISTINCT FROM ? OR NOT EXISTS (
                SELECT 1 FROM unnest(?::bigint[], ?::bigint[]) f(id, token)
                WHERE f.id = j.id AND f.token = j.lock_token))
            LIMIT ?) r
          """);
    takeTokens = q("UPDATE {s}.queue_controls SET tokens = ?, tokens_at = ? WHERE queue = ?");

    setKeyMaxRunning =
        q("""
          INSERT INTO {s}.queue_controls AS qc (queue, key_max_running) VALUES (?, ?)
          ON CONFLICT (queue) DO UPDATE SET key_max_running = excluded.key_max_running, updated_at = now()
          """);
    setKeyFair =
        q("""
          INSERT INTO {s}.queue_controls AS qc (queue, key_fair) VALUES (?, ?)
          ON CONFLICT (queue) DO UPDATE SET key_fair = excluded.key_fair, updated_at = now()
          """);
    setKeyRateLimit =
        q("""
          INSERT INTO {s}.queue_controls AS qc (queue, key_rate_limit, key_rate_period_ms, key_rate_burst)
          VALUES (?, ?, ?, ?)
          ON CONFLICT (queue) DO UPDATE
            SET key_rate_limit = excluded.key_rate_limit, key_rate_period_ms = excluded.key_rate_period_ms,
                key_rate_burst = excluded.key_rate_burst, updated_at = now()
          """);
    clearKeyBuckets = q("DELETE FROM {s}.key_rate_buckets WHERE queue = ?");
    chargeKeyTokens =
        q("""
          WITH starts AS (
            SELECT j.concurrency_key AS k, count(*) AS n FROM {s}.jobs j
            WHERE j.id = ANY(?::bigint[]) AND j.concurrency_key IS NOT NULL
            GROUP BY j.concurrency_key
          ),
          charged AS (
            INSERT INTO {s}.key_rate_buckets AS kb (queue, concurrency_key, empty_at)
            SELECT ?, s.k, ?::timestamptz + s.n * ?::bigint * interval '1 microsecond' FROM starts s
            ORDER BY s.k
            ON CONFLICT (queue, concurrency_key) DO UPDATE
              SET empty_at = greatest(kb.empty_at, ?::timestamptz) + (excluded.empty_at - ?::timestamptz)
            RETURNING 1
          ),
          pruned AS (
            DELETE FROM {s}.key_rate_buckets d
            USING (SELECT f.concurrency_key FROM {s}.key_rate_buckets f
                   WHERE f.queue = ? AND f.empty_at <= ?::timestamptz
                   ORDER BY f.empty_at
                   LIMIT ?) full_bucket
            WHERE d.queue = ? AND d.concurrency_key = full_bucket.concurrency_key
              AND d.concurrency_key NOT IN (SELECT s.k FROM starts s)
            RETURNING 1
          )
          SELECT (SELECT count(*) FROM charged), (SELECT count(*) FROM pruned)
          """);
    keyTokenWait =
        q("""
          SELECT (extract(epoch FROM b.empty_at + ?::bigint * interval '1 microsecond' - clock_timestamp())
                  * 1000000000)::bigint
          FROM {s}.key_rate_buckets b
          WHERE b.queue = ? AND b.empty_at > ?::timestamptz - ?::bigint * interval '1 microsecond'
            AND EXISTS (
              SELECT 1 FROM {s}.jobs j
              WHERE j.state = 'available' AND j.queue = b.queue AND j.concurrency_key = b.concurrency_key
                AND j.run_at <= ?::timestamptz AND j.name = ANY(?::text[]))
          ORDER BY b.empty_at
          LIMIT 1
          """);

    findJob = q("SELECT " + jobColumns + " FROM {s}.jobs WHERE id = ?");
    countJobs =
        q("""
          SELECT queue, state, count(*) FROM {s}.jobs GROUP BY queue, state ORDER BY queue, state
          """);
  }

  /**
   * The rank a new job of key {ck} in queue {q} takes (fairness is decided here, at enqueue): the
   * key's next rank (one past its last waiting job's), but never lower than the queue's head rank
   * (the lowest rank still waiting), so a key that enqueues 10,000 jobs takes ranks far ahead
   * while a new key's first job lands at the head. Two index probes: the end of the key's range of
   * jobs_key_idx and the start of the queue's range of jobs_key_fetch_idx. Concurrent enqueues of
   * one key may take the same rank; the order among equal ranks is the ordinary one.
   */
  static final String KEY_RANK =
      """
      greatest(      coalesce((SELECT max(k.key_rank) + 1 FROM {s}.jobs k       WHERE k.state = 'available' AND k.queue = {q} AND k.concurrency_key = {ck}), 0),       coalesce((SELECT min(h.key_rank) FROM {s}.jobs h       WHERE h.state = 'available' AND h.queue = {q} AND h.concurrency_key IS NOT NULL), 0))      """;

  /** The columns of a {@link JobInfo}, in the order {@link JobStore#jobInfo} reads them. */
  private static final String JOB_COLUMNS =
      """
      id, name, queue, state, priority, attempt, max_attempts, run_at, created_at,
      locked_at, locked_by, unique_key, context, payload::text, errors::text, discarded_at,
      (SELECT jsonb_build_object('attempt', p.attempt, 'at', p.updated_at, 'data', p.data)::text
       FROM {s}.job_progress p WHERE p.job_id = jobs.id),
      concurrency_key
      """;

  /**
   * The keyset-paged job query of {@link JobQuery}, assembled from fixed fragments for the filters
   * the query sets; no value of the query is put into the text (the state goes in as one of three
   * fixed literals, so the planner can match the partial indexes even in a generic plan). Bind
   * order: queue, name, unique key, from, to, then the cursor (time, for a time-ordered query, and
   * id), then the row limit. Which index serves which shape is documented on {@link
   * JobQuery}; {@code JobQueryPlanTest} checks the plans.
   *
   * <ul>
   *   <li>Discarded and running jobs are ordered by their timestamp (discarded_at, locked_at), then
   *       id. The cursor condition is the row comparison {@code (t, id) < (?, ?)}: PostgreSQL uses
   *       its leading column as a range bound on the single-column jobs_discarded_idx and checks the
   *       rest per row; ties on t are ordered by an incremental sort.
   *   <li>Available jobs and jobs in any state are ordered by id: the primary key serves every
   *       filter combination, and the time range (run_at, created_at) is a filter.
   * </ul>
   */
  String jobQuery(JobQuery query) {
    String time =
        query.state() == null ? "created_at"
            : switch (query.state()) {
              case AVAILABLE -> "run_at";
              case RUNNING -> "locked_at";
              case DISCARDED -> "discarded_at";
            };
    boolean desc = query.order() == JobQuery.Order.NEWEST_FIRST;
    StringBuilder sql = new StringBuilder("SELECT ").append(JOB_COLUMNS.strip()).append("\nFROM {s}.jobs\nWHERE true");
    if (query.state() != null) {
      sql.append(switch (query.state()) {
        case AVAILABLE -> " AND state = 'available'";
        case RUNNING -> " AND state = 'running'";
        case DISCARDED -> " AND state = 'discarded'";
      });
    }
    if (query.queue() != null) {
      sql.append(" AND queue = ?");
    }
    if (query.name() != null) {
      sql.append(" AND name = ?");
    }
    if (query.uniqueKey() != null) {
      sql.append(" AND unique_key = ?");
    }
    if (query.from() != null) {
      sql.append(" AND ").append(time).append(" >= ?");
    }
    if (query.to() != null) {
      sql.append(" AND ").append(time).append(" < ?");
    }
    String cmp = desc ? "<" : ">";
    if (query.cursor() != null) {
      if (query.timeOrdered()) {
        sql.append("\n  AND (").append(time).append(", id) ").append(cmp).append(" (?, ?)");
      } else {
        sql.append("\n  AND id ").append(cmp).append(" ?");
      }
    }
    String dir = desc ? " DESC" : "";
    sql.append("\nORDER BY ");
    if (query.timeOrdered()) {
      sql.append(time).append(dir).append(", ");
    }
    sql.append("id").append(dir).append("\nLIMIT ?");
    return q(sql.toString());
  }

  /**
   * {@code claimIds} taking the rows of the {@code chosen} CTE among {@code ctes}, found by
   * primary key from the array of their ids ({@link #byPrimaryKey}).
   */
  private String keyedClaim(String claimIds, String ctes) {
    return byPrimaryKey(replaceOnce(
        replaceOnce(claimIds, "),\nclaimable AS (", "),\n" + ctes.replace("{s}", schema) + ",\nclaimable AS ("),
        "j.id = ANY(?::bigint[])", "j.id = ANY(ARRAY(SELECT ch.id FROM chosen ch))"));
  }

  /**
   * {@code statement}, one of THE CLAIM's statements (a {@code claimable} CTE, then the update),
   * with the update finding its rows by primary key from the array of the claimable ids alone,
   * reading whether each may run from the row it updates, as {@code claim_v2} does (V015). As a
   * join ({@code FROM claimable c WHERE j.id = c.id}) the update could be planned as a walk of the
   * whole primary key (with a drained table's statistics: its pages kept, one live row in them), or
   * as a nested loop that read the array once per claimed row: 40,000 and 10,000 entries of
   * jobs_pkey for a claim of 100 among 20,000 jobs (HotPathFunctionsTest); the benchmark's keyed
   * phase ran at 400 jobs/s instead of 15,000 in some runs.
   */
  private static String byPrimaryKey(String statement) {
    String ok = "CASE WHEN c.ok THEN";
    if (statement.split(java.util.regex.Pattern.quote(ok), -1).length != 8) {
      throw new IllegalStateException("expected seven \"" + ok + "\" in:\n" + statement);
    }
    String update = replaceOnce(
        replaceOnce(statement.replace(ok, "CASE WHEN j.attempt < j.max_attempts THEN"),
            "FROM claimable c\nWHERE j.id = c.id", "WHERE j.id = ANY(ARRAY(SELECT c.id FROM claimable c))"),
        "j.context, c.ok,", "j.context, j.state = 'running',");
    return replaceOnce(update, "SELECT j.id, j.attempt < j.max_attempts AS ok FROM", "SELECT j.id FROM");
  }

  /**
   * A keyed claim under a per-key rate limit: its candidates leave out the keys without a whole
   * token at the bucket clock, and its per-key rule takes no more of a key's candidates than the
   * key's whole tokens (its burst when it has no bucket row).
   */
  private String keyRated(String keyedClaim) {
    String rated = replaceOnce(keyedClaim,
        "OR j.concurrency_key <> ALL(ARRAY(SELECT f.k FROM running f WHERE f.n >= ?)))",
        """
        OR j.concurrency_key <> ALL(ARRAY(SELECT f.k FROM running f WHERE f.n >= ?)))
              AND NOT EXISTS (
                SELECT 1 FROM {s}.key_rate_buckets kb
                WHERE kb.queue = j.queue AND kb.concurrency_key = j.concurrency_key
                  AND kb.empty_at > ?::timestamptz - ?::bigint * interval '1 microsecond')""");
    rated = replaceOnce(rated,
        "WHERE c.k IS NULL OR c.nth + coalesce((SELECT r.n FROM running r WHERE r.k = c.k), 0) <= ?",
        """
        WHERE c.k IS NULL OR c.nth + coalesce((SELECT r.n FROM running r WHERE r.k = c.k), 0) <= ?
            AND c.nth <= coalesce((
              SELECT least(?::int, floor(extract(epoch FROM ?::timestamptz - kb.empty_at) * 1000000 / ?::bigint))
              FROM {s}.key_rate_buckets kb WHERE kb.queue = ? AND kb.concurrency_key = c.k), ?::int)""");
    return rated.replace("{s}", schema);
  }

  /** {@code text} with its one occurrence of {@code from} replaced; a statement that lost it fails here. */
  private static String replaceOnce(String text, String from, String to) {
    int at = text.indexOf(from);
    if (at < 0 || text.indexOf(from, at + 1) >= 0) {
      throw new IllegalStateException("expected exactly one \"" + from + "\" in:\n" + text);
    }
    return text.substring(0, at) + to + text.substring(at + from.length());
  }

  /** See {@link HealthSql#staleAfterMs}, shared with the dashboard. */
  static String staleAfterMs(String w) {
    return HealthSql.staleAfterMs(w);
  }

  /** See {@link HealthSql#alive}, shared with the dashboard. */
  static String alive(String w) {
    return HealthSql.alive(w);
  }

  /** The worker row {@code w} heartbeated within half its own threshold: it may claim. */
  static String freshForClaims(String w) {
    return "(" + w + ".heartbeat_at > now() - " + staleAfterMs(w) + " * interval '500 microseconds')";
  }

  private String q(String sql) {
    return sql.replace("{s}", schema).strip() + "\n";
  }
}
