/**
 * Durable background jobs on PostgreSQL: pgqueue's public API. Every public type of this package
 * is supported API; it is listed here by role, and the checked-in API snapshot (module {@code
 * pgqueue-api-snapshot}) makes any change to it a visible diff.
 *
 * <h2>Describing jobs</h2>
 *
 * <ul>
 *   <li>{@link io.github.pgqueue.JobType}: a job's name and payload type, with default options.
 *   <li>{@link io.github.pgqueue.EnqueueOptions}: queue, priority, attempts, run time or delay,
 *       unique key and context of one enqueue; {@link io.github.pgqueue.NewJob} pairs a type, a
 *       payload and options for a batch.
 * </ul>
 *
 * <h2>Producing and inspecting: {@link io.github.pgqueue.JobQueue}</h2>
 *
 * <ul>
 *   <li>Enqueue one job or a batch, committed on its own or in the caller's transaction; the result
 *       is an {@link io.github.pgqueue.EnqueueResult} with the {@link io.github.pgqueue.JobId}.
 *   <li>Inspect: {@code find} returns a {@link io.github.pgqueue.JobInfo} (with its {@link
 *       io.github.pgqueue.JobState} and {@link io.github.pgqueue.JobError}s); {@code jobs} pages
 *       through jobs by key with a {@link io.github.pgqueue.JobQuery}, one {@link
 *       io.github.pgqueue.JobPage} at a time; {@code counts} and {@code stats} return {@link
 *       io.github.pgqueue.QueueCount}s and {@link io.github.pgqueue.QueueStats}.
 *   <li>Administer: {@code retry}, {@code cancel} and {@code delete} return an {@link
 *       io.github.pgqueue.AdminResult} saying what happened; {@code retryDiscarded} returns a
 *       {@link io.github.pgqueue.RetryDiscardedResult}; {@code pruneDiscarded} deletes old
 *       discarded jobs.
 * </ul>
 *
 * <h2>Consuming: {@link io.github.pgqueue.Worker}</h2>
 *
 * <ul>
 *   <li>A {@link io.github.pgqueue.JobHandler} per job type runs each job with a {@link
 *       io.github.pgqueue.JobContext} (attempt, deadline, snooze, cancel);
 *       {@link io.github.pgqueue.HandlerOptions} set its timeout and {@link
 *       io.github.pgqueue.Backoff}.
 *   <li>{@link io.github.pgqueue.JobListener}s receive a {@link io.github.pgqueue.JobEvent} per
 *       outcome; an attempt that ran too long is recorded with a {@link
 *       io.github.pgqueue.JobTimeoutException}.
 *   <li>{@link io.github.pgqueue.ConnectionFactory} opens the worker's own direct connection (LISTEN
 *       and heartbeat).
 *   <li>{@link io.github.pgqueue.JobInterceptor}s wrap each attempt on the thread that runs it.
 * </ul>
 *
 * <h2>Plugging in</h2>
 *
 * <ul>
 *   <li>{@link io.github.pgqueue.PayloadCodec} turns payloads into JSON and back; {@link
 *       io.github.pgqueue.JacksonCodec} (Jackson 2) is the default.
 *   <li>{@link io.github.pgqueue.EnqueueInterceptor} sees every enqueue before it is written, and
 *       its outcome after.
 *   <li>{@link io.github.pgqueue.ConnectionSource} joins transactions managed elsewhere.
 * </ul>
 *
 * <h2>Schema and failures</h2>
 *
 * <ul>
 *   <li>{@link io.github.pgqueue.Migrator} installs and upgrades the schema, or prints its SQL for
 *       a migration tool.
 *   <li>{@link io.github.pgqueue.PgQueueException} reports a database failure; {@link
 *       io.github.pgqueue.SchemaVersionException} a schema that is missing or too old. Bad
 *       arguments throw {@link IllegalArgumentException} naming the setting and the value.
 * </ul>
 *
 * <h2>Internals</h2>
 *
 * <p>Everything else in this package is package-private and may change in any release: the SQL
 * ({@code Sql}, every statement in one place as documented text blocks, parameterised, with only
 * the validated schema name interpolated) and the class that runs it ({@code JobStore}); the
 * worker's parts (control loop, fetchers, job runs, completer, watchdog, maintenance) and its
 * settings. What pgqueue's other modules share with core (name rules, how borrowed connections
 * are used, the lifecycle of long-lived parts, the benchmark's bridge) is in {@code
 * io.github.pgqueue.internal}, which {@code module-info} exports only to those modules: it is not
 * API and users must not depend on it.
 */
package io.github.pgqueue;
