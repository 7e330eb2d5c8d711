package io.github.pgqueue.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.spring.WorkerLifecycle;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.context.ConfigurationPropertiesAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** What the auto-configuration refuses at start-up, and what it leaves out unless asked. */
class StartupChecksTest {

  @Configuration(proxyBeanMethods = false)
  static class UserBeans {
    @Bean
    DataSource dataSource() {
      return SharedDb.DB.dataSource();
    }

    @Bean
    TestApp.WelcomeHandler welcomeHandler() {
      return new TestApp.WelcomeHandler();
    }
  }

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ConfigurationPropertiesAutoConfiguration.class, PgQueueAutoConfiguration.class))
      .withUserConfiguration(UserBeans.class);

  @Test
  void aWorkerShutdownLongerThanSpringsPhaseFailsStartUp() {
    runner.withPropertyValues("pgqueue.worker.enabled=true", "pgqueue.worker.shutdown-timeout=25s",
            "pgqueue.worker.timeout-grace=10s", "spring.lifecycle.timeout-per-shutdown-phase=30s")
        .run(context -> {
          assertThat(context).hasFailed();
          assertThat(rootMessage(context.getStartupFailure())).contains(
              "pgqueue.worker.shutdown-timeout (PT25S) plus pgqueue.worker.timeout-grace (PT10S) is PT35S, "
                  + "more than spring.lifecycle.timeout-per-shutdown-phase (PT30S)");
        });
  }

  @Test
  void theDefaultsFitSpringBootsDefaultPhase() {
    runner.withPropertyValues("pgqueue.worker.enabled=true")
        .run(context -> assertThat(context).hasNotFailed().hasSingleBean(WorkerLifecycle.class));
  }

  @Test
  void aBadValueFailsStartUpNamingThePropertyAndTheValue() {
    runner.withPropertyValues("pgqueue.worker.queues.mail=0")
        .run(context -> {
          assertThat(context).hasFailed();
          assertThat(rootMessage(context.getStartupFailure()))
              .contains("pgqueue.worker.queues.mail must be between 1 and 1000, got 0");
        });
    runner.withPropertyValues("pgqueue.worker.poll-interval=-1s")
        .run(context -> assertThat(rootMessage(context.getStartupFailure()))
            .contains("pgqueue.worker.poll-interval must be positive, got PT-1S"));
  }

  @Test
  void noWorkerUnlessEnabled() {
    runner.run(context -> assertThat(context).hasNotFailed().hasSingleBean(JobQueue.class)
        .doesNotHaveBean(WorkerLifecycle.class));
  }

  private static String rootMessage(Throwable t) {
    StringBuilder all = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      all.append(c.getMessage()).append('\n');
    }
    return all.toString();
  }
}
