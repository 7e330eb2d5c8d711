/**
 * Spring Boot 4 auto-configuration for pgqueue: {@link io.github.pgqueue.spring.boot.PgQueueAutoConfiguration}
 * (the queue, the worker, cron, migrations), {@link
 * io.github.pgqueue.spring.boot.PgQueueHealthAutoConfiguration} (the readiness health indicator), {@link
 * io.github.pgqueue.spring.boot.PgQueueMetricsAutoConfiguration} (Micrometer, with pgqueue-micrometer)
 * and {@link io.github.pgqueue.spring.boot.PgQueueTracingAutoConfiguration} (OpenTelemetry, with
 * pgqueue-opentelemetry). The
 * building blocks are in {@code io.github.pgqueue.spring} (module pgqueue-spring).
 */
package io.github.pgqueue.spring.boot;
