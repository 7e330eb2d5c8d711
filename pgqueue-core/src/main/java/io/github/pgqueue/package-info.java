/**
 * Durable background jobs on PostgreSQL.
 *
 * <p>The public API is small: {@link io.github.pgqueue.JobType} names a kind of job and its payload
 * class; {@link io.github.pgqueue.JobQueue} enqueues jobs (alone, in bulk, scheduled, prioritised,
 * deduplicated, or in the caller's own transaction) and inspects them; {@link
 * io.github.pgqueue.Migrator} installs and upgrades the schema. Everything else in this package is
 * package-private.
 *
 * <p>All SQL lives in one package-private class ({@code Sql}) and is run by one class ({@code
 * JobStore}); every statement is parameterised and names its schema explicitly.
 */
package io.github.pgqueue;
