package io.github.pgqueue.example.spring;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobType;
import java.time.Instant;

/** The example's job types: enqueued by the web role, run by the worker role, fired by the cron role. */
final class Jobs {
  private Jobs() {}

  /** Sent once per signup, enqueued in the signup's own transaction. */
  record WelcomeEmail(long userId, String email) {}

  /** A periodic report of the app's numbers; {@code scheduledFor} is the firing it belongs to. */
  record Report(Instant scheduledFor) {}

  static final JobType<WelcomeEmail> WELCOME_EMAIL =
      JobType.of("send_welcome_email", WelcomeEmail.class)
          .withDefaults(EnqueueOptions.builder().queue("mail").build());

  static final JobType<Report> REPORT = JobType.of("report", Report.class);
}
