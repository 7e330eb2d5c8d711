package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronDb.FIRED;
import static io.github.pgqueue.cron.CronDb.jobs;
import static io.github.pgqueue.cron.CronDb.lastFired;
import static io.github.pgqueue.cron.CronDb.runAts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.cron.CronDb.Fired;
import io.github.pgqueue.cron.CronDb.Job;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testsupport.PgBouncer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The real scheduler through a real PgBouncer in transaction mode (core's {@link PgBouncer};
 * Debian's package, which does not track prepared statements, hence {@code prepareThreshold=0}):
 * two processes, each with its own pool through the pooler, register one schedule and race for
 * each of its firings; each firing is claimed and enqueued once, at its scheduled instant, and no
 * "prepared statement" error appears in either log.
 */
@Tag("process")
@Timeout(90)
class CronPgBouncerTest {

  private static final Duration WAIT = Duration.ofSeconds(10);

  static PgBouncer.Setup setup;
  static TestDatabase db;
  static PgBouncer bouncer;

  @BeforeAll
  static void start() throws Exception {
    setup = PgBouncer.Setup.startOrSkip("transaction");
    db = setup.db();
    bouncer = setup.bouncer();
  }

  @AfterAll
  static void stop() throws Exception {
    if (setup != null) {
      assertThat(setup.stop()).as("PgBouncer's log").doesNotContainIgnoringCase("prepared statement");
    }
  }

  @Test
  void twoProcessesRegisterAndFireEachFiringExactlyOnceThroughPgBouncer() {
    List<HikariDataSource> pools = new ArrayList<>();
    List<CronScheduler> schedulers = new ArrayList<>();
    try (LogCapture log = new LogCapture()) {
      TestClock clock = TestClock.atSystemTime();
      for (String by : List.of("a", "b")) {
        HikariDataSource pool = pool();
        pools.add(pool);
        // Migrations through the pooler too: the advisory lock is transaction-scoped.
        Migrator.create(pool).migrate();
        CronScheduler s = CronScheduler.builder(JobQueue.create(pool), pool)
            .clock(clock)
            .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(40))
            .add(CronJob.of("every-second", Schedule.cron("* * * * * *"), FIRED, at -> new Fired(by, at)))
            .build();
        schedulers.add(s);
        s.start();
      }
      Instant last = await().atMost(WAIT).until(() -> lastFired(db, "every-second"), Objects::nonNull);
      List<Instant> t = CronFirings.next("* * * * * *", "UTC", last, 20);
      for (Instant at : t) {
        clock.set(at);
        schedulers.forEach(CronScheduler::wake);
        await().atMost(WAIT).until(() -> at.equals(lastFired(db, "every-second")));
      }
      schedulers.forEach(CronScheduler::close);
      List<Job> jobs = jobs(db);
      assertThat(runAts(jobs)).as("each firing claimed and enqueued once, at its instant")
          .containsExactlyElementsOf(t);
      assertThat(jobs).extracting(Job::context).containsOnly("cron:every-second");
      assertThat(log.lines()).as("pgqueue's log").noneMatch(l -> l.toLowerCase(java.util.Locale.ROOT).contains("prepared statement"));
    } finally {
      schedulers.forEach(CronScheduler::close);
      pools.forEach(HikariDataSource::close);
    }
  }

  private static HikariDataSource pool() {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(bouncer.jdbcUrl(db.name(), "prepareThreshold=0&ApplicationName=pgqueue-cron-via-pgbouncer"));
    c.setUsername(db.user());
    c.setMaximumPoolSize(3);
    c.setConnectionTimeout(5_000);
    return new HikariDataSource(c);
  }
}
