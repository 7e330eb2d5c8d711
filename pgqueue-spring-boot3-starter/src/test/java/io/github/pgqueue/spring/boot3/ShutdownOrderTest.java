package io.github.pgqueue.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.spring.JobHandlerBean;
import io.github.pgqueue.spring.WorkerLifecycle;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.context.ConfigurationPropertiesAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Closing the application context while a job runs: the worker stops first and the running job
 * finishes and has its outcome written, all before the connection pool bean is destroyed.
 */
class ShutdownOrderTest {

  record Slow(String id) {}

  static final JobType<Slow> SLOW = JobType.of("shutdown_order_slow", Slow.class);

  static final CountDownLatch started = new CountDownLatch(1);
  static final CountDownLatch release = new CountDownLatch(1);
  static final AtomicBoolean finished = new AtomicBoolean();
  static final AtomicBoolean interrupted = new AtomicBoolean();

  static final class SlowHandler implements JobHandlerBean<Slow> {
    @Override
    public JobType<Slow> jobType() {
      return SLOW;
    }

    @Override
    public void handle(Slow payload, JobContext context) {
      started.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
        finished.set(true);
      } catch (InterruptedException e) {
        interrupted.set(true);
        Thread.currentThread().interrupt();
      }
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class UserBeans {
    @Bean(destroyMethod = "close")
    HikariDataSource dataSource() {
      HikariDataSource ds = new HikariDataSource();
      ds.setJdbcUrl(SharedDb.DB.jdbcUrl());
      ds.setUsername(SharedDb.DB.user());
      ds.setPassword(SharedDb.DB.password());
      return ds;
    }

    @Bean
    SlowHandler slowHandler() {
      return new SlowHandler();
    }
  }

  @Test
  void theRunningJobFinishesAndIsWrittenBeforeThePoolCloses() {
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(ConfigurationPropertiesAutoConfiguration.class, PgQueueAutoConfiguration.class))
        .withUserConfiguration(UserBeans.class)
        .withPropertyValues("pgqueue.migrate=true", "pgqueue.worker.enabled=true",
            "pgqueue.worker.queues.shutdown-order=1", "pgqueue.worker.poll-interval=100ms")
        .run(context -> {
          JobQueue queue = context.getBean(JobQueue.class);
          HikariDataSource pool = context.getBean(HikariDataSource.class);
          WorkerLifecycle worker = context.getBean(WorkerLifecycle.class);
          queue.enqueue(SLOW, new Slow("x"), EnqueueOptions.builder().queue("shutdown-order").build());
          assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
          await().atMost(Duration.ofSeconds(30)).until(() -> worker.worker().workerId() != 0);
          long workerId = worker.worker().workerId();

          Thread closer = new Thread(context::close, "test-context-close");
          closer.start();
          // The close waits for the running job: the worker's lifecycle is stopping, the pool is open.
          await().atMost(Duration.ofSeconds(10)).until(() -> closer.getState() == Thread.State.WAITING
              || closer.getState() == Thread.State.TIMED_WAITING);
          await().atMost(Duration.ofSeconds(10)).until(() -> !worker.worker().isHealthy());
          assertThat(pool.isClosed()).isFalse();

          release.countDown();
          closer.join(Duration.ofSeconds(60).toMillis());
          assertThat(closer.isAlive()).isFalse();
          assertThat(pool.isClosed()).isTrue();
          assertThat(finished).isTrue();
          assertThat(interrupted).isFalse();
          // The success was written before the pool closed: the job is gone, not handed back.
          assertThat(SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE name = 'shutdown_order_slow'")).isZero();
          assertThat(SharedDb.count("SELECT count(*) FROM pgqueue.workers WHERE id = " + workerId)).isZero();
        });
  }
}
