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
import io.github.pgqueue.cron.CronDb.Fired;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The scheduler under the pools users run: HikariCP with its defaults and with autocommit off, a
 * plain PGSimpleDataSource, pools whose sessions default to REPEATABLE READ and to SERIALIZABLE,
 * and a role with a statement_timeout of a few seconds. Two schedulers (two processes) race for
 * every firing; each firing is enqueued exactly once, and every connection goes back as it came.
 */
@PgQueueTest
@Timeout(60)
class CronPoolMatrixTest {

  enum Kind {
    HIKARI(true, "read committed", false),
    HIKARI_AUTOCOMMIT_OFF(false, "read committed", false),
    PLAIN(true, "read committed", false),
    REPEATABLE_READ(true, "repeatable read", false),
    SERIALIZABLE(false, "serializable", false),
    STATEMENT_TIMEOUT(true, "read committed", true);

    final boolean autoCommit;
    final String isolation;
    final boolean timeoutRole;

    Kind(boolean autoCommit, String isolation, boolean timeoutRole) {
      this.autoCommit = autoCommit;
      this.isolation = isolation;
      this.timeoutRole = timeoutRole;
    }
  }

  static final int POOL_SIZE = 4;
  static String role;
  TestDatabase db;

  @BeforeAll
  static void createRole(TestDatabase db) {
    role = "pgq_cron_timeout_"
        + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffffL).toLowerCase(Locale.ROOT);
    String password = db.password() == null ? "" : " PASSWORD '" + db.password().replace("'", "''") + "'";
    db.execute("CREATE ROLE " + role + " LOGIN" + password);
    db.execute("ALTER ROLE " + role + " SET statement_timeout = '3s'");
    db.execute("GRANT USAGE ON SCHEMA " + db.schema() + " TO " + role);
    db.execute("GRANT ALL ON ALL TABLES IN SCHEMA " + db.schema() + " TO " + role);
    db.execute("GRANT ALL ON ALL SEQUENCES IN SCHEMA " + db.schema() + " TO " + role);
  }

  @AfterAll
  static void dropRole(TestDatabase db) {
    db.execute("DROP OWNED BY " + role);
    db.execute("DROP ROLE " + role);
  }

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @ParameterizedTest
  @EnumSource(Kind.class)
  void twoSchedulersEnqueueEachFiringOnce(Kind kind) throws SQLException {
    DataSource ds = kind == Kind.PLAIN ? db.dataSource() : pool(kind);
    List<CronScheduler> schedulers = new ArrayList<>();
    try {
      TestClock clock = TestClock.atSystemTime();
      for (String by : List.of("a", "b")) {
        CronScheduler s = CronScheduler.builder(JobQueue.create(ds), ds)
            .clock(clock)
            .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(40))
            .add(CronJob.of("matrix", Schedule.cron("* * * * * *"), FIRED, t -> new Fired(by, t)))
            .build();
        schedulers.add(s);
        s.start();
      }
      Instant last = await().atMost(Duration.ofSeconds(10)).until(() -> lastFired(db, "matrix"), Objects::nonNull);
      List<Instant> t = CronFirings.next("* * * * * *", "UTC", last, 5);
      for (Instant at : t) {
        clock.set(at);
        schedulers.forEach(CronScheduler::wake);
        await().atMost(Duration.ofSeconds(10)).until(() -> at.equals(lastFired(db, "matrix")));
      }
      schedulers.forEach(CronScheduler::close);
      assertThat(runAts(jobs(db))).as("each firing enqueued once").containsExactlyElementsOf(t);
      if (kind != Kind.PLAIN) {
        assertReturnedAsFound(kind, ds);
      }
    } finally {
      schedulers.forEach(CronScheduler::close);
      if (ds instanceof HikariDataSource h) {
        h.close();
      }
    }
  }

  private HikariDataSource pool(Kind kind) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(db.jdbcUrl());
    c.setUsername(kind.timeoutRole ? role : db.user());
    if (db.password() != null) {
      c.setPassword(db.password());
    }
    c.setAutoCommit(kind.autoCommit);
    if (!kind.isolation.equals("read committed")) {
      c.setTransactionIsolation("TRANSACTION_" + kind.isolation.toUpperCase(Locale.ROOT).replace(' ', '_'));
    }
    c.setMaximumPoolSize(POOL_SIZE);
    c.setConnectionTimeout(10_000);
    return new HikariDataSource(c);
  }

  /** Every connection of the pool at once: isolation, statement_timeout and LISTEN as configured. */
  private static void assertReturnedAsFound(Kind kind, DataSource ds) throws SQLException {
    List<Connection> all = new ArrayList<>();
    try {
      for (int i = 0; i < POOL_SIZE; i++) {
        all.add(ds.getConnection());
      }
      for (Connection c : all) {
        assertThat(c.getAutoCommit()).isEqualTo(kind.autoCommit);
        try (Statement st = c.createStatement();
            ResultSet rs = st.executeQuery("SELECT current_setting('transaction_isolation'),"
                + " current_setting('statement_timeout'), (SELECT count(*) FROM pg_listening_channels())")) {
          rs.next();
          assertThat(rs.getString(1)).isEqualTo(kind.isolation);
          assertThat(rs.getString(2)).isEqualTo(kind.timeoutRole ? "3s" : "0");
          assertThat(rs.getLong(3)).isZero();
        }
        if (!c.getAutoCommit()) {
          c.rollback();
        }
      }
    } finally {
      for (Connection c : all) {
        c.close();
      }
    }
  }
}
