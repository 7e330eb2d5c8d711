/**
 * Test support for applications that use pgqueue.
 *
 * <p>Annotate a JUnit 5 test class with {@link io.github.pgqueue.testing.PgQueueTest} and take a
 * {@link io.github.pgqueue.testing.postgres.TestDatabase} parameter: each test class gets a fresh,
 * migrated PostgreSQL database of its own (from {@code pgqueue-testing-postgres}, which chooses the
 * server). {@link io.github.pgqueue.testing.JobTester} enqueues and runs jobs inline and checks
 * what was enqueued.
 */
package io.github.pgqueue.testing;
