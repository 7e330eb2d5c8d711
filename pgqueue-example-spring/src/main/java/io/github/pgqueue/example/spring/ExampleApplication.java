package io.github.pgqueue.example.spring;

import java.util.Arrays;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The three pillars as one Spring Boot application, run in a role chosen by profile:
 *
 * <ul>
 *   <li>{@code web}: the signup form and API; a signup stores the user and enqueues its welcome
 *       email in one {@code @Transactional} method;
 *   <li>{@code worker}: {@code pgqueue.worker.enabled=true}, runs the handler beans;
 *   <li>{@code cron}: {@code pgqueue.cron.enabled=true}, enqueues the periodic report;
 *   <li>{@code devdb}: serves an embedded PostgreSQL when {@code DATABASE_URL} is unset.
 * </ul>
 *
 * <p>Every role serves {@code /actuator/health} (with pgqueue's readiness indicator) and {@code
 * /actuator/prometheus} on {@code PORT}. With no profile, all four run in one JVM.
 */
@SpringBootApplication
@ConfigurationPropertiesScan
public class ExampleApplication {

  /**
   * Starts the application in the roles of {@code --spring.profiles.active}.
   *
   * @param args Spring Boot's command line arguments
   */
  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(ExampleApplication.class);
    app.addListeners(new DevDatabase());
    ConfigurableApplicationContext context = app.run(args);
    String[] active = context.getEnvironment().getActiveProfiles();
    String roles = String.join(",", Arrays.asList(active.length > 0 ? active : context.getEnvironment().getDefaultProfiles()));
    // Runs on SIGTERM after Spring closed the context: the worker stopped, the pool closed.
    SpringApplication.getShutdownHandlers().add(() -> System.out.println(roles + ": stopped"));
  }
}
