/**
 * A PostgreSQL database per test class, with no dependency on pgqueue itself: {@link
 * io.github.pgqueue.testing.postgres.TestPostgres} chooses the server once per JVM (an external
 * one named by {@code PGQUEUE_TEST_JDBC_URL}, Testcontainers on request, else an embedded
 * PostgreSQL from Maven), and {@link io.github.pgqueue.testing.postgres.DatabaseExtension} hands
 * each test class a fresh database on it. pgqueue's own tests and {@code pgqueue-testing} build on
 * it.
 */
package io.github.pgqueue.testing.postgres;
