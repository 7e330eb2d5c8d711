package io.github.pgqueue.spring.boot3;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.cron.CronJob;
import io.github.pgqueue.cron.CronScheduler;
import io.github.pgqueue.spring.CronLifecycle;
import io.github.pgqueue.spring.JobHandlerBean;
import io.github.pgqueue.spring.JobQueueCustomizer;
import io.github.pgqueue.spring.PgQueueProperties;
import io.github.pgqueue.spring.SpringPgQueue;
import io.github.pgqueue.spring.WorkerCustomizer;
import io.github.pgqueue.spring.WorkerLifecycle;
import java.time.Duration;
import java.util.Map;
import javax.sql.DataSource;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * pgqueue for a Spring Boot 3 application with a {@link DataSource}: a {@link JobQueue} whose
 * enqueues join the caller's Spring transaction; a worker running the {@link JobHandlerBean} beans
 * when {@code pgqueue.worker.enabled=true}; the cron scheduler firing the {@link CronJob} beans
 * when {@code pgqueue.cron.enabled=true}; migrations at start-up when {@code pgqueue.migrate=true}.
 *
 * <p>The same class as the Boot 4 starter's but for the names of the auto-configurations it follows
 * (Boot 4 moved them). Integrations plug in as {@link JobQueueCustomizer} and {@link WorkerCustomizer} beans (a
 * metrics or tracing auto-configuration, conditional on its classes, contributes one).
 */
@AutoConfiguration(afterName = {
    "org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration",
    "org.springframework.boot.autoconfigure.flyway.FlywayAutoConfiguration"})
@ConditionalOnClass(JobQueue.class)
@ConditionalOnBean(DataSource.class)
public class PgQueueAutoConfiguration {

  /** The phase timeout's property, and Spring Boot's default for it. */
  static final String PHASE_TIMEOUT = "spring.lifecycle.timeout-per-shutdown-phase";

  static final Duration DEFAULT_PHASE_TIMEOUT = Duration.ofSeconds(30);

  /** Created by Spring Boot. */
  public PgQueueAutoConfiguration() {}

  @Bean
  @ConfigurationProperties("pgqueue")
  @ConditionalOnMissingBean
  PgQueueProperties pgQueueProperties() {
    return new PgQueueProperties();
  }

  @Bean
  @ConditionalOnMissingBean
  JobQueue jobQueue(DataSource dataSource, PgQueueProperties properties, ObjectProvider<JobQueueCustomizer> customizers) {
    return SpringPgQueue.jobQueue(dataSource, properties, customizers.orderedStream().toList());
  }

  @Bean
  @ConditionalOnProperty(name = "pgqueue.worker.enabled", havingValue = "true")
  @ConditionalOnMissingBean
  @SuppressWarnings({"unchecked", "rawtypes"})
  WorkerLifecycle pgQueueWorker(JobQueue queue, PgQueueProperties properties, ListableBeanFactory beans,
      ObjectProvider<WorkerCustomizer> customizers, Environment environment) {
    Duration phase = Binder.get(environment).bind(PHASE_TIMEOUT, Duration.class).orElse(DEFAULT_PHASE_TIMEOUT);
    SpringPgQueue.checkShutdownFits(properties, phase, PHASE_TIMEOUT);
    Map<String, JobHandlerBean<?>> handlers = (Map) beans.getBeansOfType(JobHandlerBean.class);
    return new WorkerLifecycle(SpringPgQueue.worker(queue, properties, handlers, customizers.orderedStream().toList()));
  }

  /** The cron scheduler, when pgqueue-cron is on the class path and cron is switched on. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(CronScheduler.class)
  @ConditionalOnProperty(name = "pgqueue.cron.enabled", havingValue = "true")
  static class Cron {

    @Bean
    @ConditionalOnMissingBean
    @SuppressWarnings({"unchecked", "rawtypes"})
    CronLifecycle pgQueueCron(JobQueue queue, DataSource dataSource, ListableBeanFactory beans) {
      Map<String, CronJob<?>> jobs = (Map) beans.getBeansOfType(CronJob.class);
      return CronLifecycle.of(queue, dataSource, jobs);
    }
  }
}
