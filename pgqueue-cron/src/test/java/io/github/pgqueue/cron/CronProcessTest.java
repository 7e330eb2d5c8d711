package io.github.pgqueue.cron;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Three cron processes in three JVMs, each with its own connections, one clock 2 s behind and one
 * 2 s ahead, run an every-second cron schedule and a 2-second interval schedule for about 20 s,
 * while this test deletes each job the moment it appears, as a fast worker would. The process
 * whose clock runs ahead (and so claims most firings) is killed with SIGKILL mid-run and started
 * again. Every firing in the window must have exactly one job.
 */
@Tag("process")
@PgQueueTest
class CronProcessTest {

  private static final Duration RUN = Duration.ofSeconds(20);
  private static final Duration KILL_AT = Duration.ofSeconds(7);
  private static final Duration RESTART_AT = Duration.ofSeconds(10);
  private static final Path LOGS = Path.of("target", "cron-process-test");

  /** One job taken by the "worker", with the database time it was taken at. */
  record Taken(String schedule, Instant runAt, String by, Instant takenAt) {}

  @Test
  @Timeout(value = 55, unit = TimeUnit.SECONDS)
  void threeProcessesWithSkewedClocksEnqueueEachFiringExactlyOnce(TestDatabase db) throws Exception {
    db.truncate();
    Files.createDirectories(LOGS);
    Map<String, Process> children = new LinkedHashMap<>();
    List<Taken> ledger = new ArrayList<>();
    long startNanos = System.nanoTime();
    try {
      children.put("behind", spawn(db, "behind", -2000));
      children.put("on-time", spawn(db, "on-time", 0));
      children.put("ahead", spawn(db, "ahead", 2000));

      boolean[] killed = {false};
      boolean[] restarted = {false};
      try (Connection worker = db.dataSource().getConnection()) {
        // The fast worker: every ~50 ms, delete whatever jobs exist and write them down.
        await().atMost(Duration.ofSeconds(40))
            .pollInSameThread()
            .pollInterval(Duration.ofMillis(50))
            .until(() -> {
              ledger.addAll(take(worker, db.schema()));
              Duration elapsed = Duration.ofNanos(System.nanoTime() - startNanos);
              if (!killed[0] && elapsed.compareTo(KILL_AT) >= 0) {
                Process ahead = children.get("ahead");
                ahead.destroyForcibly();
                ahead.waitFor(5, TimeUnit.SECONDS);
                killed[0] = true;
              }
              if (killed[0] && !restarted[0] && elapsed.compareTo(RESTART_AT) >= 0) {
                children.put("ahead-restarted", spawn(db, "ahead-restarted", 2000));
                restarted[0] = true;
              }
              return elapsed.compareTo(RUN) >= 0;
            });
        // Stop gracefully (SIGTERM runs close() in a shutdown hook), then take what is left.
        for (Process p : children.values()) {
          p.destroy();
        }
        for (Process p : children.values()) {
          p.waitFor(15, TimeUnit.SECONDS);
        }
        ledger.addAll(take(worker, db.schema()));
      }
    } finally {
      for (Process p : children.values()) {
        p.destroyForcibly();
      }
    }
    Duration took = Duration.ofNanos(System.nanoTime() - startNanos);

    Instant origin = CronDb.row(db, CronProcessMain.EVERY_TWO_SECONDS).origin();
    Check everySecond = check(ledger, CronProcessMain.EVERY_SECOND, Instant.EPOCH, Duration.ofSeconds(1));
    Check everyTwo = check(ledger, CronProcessMain.EVERY_TWO_SECONDS, origin, Duration.ofSeconds(2));
    String summary = summary(ledger, everySecond, everyTwo, took);
    System.out.println(summary);
    Files.writeString(LOGS.resolve("summary.txt"), summary, StandardCharsets.UTF_8);

    for (Check c : List.of(everySecond, everyTwo)) {
      assertThat(c.duplicates).as(c.schedule + " duplicates\n" + summary).isEmpty();
      assertThat(c.missed).as(c.schedule + " missed\n" + summary).isEmpty();
      assertThat(c.offGrid).as(c.schedule + " off the grid\n" + summary).isEmpty();
    }
    assertThat(everySecond.seen).as("every-second firings seen").isGreaterThanOrEqualTo(15);
    assertThat(everyTwo.seen).as("every-2s firings seen").isGreaterThanOrEqualTo(7);
    assertThat(ledger).as("the restarted process fired again")
        .anyMatch(t -> t.by().equals("ahead-restarted"));
  }

