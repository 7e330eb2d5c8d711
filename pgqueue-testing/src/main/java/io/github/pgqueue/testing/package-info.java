/**
 * Test support for applications that use pgqueue, and for pgqueue's own tests.
 *
 * <p>Annotate a JUnit 5 test class with {@link io.github.pgqueue.testing.PgQueueTest} and take a
 * {@link io.github.pgqueue.testing.TestDatabase} parameter: each test class gets a fresh,
 * migrated PostgreSQL database of its own. Which server hosts it is chosen by {@link
 * io.github.pgqueue.testing.TestPostgres}.
 */
package io.github.pgqueue.testing;
