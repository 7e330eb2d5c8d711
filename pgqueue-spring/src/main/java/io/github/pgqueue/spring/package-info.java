/**
 * Spring Framework support for pgqueue: {@link io.github.pgqueue.spring.SpringConnectionSource}
 * makes enqueue join the caller's Spring transaction, {@link io.github.pgqueue.spring.JobHandlerBean}
 * declares a handler bean, {@link io.github.pgqueue.spring.WorkerLifecycle} and {@link
 * io.github.pgqueue.spring.CronLifecycle} start and stop the worker and the cron scheduler with the
 * application context, {@link io.github.pgqueue.spring.SpringPgQueue} builds them from {@link
 * io.github.pgqueue.spring.PgQueueProperties}, and {@link io.github.pgqueue.spring.PgQueueHealth}
 * is the health check the Spring Boot starters adapt.
 */
package io.github.pgqueue.spring;
