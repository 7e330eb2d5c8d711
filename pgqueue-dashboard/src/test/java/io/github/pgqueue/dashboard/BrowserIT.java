package io.github.pgqueue.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.pgqueue.JobId;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Worker;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.File;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The standalone dashboard as an operator meets it: {@code java -jar
 * pgqueue-dashboard-VERSION-all.jar} on an embedded PostgreSQL with basic auth, driven by headless
 * Chromium through chromedriver. It finds a discarded job by its error text, retries it, and sees
 * a worker run it to success; a hostile payload renders as text. It saves a screenshot of each
 * page into target/, or into docs/ for docs/dashboard.md with {@code -Dpgqueue.screenshots.docs=true}
 * (so an ordinary build never changes tracked files).
 */
@Tag("process")
@PgQueueTest
class BrowserIT {

  static final JobType<Map> MAIL = JobType.of("send_mail", Map.class);

  @Test
  void anOperatorFindsAFailedJobByItsErrorAndRetriesIt(TestDatabase db) throws Exception {
    boolean haveBrowser = new File("/usr/bin/chromium").canExecute() && new File("/usr/bin/chromedriver").canExecute();
    if (System.getenv("PGQUEUE_E2E_REQUIRED") != null) {
      assertThat(haveBrowser).as("chromium and chromium-driver must be installed for this test").isTrue();
    }
    assumeTrue(haveBrowser, "chromium/chromedriver not installed (apt-get install chromium chromium-driver); skipping");
    File[] jars = new File("target").listFiles((d, n) -> n.startsWith("pgqueue-dashboard-") && n.endsWith("-all.jar"));
    assertThat(jars).as("the shaded jar (mvn package)").hasSize(1);

    String s = db.schema();
    long failed = DashboardTest.discarded(db, "mail", "send_mail", "ada@example.com",
        "SMTP relay refused: 451 4.7.1 greylisted, try again later");
    DashboardTest.discarded(db, "mail", "send_mail", "bob@example.com", "invalid recipient");
    long hostile = DashboardTest.discarded(db, "default", "send_mail", DashboardTest.HOSTILE, DashboardTest.HOSTILE);
    JobQueue queue = JobQueue.builder(db.dataSource()).schema(s).build();
    for (int i = 0; i < 5; i++) {
      queue.enqueue(MAIL, Map.of("to", "user" + i + "@example.com"),
          io.github.pgqueue.EnqueueOptions.builder().queue("mail").runAt(java.time.Instant.now().plusSeconds(3600)).build());
    }
    db.execute("INSERT INTO " + s + ".cron_schedules (name, definition, origin, last_fired, catch_up, job_name, job_queue)"
        + " VALUES ('nightly-report', 'cron 0 3 * * * Europe/Berlin', now(), now(), 'one', 'report', 'default')");
    db.execute("INSERT INTO " + s + ".job_rollups (minute, queue, name, outcome, worker, count)"
        + " SELECT date_trunc('minute', now()) - m * interval '1 minute', 'mail', 'send_mail', o, 'w1',"
        + " CASE o WHEN 'succeeded' THEN 20 + (m * 7) % 30 ELSE (m * 3) % 5 END"
        + " FROM generate_series(0, 1439) m, unnest(ARRAY['succeeded', 'retried']) o");

    Set<String> sent = ConcurrentHashMap.newKeySet();
    Worker worker = Worker.builder(queue).queue("mail", 2)
        .handle(MAIL, (payload, ctx) -> sent.add((String) payload.get("text"))).build();
    worker.start();

    int port = freePort();
    int driverPort = freePort();
    ProcessBuilder app = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-jar", jars[0].getPath()).redirectErrorStream(true).redirectOutput(new File("target/browser-it-dashboard.log"));
    app.environment().put("DATABASE_URL", db.jdbcUrlWithCredentials());
    app.environment().put("PGQUEUE_SCHEMA", s);
    app.environment().put("PORT", Integer.toString(port));
    app.environment().put("HOST", "127.0.0.1");
    app.environment().put("PGQUEUE_DASHBOARD_USER", "ops");
    app.environment().put("PGQUEUE_DASHBOARD_PASSWORD", "correct-horse");
    Process dashboard = app.start();
    Process driver = new ProcessBuilder("/usr/bin/chromedriver", "--port=" + driverPort)
        .redirectErrorStream(true).redirectOutput(new File("target/browser-it-chromedriver.log")).start();
    try {
      String origin = "http://127.0.0.1:" + port;
      await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> status(origin + "/assets/dashboard.css") == 200);
      await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() -> status("http://127.0.0.1:" + driverPort + "/status") == 200);
      assertThat(status(origin + "/")).isEqualTo(401);

      try (WebDriver browser = new WebDriver(driverPort, "/usr/bin/chromium")) {
        browser.windowSize(1400, 900);
        String base = "http://ops:correct-horse@127.0.0.1:" + port;
        browser.open(base + "/");
        assertThat(browser.pageSource()).contains("Overview").contains("mail");
        shot(browser, "overview");

        // Find the failed job by its error text.
        browser.open(base + "/jobs?state=discarded");
        browser.type(browser.find("input[name=error]"), "greylisted");
        browser.click(browser.find("form.filters button"));
        await().atMost(Duration.ofSeconds(20)).until(() -> browser.pageSource().contains("greylisted"));
        assertThat(browser.pageSource()).doesNotContain("invalid recipient");
        shot(browser, "jobs");
        browser.click(browser.find("a[href$='/jobs/" + failed + "']"));
        await().atMost(Duration.ofSeconds(20)).until(() -> browser.pageSource().contains("SMTP relay refused"));
        shot(browser, "job");

        // Retry it; the worker runs it to success (a succeeded job's row is deleted).
        browser.click(browser.find("form[action$='/jobs/" + failed + "/retry'] button"));
        await().atMost(Duration.ofSeconds(60)).until(() -> sent.contains("ada@example.com"));
        await().atMost(Duration.ofSeconds(30)).until(() -> queue.find(new JobId(failed)).isEmpty());
        browser.open(base + "/jobs/" + failed);
        assertThat(browser.pageSource()).contains("no job " + failed);

        // The hostile payload and error render as text: no element was made from them.
        browser.open(base + "/jobs/" + hostile);
        assertThat(browser.count("pre.payload")).isEqualTo(1);
        assertThat(browser.count("img")).isZero();
        assertThat(browser.count("main script")).isZero();
        assertThat(browser.pageSource()).contains("&lt;script&gt;alert(1)&lt;/script&gt;");

        for (String page : new String[] {"queues", "workers", "cron"}) {
          browser.open(base + "/" + page);
          shot(browser, page);
        }
        assertThat(browser.pageSource()).contains("nightly-report");
      }
    } finally {
      worker.close();
      driver.destroy();
      dashboard.destroy();
      driver.waitFor(10, TimeUnit.SECONDS);
      dashboard.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private static void shot(WebDriver browser, String page) throws Exception {
    Path dir = Boolean.getBoolean("pgqueue.screenshots.docs") ? Path.of("..", "docs") : Path.of("target");
    Files.createDirectories(dir);
    Files.write(dir.resolve("dashboard-" + page + ".png"), browser.screenshotPng());
  }

  private static int status(String url) throws Exception {
    HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
    try {
      return c.getResponseCode();
    } finally {
      c.disconnect();
    }
  }

  private static int freePort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }
}
