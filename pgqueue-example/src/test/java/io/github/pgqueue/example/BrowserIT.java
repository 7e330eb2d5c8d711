package io.github.pgqueue.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The README's first command as a newcomer meets it: {@code java -jar pgqueue-example.jar} (all
 * three pillars on an embedded PostgreSQL), then a real browser (headless Chromium, driven through
 * chromedriver) signs a user up and the page shows the welcome job processed.
 */
@Tag("process")
class BrowserIT {

  @Test
  void aBrowserSignsUpAndSeesTheWelcomeEmailSent() throws Exception {
    boolean haveBrowser = new File("/usr/bin/chromium").canExecute() && new File("/usr/bin/chromedriver").canExecute();
    if (System.getenv("PGQUEUE_E2E_REQUIRED") != null) {
      assertThat(haveBrowser).as("chromium and chromium-driver must be installed for this test").isTrue();
    }
    assumeTrue(haveBrowser, "chromium/chromedriver not installed (apt-get install chromium chromium-driver); skipping");

    int appPort = freePort();
    int driverPort = freePort();
    ProcessBuilder app = new ProcessBuilder(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", "target/pgqueue-example.jar")
        .redirectErrorStream(true).redirectOutput(new File("target/browser-it-app.log"));
    app.environment().remove("DATABASE_URL");
    app.environment().put("PORT", Integer.toString(appPort));
    Process example = app.start();
    Process driver = new ProcessBuilder("/usr/bin/chromedriver", "--port=" + driverPort)
        .redirectErrorStream(true).redirectOutput(new File("target/browser-it-chromedriver.log")).start();
    try {
      String url = "http://127.0.0.1:" + appPort + "/";
      HttpClient http = HttpClient.newHttpClient();
      await().atMost(Duration.ofSeconds(90)).ignoreExceptions().until(() ->
          http.send(HttpRequest.newBuilder(URI.create(url + "health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode() == 200);
      await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() ->
          http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + driverPort + "/status")).build(),
              HttpResponse.BodyHandlers.ofString()).statusCode() == 200);

      try (WebDriver browser = new WebDriver(driverPort, "/usr/bin/chromium")) {
        browser.open(url);
        browser.type(browser.find("input[name=email]"), "ada@example.com");
        browser.click(browser.find("#signup"));
        // The page refreshes itself; the worker pillar sends the welcome email within moments.
        await().atMost(Duration.ofSeconds(30)).until(() -> {
          browser.open(url);
          String page = browser.pageSource();
          return page.contains("ada@example.com") && page.matches("(?s).*ada@example.com.*class=\"welcome\">sent .*");
        });
        Files.write(Path.of("target", "browser-it.png"), browser.screenshotPng());

        // The dashboard, mounted at /pgqueue; on the embedded database it may act (no read-only badge).
        browser.click(browser.find("#dashboard"));
        await().atMost(Duration.ofSeconds(20)).until(() -> browser.pageSource().contains("Overview"));
        assertThat(browser.pageSource()).contains("Health").contains("Throughput").doesNotContain("read-only");
        browser.open(url + "pgqueue/workers");
        assertThat(browser.pageSource()).contains("live");
      }
    } finally {
      driver.destroy();
      example.toHandle().destroy(); // SIGTERM: the all-in-one shuts down in order
      assertThat(example.waitFor(40, TimeUnit.SECONDS)).as("the example exits after SIGTERM").isTrue();
      driver.waitFor(10, TimeUnit.SECONDS);
    }
    assertThat(Files.readString(Path.of("target", "browser-it-app.log"))).contains("all-in-one: stopped");
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
