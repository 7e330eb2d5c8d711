package io.github.pgqueue.example;

import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobType;
import java.time.Instant;

/** The example's job types: shared by the web (enqueue), the worker (handle) and cron (schedule). */
final class Jobs {
  private Jobs() {}

  /** Sent once per signup, enqueued in the signup's own transaction. */
  record WelcomeEmail(long userId, String email) {}

  /** Copies a new user to a CRM that is down now and then: retries and discards show up. */
  record SyncCrm(long userId) {}

  /** The nightly cleanup; {@code scheduledFor} is the cron firing it belongs to. */
  record Cleanup(Instant scheduledFor) {}

  /** A periodic report of the app's numbers. */
  record Report(Instant scheduledFor) {}

  static final JobType<WelcomeEmail> WELCOME_EMAIL =
      JobType.of("send_welcome_email", WelcomeEmail.class)
          .withDefaults(EnqueueOptions.builder().queue("mail").build());

  static final JobType<SyncCrm> SYNC_CRM =
      JobType.of("sync_crm", SyncCrm.class)
          .withDefaults(EnqueueOptions.builder().maxAttempts(3).build());

  static final JobType<Cleanup> CLEANUP = JobType.of("nightly_cleanup", Cleanup.class);

  static final JobType<Report> REPORT = JobType.of("report", Report.class);
}
