package io.github.pgqueue.spring.boot;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.spring.JobHandlerBean;
import io.github.pgqueue.spring.WorkerCustomizer;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import jakarta.persistence.Entity;
import jakarta.persistence.EntityManager;
import jakarta.persistence.EntityManagerFactory;
import jakarta.persistence.GeneratedValue;
import jakarta.persistence.GenerationType;
import jakarta.persistence.Id;
import jakarta.persistence.PersistenceContext;
import jakarta.persistence.Table;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.sql.DataSource;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.support.JdbcTransactionManager;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.transaction.annotation.Transactional;

/**
 * The starter's test application: a signup that stores an account and enqueues a welcome email in
 * one transaction, through JDBC ({@code JdbcTransactionManager}, a {@code DataSourceTransactionManager}) or JPA ({@code
 * JpaTransactionManager}), a handler bean that records what it ran, and an OpenTelemetry SDK whose
 * spans an in-memory exporter keeps (Boot's Prometheus registry comes from the test class path).
 */
@SpringBootConfiguration
@EnableAutoConfiguration
public class TestApp {

  record Welcome(String email) {}

  static final JobType<Welcome> WELCOME = JobType.of("welcome_email", Welcome.class);

  /** A queue no test worker claims from, so a committed job stays for the test to count. */
  static final String HELD = "held";

  @Entity
  @Table(name = "account")
  public static class Account {
    @Id @GeneratedValue(strategy = GenerationType.IDENTITY) Long id;
    String email;

    protected Account() {}

    Account(String email) {
      this.email = email;
    }
  }

  /** Thrown by a signup asked to fail after it enqueued. */
  static final class SignupFailed extends RuntimeException {
    SignupFailed() {
      super("signup failed after enqueueing");
    }
  }

  public static class Signups {
    private final JobQueue queue;
    private final JdbcTemplate jdbc;
    @PersistenceContext EntityManager em;

    Signups(JobQueue queue, JdbcTemplate jdbc) {
      this.queue = queue;
      this.jdbc = jdbc;
    }

    @Transactional("jdbcTransactionManager")
    public void signupJdbc(String email, String jobQueue, boolean fail) {
      jdbc.update("INSERT INTO account (email) VALUES (?)", email);
      queue.enqueue(WELCOME, new Welcome(email), EnqueueOptions.builder().queue(jobQueue).build());
      if (fail) {
        throw new SignupFailed();
      }
    }

    @Transactional
    public void signupJpa(String email, String jobQueue, boolean fail) {
      em.persist(new Account(email));
      em.flush();
      queue.enqueue(WELCOME, new Welcome(email), EnqueueOptions.builder().queue(jobQueue).build());
      if (fail) {
        throw new SignupFailed();
      }
    }
  }

  /** Records every welcome email it ran. */
  public static class WelcomeHandler implements JobHandlerBean<Welcome> {
    final Queue<String> sent = new ConcurrentLinkedQueue<>();

    @Override
    public JobType<Welcome> jobType() {
      return WELCOME;
    }

    @Override
    public void handle(Welcome payload, JobContext context) {
      sent.add(payload.email());
    }
  }

  @Bean
  Signups signups(JobQueue queue, JdbcTemplate jdbc) {
    return new Signups(queue, jdbc);
  }

  @Bean
  WelcomeHandler welcomeHandler() {
    return new WelcomeHandler();
  }

  @Bean
  @Primary
  JpaTransactionManager transactionManager(EntityManagerFactory emf) {
    return new JpaTransactionManager(emf);
  }

  @Bean
  JdbcTransactionManager jdbcTransactionManager(DataSource dataSource) {
    return new JdbcTransactionManager(dataSource);
  }

  @Bean
  InMemorySpanExporter spanExporter() {
    return InMemorySpanExporter.create();
  }

  @Bean(destroyMethod = "close")
  OpenTelemetrySdk openTelemetry(InMemorySpanExporter exporter) {
    return OpenTelemetrySdk.builder()
        .setTracerProvider(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build())
        .build();
  }

  /** The span current inside an application's own job interceptor, by job id. */
  static final Map<String, String> SPAN_SEEN_BY_INTERCEPTOR = new ConcurrentHashMap<>();

  /** An application's own interceptor, added by an unordered customizer: tracing's span must cover it. */
  @Bean
  WorkerCustomizer spanRecordingInterceptor() {
    return builder -> builder.interceptor((job, invocation) -> {
      SPAN_SEEN_BY_INTERCEPTOR.put(job.id().toString(), Span.current().getSpanContext().getSpanId());
      invocation.proceed();
    });
  }
}
