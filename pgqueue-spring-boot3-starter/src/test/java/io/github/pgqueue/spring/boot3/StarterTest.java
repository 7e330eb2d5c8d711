package io.github.pgqueue.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.spring.WorkerLifecycle;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.actuate.health.HealthEndpointGroups;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.actuate.health.Status;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The test application with the worker on, against real PostgreSQL, in one Spring context: enqueue
 * joins the caller's transaction under a JDBC and a JPA transaction manager, and the worker bean
 * runs the job.
 */
@SpringBootTest(classes = TestApp.class, properties = {
    "pgqueue.migrate=true",
    "pgqueue.worker.enabled=true",
    "pgqueue.worker.queues.default=2",
    "pgqueue.worker.poll-interval=200ms",
    "spring.jpa.hibernate.ddl-auto=create-drop",
    "spring.jpa.open-in-view=false",
    "management.endpoint.health.probes.enabled=true",
})
// Closed after the class, while the database is still up: at JVM exit the worker would stop while
// the embedded server stops too, and wait out its bounds.
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class StarterTest {

  @DynamicPropertySource
  static void database(DynamicPropertyRegistry r) {
    r.add("spring.datasource.url", SharedDb.DB::jdbcUrl);
    r.add("spring.datasource.username", SharedDb.DB::user);
    r.add("spring.datasource.password", SharedDb.DB::password);
  }

  @Autowired TestApp.Signups signups;
  @Autowired TestApp.WelcomeHandler handler;
  @Autowired JobQueue queue;
  @Autowired WorkerLifecycle worker;
  @Autowired HealthEndpointGroups groups;
  @Autowired org.springframework.context.ApplicationContext context;

  private static String email() {
    return UUID.randomUUID() + "@example.com";
  }

  private static long heldJobs(String email) {
    return SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE queue = 'held' AND payload->>'email' = '" + email + "'");
  }

  private static long accounts(String email) {
    return SharedDb.count("SELECT count(*) FROM account WHERE email = '" + email + "'");
  }

  @Test
  void jdbcTransactionThatThrowsLeavesNoJob() {
    String email = email();
    assertThatThrownBy(() -> signups.signupJdbc(email, TestApp.HELD, true)).isInstanceOf(TestApp.SignupFailed.class);
    assertThat(accounts(email)).isZero();
    assertThat(heldJobs(email)).isZero();
  }

  @Test
  void jdbcTransactionThatCommitsLeavesExactlyOneJob() {
    String email = email();
    signups.signupJdbc(email, TestApp.HELD, false);
    assertThat(accounts(email)).isEqualTo(1);
    assertThat(heldJobs(email)).isEqualTo(1);
  }

  @Test
  void jpaTransactionThatThrowsLeavesNoJob() {
    String email = email();
    assertThatThrownBy(() -> signups.signupJpa(email, TestApp.HELD, true)).isInstanceOf(TestApp.SignupFailed.class);
    assertThat(accounts(email)).isZero();
    assertThat(heldJobs(email)).isZero();
  }

  @Test
  void jpaTransactionThatCommitsLeavesExactlyOneJob() {
    String email = email();
    signups.signupJpa(email, TestApp.HELD, false);
    assertThat(accounts(email)).isEqualTo(1);
    assertThat(heldJobs(email)).isEqualTo(1);
  }

  @Test
  void enqueueOutsideATransactionCommitsOnItsOwn() {
    String email = email();
    queue.enqueue(TestApp.WELCOME, new TestApp.Welcome(email),
        io.github.pgqueue.EnqueueOptions.builder().queue(TestApp.HELD).build());
    assertThat(heldJobs(email)).isEqualTo(1);
  }

  @Test
  void theWorkerBeanRunsACommittedJobAndARolledBackOneNever() {
    String committed = email();
    String rolledBack = email();
    assertThatThrownBy(() -> signups.signupJpa(rolledBack, "default", true)).isInstanceOf(TestApp.SignupFailed.class);
    signups.signupJdbc(committed, "default", false);
    await().atMost(Duration.ofSeconds(30)).until(() -> handler.sent.contains(committed)
        && SharedDb.count("SELECT count(*) FROM pgqueue.jobs WHERE payload->>'email' = '" + committed + "'") == 0);
    assertThat(handler.sent).containsOnlyOnce(committed).doesNotContain(rolledBack);
    assertThat(worker.isRunning()).isTrue();
  }

  @Test
  void healthIsUpAndInTheReadinessGroupOnly() {
    HealthIndicator indicator = context.getBean("pgqueueHealthIndicator", HealthIndicator.class);
    await().atMost(Duration.ofSeconds(30)).until(() -> indicator.health().getStatus().equals(Status.UP));
    assertThat(indicator.health().getDetails()).containsEntry("worker", "registered and heartbeating");
    assertThat(groups.get("readiness").isMember("pgqueue")).isTrue();
    assertThat(groups.get("liveness").isMember("pgqueue")).isFalse();
    assertThat(groups.get("liveness").isMember("livenessState")).isTrue();
  }
}
