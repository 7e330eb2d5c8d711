package io.github.pgqueue.example.spring;

import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobType;
import io.github.pgqueue.spring.JobHandlerBean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/** Sends the welcome email (in the worker role). Idempotent: a job may run twice. */
@Component
class WelcomeEmailHandler implements JobHandlerBean<Jobs.WelcomeEmail> {

  private static final Logger log = LoggerFactory.getLogger(WelcomeEmailHandler.class);

  private final JdbcTemplate jdbc;
  private final Activity activity;

  WelcomeEmailHandler(JdbcTemplate jdbc, Activity activity) {
    this.jdbc = jdbc;
    this.activity = activity;
  }

  @Override
  public JobType<Jobs.WelcomeEmail> jobType() {
    return Jobs.WELCOME_EMAIL;
  }

  @Override
  public void handle(Jobs.WelcomeEmail email, JobContext ctx) {
    // A real app calls its mail provider here, passing ctx.id() as the idempotency key.
    log.info("sending the welcome email to {} (job {})", email.email(), ctx.id());
    jdbc.update("UPDATE users SET welcomed_at = coalesce(welcomed_at, now()) WHERE id = ?", email.userId());
    activity.record("welcome_email", "sent to " + email.email());
  }
}