  // ---- the processes ----------------------------------------------------------------------------

  private static Process spawn(TestDatabase db, String tag, long offsetMillis) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = List.of(
        java,
        // Start fast and stay small: three of these share two cores with PostgreSQL and the test.
        "-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        "-cp", classpath(),
        CronProcessMain.class.getName(),
        db.jdbcUrlWithCredentials(),
        Long.toString(offsetMillis),
        tag,
        "50");
    return new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(LOGS.resolve(tag + ".log").toFile())
        .start();
  }

  /**
   * The test classpath. Surefire (3.x) puts the full classpath in java.class.path of its forked
   * JVM even when it starts that JVM from a manifest-only jar, and also in
   * surefire.test.class.path; fall back to the latter if java.class.path is just the booter jar.
   */
  private static String classpath() {
    String cp = System.getProperty("java.class.path");
    String surefire = System.getProperty("surefire.test.class.path");
    if (surefire != null && (cp == null || cp.contains("surefirebooter"))) {
      return surefire;
    }
    return cp;
  }

  private static List<Taken> take(Connection c, String schema) throws SQLException {
    List<Taken> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(
            "DELETE FROM " + schema + ".jobs"
                + " RETURNING substr(context, 6), run_at, payload->>'by', clock_timestamp()");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.add(new Taken(rs.getString(1), rs.getObject(2, OffsetDateTime.class).toInstant(),
            rs.getString(3), rs.getObject(4, OffsetDateTime.class).toInstant()));
      }
    }
    return out;
  }

  // ---- the ledger -------------------------------------------------------------------------------

  /** What the ledger says about one schedule, from its first to its last firing seen. */
  record Check(String schedule, int seen, Instant first, Instant last, List<Instant> duplicates,
      List<Instant> missed, List<Instant> offGrid) {}

  private static Check check(List<Taken> ledger, String schedule, Instant origin, Duration step) {
    TreeMap<Instant, Integer> count = new TreeMap<>();
    for (Taken t : ledger) {
      if (t.schedule().equals(schedule)) {
        count.merge(t.runAt(), 1, Integer::sum);
      }
    }
    List<Instant> duplicates = count.entrySet().stream().filter(e -> e.getValue() > 1)
        .map(Map.Entry::getKey).toList();
    List<Instant> offGrid = count.keySet().stream()
        .filter(t -> Duration.between(origin, t).toNanos() % step.toNanos() != 0).toList();
    List<Instant> missed = new ArrayList<>();
    if (!count.isEmpty()) {
      for (Instant t = count.firstKey(); !t.isAfter(count.lastKey()); t = t.plus(step)) {
        if (!count.containsKey(t)) {
          missed.add(t);
        }
      }
    }
    return new Check(schedule, count.size(), count.isEmpty() ? null : count.firstKey(),
        count.isEmpty() ? null : count.lastKey(), duplicates, missed, offGrid);
  }

  private static String summary(List<Taken> ledger, Check a, Check b, Duration took) {
    StringBuilder sb = new StringBuilder("cron process test: ").append(ledger.size())
        .append(" jobs taken in ").append(took.toMillis()).append(" ms\n");
    for (Check c : List.of(a, b)) {
      sb.append("  ").append(c.schedule).append(": ").append(c.seen).append(" firings from ")
          .append(c.first).append(" to ").append(c.last).append(", duplicates=")
          .append(c.duplicates.size()).append(", missed=").append(c.missed.size())
          .append(", off grid=").append(c.offGrid.size()).append('\n');
    }
    Map<String, Integer> byProcess = new TreeMap<>();
    ledger.forEach(t -> byProcess.merge(t.by(), 1, Integer::sum));
    sb.append("  jobs by process: ").append(byProcess).append('\n');
    TreeSet<Long> early = new TreeSet<>();
    ledger.forEach(t -> early.add(Duration.between(t.takenAt(), t.runAt()).toMillis()));
    if (!early.isEmpty()) {
      sb.append("  run_at minus taken-at: from ").append(early.first()).append(" ms to ")
          .append(early.last()).append(" ms (positive: enqueued before its instant, by a clock"
              + " running ahead)\n");
    }
    return sb.toString();
  }
}
