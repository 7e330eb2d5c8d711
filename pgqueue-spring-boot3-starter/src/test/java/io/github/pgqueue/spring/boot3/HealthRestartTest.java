package io.github.pgqueue.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.actuate.health.Status;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The health indicator turns DOWN when the database stops and UP when it returns, on an embedded
 * PostgreSQL of its own (never the shared one), with the application's worker heartbeating.
 */
@Tag("process")
class HealthRestartTest {

  static TestPostgres server;
  static ConfigurableApplicationContext app;

  @BeforeAll
  static void start() {
    server = TestPostgres.startEmbedded();
    TestDatabase db = server.createDatabase("pgqueue");
    // Not a web application, whatever the test class path holds (spring-web and the servlet API
    // are there for DashboardStarterTest, and without NONE Boot would look for a servlet container).
    app = new SpringApplicationBuilder(TestApp.class).web(WebApplicationType.NONE).properties(
        "spring.datasource.url=" + db.jdbcUrl(),
        "spring.datasource.username=" + db.user(),
        "spring.datasource.password=" + db.password(),
        "spring.datasource.hikari.connection-timeout=1000",
        "spring.jpa.hibernate.ddl-auto=create-drop",
        "pgqueue.migrate=true",
        "pgqueue.worker.enabled=true",
        "pgqueue.worker.heartbeat-interval=200ms",
        "pgqueue.worker.stale-after=2s",
        "pgqueue.worker.poll-interval=200ms",
        "pgqueue.worker.shutdown-timeout=2s",
        "pgqueue.health.stats-interval=200ms").run();
  }

  @AfterAll
  static void stop() {
    if (app != null) {
      app.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  void downWhileTheDatabaseIsStoppedAndUpWhenItReturns() {
    HealthIndicator health = app.getBean("pgqueueHealthIndicator", HealthIndicator.class);
    await().atMost(Duration.ofSeconds(30)).until(() -> health.health().getStatus().equals(Status.UP));

    server.stopServer();
    await().atMost(Duration.ofSeconds(30)).until(() -> health.health().getStatus().equals(Status.DOWN));
    assertThat(health.health().getDetails()).containsEntry("worker", "not heartbeating");

    server.startServer();
    await().atMost(Duration.ofSeconds(60)).until(() -> health.health().getStatus().equals(Status.UP));
  }
}
