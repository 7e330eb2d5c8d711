package io.github.pgqueue.spring.boot;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Worker;
import io.github.pgqueue.opentelemetry.PgQueueTracing;
import io.github.pgqueue.spring.JobQueueCustomizer;
import io.github.pgqueue.spring.PgQueueProperties;
import io.github.pgqueue.spring.WorkerCustomizer;
import io.opentelemetry.api.OpenTelemetry;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;

/**
 * pgqueue's OpenTelemetry tracing, when pgqueue-opentelemetry is on the class path and the
 * application has an {@link OpenTelemetry} bean: a producer span per enqueue call, whose context
 * is stored with the jobs, and a consumer span per attempt, linked to it (and its child with {@code
 * pgqueue.tracing.consumer-span-is-child=true}). The job interceptor is added before every other
 * worker customizer's, so its span is the outermost. Off with {@code pgqueue.tracing.enabled=false}.
 */
@AutoConfiguration(after = PgQueueAutoConfiguration.class, afterName = {
    "org.springframework.boot.opentelemetry.autoconfigure.OpenTelemetrySdkAutoConfiguration"})
@ConditionalOnClass({PgQueueTracing.class, OpenTelemetry.class, JobQueue.class})
@ConditionalOnBean({OpenTelemetry.class, JobQueue.class})
@ConditionalOnProperty(name = "pgqueue.tracing.enabled", havingValue = "true", matchIfMissing = true)
public class PgQueueTracingAutoConfiguration {

  /** Created by Spring Boot. */
  public PgQueueTracingAutoConfiguration() {}

  @Bean
  @ConditionalOnMissingBean
  PgQueueTracing pgQueueTracing(OpenTelemetry openTelemetry, PgQueueProperties properties) {
    return PgQueueTracing.builder(openTelemetry)
        .consumerSpanIsChild(properties.getTracing().isConsumerSpanIsChild())
        .build();
  }

  @Bean
  JobQueueCustomizer pgQueueTracingEnqueueInterceptor(PgQueueTracing tracing) {
    return builder -> builder.enqueueInterceptor(tracing.enqueueInterceptor());
  }

  @Bean
  WorkerCustomizer pgQueueTracingJobInterceptor(PgQueueTracing tracing) {
    return new Outermost(tracing);
  }

  /** Adds the tracing interceptor first, so that its span covers every other interceptor. */
  private record Outermost(PgQueueTracing tracing) implements WorkerCustomizer, Ordered {
    @Override
    public void customize(Worker.Builder builder) {
      builder.interceptor(tracing.jobInterceptor());
    }

    @Override
    public int getOrder() {
      return Ordered.HIGHEST_PRECEDENCE;
    }
  }
}
