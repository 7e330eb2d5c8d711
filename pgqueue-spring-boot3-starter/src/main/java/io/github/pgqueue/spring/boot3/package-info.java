/**
 * Spring Boot 3.5 auto-configuration for pgqueue: {@link io.github.pgqueue.spring.boot3.PgQueueAutoConfiguration}
 * (the queue, the worker, cron, migrations), {@link
 * io.github.pgqueue.spring.boot3.PgQueueHealthAutoConfiguration} (the readiness health indicator), {@link
 * io.github.pgqueue.spring.boot3.PgQueueMetricsAutoConfiguration} (Micrometer, with pgqueue-micrometer)
 * and {@link io.github.pgqueue.spring.boot3.PgQueueTracingAutoConfiguration} (OpenTelemetry, with
 * pgqueue-opentelemetry). The
 * building blocks are in {@code io.github.pgqueue.spring} (module pgqueue-spring).
 */
package io.github.pgqueue.spring.boot3;
