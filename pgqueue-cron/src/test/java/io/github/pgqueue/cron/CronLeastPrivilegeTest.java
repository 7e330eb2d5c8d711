package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronDb.FIRED;
import static io.github.pgqueue.cron.CronDb.jobs;
import static io.github.pgqueue.cron.CronDb.lastFired;
import static io.github.pgqueue.cron.CronDb.row;
import static io.github.pgqueue.cron.CronDb.runAts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.cron.CronDb.Fired;
import io.github.pgqueue.cron.CronDb.Job;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testsupport.LeastPrivilege;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.util.PSQLException;

/**
 * The real scheduler as a role with only the cron grants of docs/security.md (core's {@link
 * LeastPrivilege} sets them up as a DBA would): it registers a schedule, a process started later
 * redefines it, two processes race for each firing and enqueue it once; and the role cannot delete
 * or change jobs or schedules.
 */
@Tag("process")
@Timeout(60)
class CronLeastPrivilegeTest {

  private static final Duration WAIT = Duration.ofSeconds(10);

  static LeastPrivilege roles;
  static TestDatabase db;

  @BeforeAll
  static void setUp() throws SQLException {
    roles = LeastPrivilege.start();
    db = roles.db();
    roles.migrateAndGrant();
  }

  @AfterAll
  static void tearDown() throws SQLException {
    roles.close();
  }

  @Test
  void theCronRoleRegistersRedefinesAndFiresEachFiringOnceButCannotDeleteJobsOrSchedules() throws SQLException {
    DataSource ds = roles.as(roles.cron);
    TestClock clock = TestClock.atSystemTime();
    List<CronScheduler> schedulers = new ArrayList<>();
    try {
      // Registration: a new name is inserted ...
      CronScheduler first = scheduler(ds, clock, "0 3 * * *", "first");
      schedulers.add(first);
      first.start();
      await().atMost(WAIT).until(() -> row(db, "nightly"), r -> r != null && r.definition().equals("cron 0 3 * * * UTC"));
      first.close();
      // ... then locked and redefined by a process with another definition, and locked and left
      // alone by one with the same definition.
      for (String by : List.of("a", "b")) {
        CronScheduler s = scheduler(ds, clock, "* * * * * *", by);
        schedulers.add(s);
        s.start();
      }
      await().atMost(WAIT).until(() -> row(db, "nightly"), r -> r != null && r.definition().equals("cron * * * * * * UTC"));
      Instant last = await().atMost(WAIT).until(() -> lastFired(db, "nightly"), Objects::nonNull);
      List<Instant> t = CronFirings.next("* * * * * *", "UTC", last, 3);
      for (Instant at : t) {
        clock.set(at);
        schedulers.forEach(CronScheduler::wake);
        await().atMost(WAIT).until(() -> at.equals(lastFired(db, "nightly")));
      }
      schedulers.forEach(CronScheduler::close);
      List<Job> jobs = jobs(db);
      assertThat(runAts(jobs)).as("each firing claimed and enqueued once").containsExactlyElementsOf(t);
      assertThat(jobs).extracting(Job::context).containsOnly("cron:nightly");
      assertThat(jobs).extracting(Job::by).doesNotContain("first");
    } finally {
      schedulers.forEach(CronScheduler::close);
    }

    for (String forbidden : new String[] {
        "DELETE FROM pgqueue.cron_schedules",
        "DELETE FROM pgqueue.jobs",
        "UPDATE pgqueue.jobs SET priority = 1",
        "TRUNCATE pgqueue.cron_schedules",
    }) {
      assertThatThrownBy(() -> roles.executeAs(roles.cron, forbidden)).as(forbidden)
          .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"));
    }
    db.execute("TRUNCATE pgqueue.jobs");
  }

  /**
   * CronAdmin as an ops role with the grants of docs/security.md ({@code SELECT, UPDATE} on
   * {@code cron_schedules}, and reading the schema version), and the cron role serving its
   * trigger request.
   */
  @Test
  void anOpsRoleAdministersSchedulesAndTheCronRoleServesItsTrigger() throws SQLException {
    String ops = roles.cron + "_ops";
    roles.adminExecute(
        "CREATE ROLE " + ops + " LOGIN",
        "GRANT USAGE ON SCHEMA pgqueue TO " + ops,
        "GRANT SELECT ON pgqueue.schema_migrations TO " + ops,
        "GRANT SELECT, UPDATE ON pgqueue.cron_schedules TO " + ops);
    DataSource cronDs = roles.as(roles.cron);
    CronScheduler s = CronScheduler.builder(JobQueue.create(cronDs), cronDs)
        .pollInterval(Duration.ofMillis(200))
        .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(40))
        .add(CronJob.of("yearly", Schedule.cron("0 0 1 1 *"), FIRED, at -> new Fired("ops", at)))
        .build();
    try {
      s.start();
      await().atMost(WAIT).until(() -> row(db, "yearly") != null);
      CronAdmin admin = CronAdmin.create(roles.as(ops));
      assertThat(admin.schedules()).extracting(CronAdmin.ScheduleInfo::name).contains("yearly");
      assertThat(admin.disable("yearly")).isTrue();
      assertThat(admin.enable("yearly")).isTrue();
      assertThat(admin.triggerNow("yearly")).isEqualTo(CronAdmin.TriggerResult.REQUESTED);
      await().atMost(WAIT).until(() -> jobs(db).stream().anyMatch(j -> j.by().equals("ops")));
      await().atMost(WAIT).until(() -> admin.schedule("yearly").orElseThrow().triggerRequestedAt() == null);
      for (String forbidden : new String[] {
          "DELETE FROM pgqueue.cron_schedules",
          "INSERT INTO pgqueue.cron_schedules (name, definition, origin, last_fired) VALUES ('x', 'every PT1S', now(), now())",
          "SELECT count(*) FROM pgqueue.jobs",
      }) {
        assertThatThrownBy(() -> roles.executeAs(ops, forbidden)).as(forbidden)
            .isInstanceOfSatisfying(PSQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("42501"));
      }
    } finally {
      s.close();
      db.execute("TRUNCATE pgqueue.jobs");
      roles.adminExecute("DROP OWNED BY " + ops, "DROP ROLE " + ops);
    }
  }

  private static CronScheduler scheduler(DataSource ds, TestClock clock, String cron, String by) {
    return CronScheduler.builder(JobQueue.create(ds), ds)
        .clock(clock)
        .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(40))
        .add(CronJob.of("nightly", Schedule.cron(cron), FIRED, at -> new Fired(by, at)))
        .build();
  }
}
