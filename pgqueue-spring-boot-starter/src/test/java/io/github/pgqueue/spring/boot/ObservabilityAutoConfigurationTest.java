package io.github.pgqueue.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.micrometer.PgQueueMetrics;
import io.github.pgqueue.micrometer.QueueGauges;
import io.github.pgqueue.opentelemetry.PgQueueTracing;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.context.ConfigurationPropertiesAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The metrics and tracing auto-configurations' switches, without a worker: the fleet-wide queue
 * gauges only when enabled, read at the set interval and closed with the context; a bad interval
 * fails start-up; {@code pgqueue.metrics.enabled=false} and {@code pgqueue.tracing.enabled=false}
 * turn them off; without a registry or an OpenTelemetry bean they stay away.
 */
class ObservabilityAutoConfigurationTest {

  @Configuration(proxyBeanMethods = false)
  static class UserBeans {
    @Bean
    DataSource dataSource() {
      return SharedDb.DB.dataSource();
    }

    @Bean
    SimpleMeterRegistry meterRegistry() {
      return new SimpleMeterRegistry();
    }

    @Bean
    OpenTelemetry openTelemetry() {
      return OpenTelemetry.noop();
    }
  }

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ConfigurationPropertiesAutoConfiguration.class,
          PgQueueAutoConfiguration.class, PgQueueMetricsAutoConfiguration.class, PgQueueTracingAutoConfiguration.class))
      .withUserConfiguration(UserBeans.class)
      .withPropertyValues("pgqueue.migrate=true");

  @Test
  void queueGaugesAreReadAtTheIntervalWhenEnabledAndClosedWithTheContext() {
    runner.withPropertyValues("pgqueue.metrics.queue-gauges.enabled=true", "pgqueue.metrics.queue-gauges.interval=1s")
        .run(context -> {
          assertThat(context).hasNotFailed();
          MeterRegistry registry = context.getBean(MeterRegistry.class);
          QueueGauges gauges = context.getBean(QueueGauges.class);
          await().atMost(Duration.ofSeconds(30)).until(() ->
              !Double.isNaN(registry.get("pgqueue.queue.stats.age").gauge().value()));
          context.close();
          assertThatThrownBy(() -> gauges.bindTo(new SimpleMeterRegistry()))
              .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        });
  }

  @Test
  void queueGaugesAreOffByDefaultAndTheRestIsOn() {
    runner.run(context -> {
      assertThat(context).hasNotFailed().hasSingleBean(PgQueueMetrics.class).hasSingleBean(PgQueueTracing.class)
          .doesNotHaveBean(QueueGauges.class);
      assertThat(context.getBean(MeterRegistry.class).find("pgqueue.queue.stats.age").gauges()).isEmpty();
    });
  }

  @Test
  void aBadIntervalFailsStartUpNamingTheProperty() {
    runner.withPropertyValues("pgqueue.metrics.queue-gauges.enabled=true", "pgqueue.metrics.queue-gauges.interval=500ms")
        .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
            .hasMessageContaining("pgqueue.metrics.queue-gauges.interval must be between 1s and 1h, got PT0.5S"));
  }

  @Test
  void theSwitchesTurnEachIntegrationOff() {
    runner.withPropertyValues("pgqueue.metrics.enabled=false", "pgqueue.tracing.enabled=false",
            "pgqueue.metrics.queue-gauges.enabled=true")
        .run(context -> assertThat(context).hasNotFailed()
            .doesNotHaveBean(PgQueueMetrics.class).doesNotHaveBean(PgQueueTracing.class).doesNotHaveBean(QueueGauges.class));
  }

  @Test
  void withoutARegistryOrAnOpenTelemetryBeanNeitherApplies() {
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ConfigurationPropertiesAutoConfiguration.class,
            PgQueueAutoConfiguration.class, PgQueueMetricsAutoConfiguration.class, PgQueueTracingAutoConfiguration.class))
        .withBean(DataSource.class, SharedDb.DB::dataSource)
        .run(context -> assertThat(context).hasNotFailed()
            .doesNotHaveBean(PgQueueMetrics.class).doesNotHaveBean(PgQueueTracing.class));
  }
}
