package io.github.pgqueue.spring.boot3;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.micrometer.PgQueueMetrics;
import io.github.pgqueue.micrometer.QueueGauges;
import io.github.pgqueue.spring.JobQueueCustomizer;
import io.github.pgqueue.spring.PgQueueProperties;
import io.github.pgqueue.spring.WorkerCustomizer;
import io.github.pgqueue.spring.WorkerLifecycle;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;

/**
 * pgqueue's Micrometer metrics, when pgqueue-micrometer is on the class path and the application
 * has a {@link MeterRegistry}: the enqueue interceptor on the queue ({@code pgqueue.jobs.enqueued}),
 * the job listener on the worker ({@code pgqueue.jobs.*}), the worker's gauges when this process
 * runs one ({@code pgqueue.worker.*}), and the fleet-wide queue gauges ({@code pgqueue.queue.*})
 * only with {@code pgqueue.metrics.queue-gauges.enabled=true}. Off with {@code
 * pgqueue.metrics.enabled=false}.
 *
 * <p>The gauges are bound to the registry here, not left to Boot's binding of {@code MeterBinder}
 * beans, so they appear whichever registry the application defines; the queue gauges' reading
 * thread stops when the context closes.
 *
 * <p>The Boot 4 starter has the same class; only the names of the Boot auto-configurations it
 * follows differ.
 */
@AutoConfiguration(after = PgQueueAutoConfiguration.class, afterName = {
    "org.springframework.boot.actuate.autoconfigure.metrics.CompositeMeterRegistryAutoConfiguration",
    "org.springframework.boot.actuate.autoconfigure.metrics.export.simple.SimpleMetricsExportAutoConfiguration",
    "org.springframework.boot.actuate.autoconfigure.metrics.export.prometheus.PrometheusMetricsExportAutoConfiguration"})
@ConditionalOnClass({PgQueueMetrics.class, MeterRegistry.class, JobQueue.class})
@ConditionalOnBean({MeterRegistry.class, JobQueue.class})
@ConditionalOnProperty(name = "pgqueue.metrics.enabled", havingValue = "true", matchIfMissing = true)
public class PgQueueMetricsAutoConfiguration {

  /** Created by Spring Boot. */
  public PgQueueMetricsAutoConfiguration() {}

  @Bean
  @ConditionalOnMissingBean
  PgQueueMetrics pgQueueMetrics(MeterRegistry registry) {
    return PgQueueMetrics.builder(registry).build();
  }

  @Bean
  JobQueueCustomizer pgQueueMetricsEnqueueInterceptor(PgQueueMetrics metrics) {
    return builder -> builder.enqueueInterceptor(metrics.enqueueInterceptor());
  }

  @Bean
  WorkerCustomizer pgQueueMetricsJobListener(PgQueueMetrics metrics) {
    return builder -> builder.listener(metrics.jobListener());
  }

  @Bean
  @ConditionalOnBean(WorkerLifecycle.class)
  WorkerGaugesBinding pgQueueWorkerGauges(PgQueueMetrics metrics, WorkerLifecycle worker, MeterRegistry registry) {
    metrics.workerGauges(worker.worker()).bindTo(registry);
    return new WorkerGaugesBinding();
  }

  @Bean(destroyMethod = "close")
  @ConditionalOnProperty(name = "pgqueue.metrics.queue-gauges.enabled", havingValue = "true")
  QueueGauges pgQueueQueueGauges(PgQueueMetrics metrics, JobQueue queue, PgQueueProperties properties,
      MeterRegistry registry) {
    QueueGauges gauges = metrics.queueGauges(queue, properties.getMetrics().getQueueGauges().getInterval());
    gauges.bindTo(registry);
    return gauges;
  }

  /** Marks that the worker's gauges are bound (the worker's own lifecycle owns the worker). */
  static final class WorkerGaugesBinding {}
}
