package io.github.pgqueue.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobType;
import io.github.pgqueue.cron.CronJob;
import io.github.pgqueue.cron.Schedule;
import io.github.pgqueue.spring.CronLifecycle;
import java.time.Duration;
import java.time.Instant;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.context.ConfigurationPropertiesAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** pgqueue.cron.enabled=true runs the cron scheduler with the CronJob beans, and stops it with the context. */
class CronStarterTest {

  record Tick(Instant at) {}

  static final JobType<Tick> TICK = JobType.of("cron_starter_tick", Tick.class);

  @Configuration(proxyBeanMethods = false)
  static class UserBeans {
    @Bean
    DataSource dataSource() {
      return SharedDb.DB.dataSource();
    }

    @Bean
    CronJob<Tick> tick() {
      return CronJob.of("starter-tick", Schedule.every(Duration.ofSeconds(1)), TICK, Tick::new)
          .withOptions(EnqueueOptions.builder().queue(TestApp.HELD).build());
    }
  }

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ConfigurationPropertiesAutoConfiguration.class, PgQueueAutoConfiguration.class))
      .withUserConfiguration(UserBeans.class)
      .withPropertyValues("pgqueue.migrate=true");

  @Test
  void cronFiresTheCronJobBeansWhenEnabled() {
    runner.withPropertyValues("pgqueue.cron.enabled=true").run(context -> {
      assertThat(context).hasNotFailed();
      CronLifecycle cron = context.getBean(CronLifecycle.class);
      assertThat(cron.isRunning()).isTrue();
      await().atMost(Duration.ofSeconds(30)).until(() ->
          SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE name = 'cron_starter_tick'") > 0);
      context.close();
      assertThat(cron.isRunning()).isFalse();
      assertThat(cron.scheduler().isRunning()).isFalse();
    });
  }

  @Test
  void noCronUnlessEnabled() {
    runner.run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(CronLifecycle.class));
  }
}
