/**
 * Spring Boot 4 auto-configuration for pgqueue: {@link io.github.pgqueue.spring.boot.PgQueueAutoConfiguration}
 * (the queue, the worker, cron, migrations) and {@link
 * io.github.pgqueue.spring.boot.PgQueueHealthAutoConfiguration} (the readiness health indicator). The
 * building blocks are in {@code io.github.pgqueue.spring} (module pgqueue-spring).
 */
package io.github.pgqueue.spring.boot;
