package io.github.pgqueue.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The example as a user runs it: {@code Procfile.dev} started by a real Procfile runner (Debian's
 * foreman stands in for overmind, which reads the same file), against a real PostgreSQL. Signups
 * go in over HTTP, the worker process handles their jobs, the cron process fires, and SIGTERM to
 * the runner stops every process cleanly.
 */
@Tag("process")
class ProcfileIT {

  static TestPostgres server;
  static TestDatabase db;
  final ObjectMapper json = new ObjectMapper();
  final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  @BeforeAll
  static void database() {
    server = TestPostgres.startEmbedded();
    db = server.createDatabase("pgqueue");
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void procfileRunsThePillarsAndSigtermStopsThemCleanly() throws Exception {
    boolean haveForeman = new ProcessBuilder("sh", "-c", "command -v foreman").start().waitFor() == 0;
    if (System.getenv("PGQUEUE_E2E_REQUIRED") != null) {
      assertThat(haveForeman).as("foreman (ruby-foreman) must be installed for this test").isTrue();
    }
    assumeTrue(haveForeman, "foreman is not installed (apt-get install ruby-foreman); skipping the Procfile test");
    File dir = new File(System.getProperty("user.dir")); // the pgqueue-example module
    assertThat(new File(dir, "target/pgqueue-example.jar")).exists();
    int port = freePort();

    // Like overmind, foreman gives each process PORT = base + 100 * its position; web comes first.
    ProcessBuilder pb = new ProcessBuilder("foreman", "start", "-f", "Procfile.dev", "-t", "20", "-p", Integer.toString(port))
        .directory(dir).redirectErrorStream(true);
    Map<String, String> env = pb.environment();
    env.put("DATABASE_URL", db.jdbcUrlWithCredentials());
    env.put("WORKER_CONCURRENCY", "4");
    env.put("CLEANUP_CRON", "*/2 * * * * *"); // every 2 seconds instead of nightly
    env.put("REPORT_EVERY", "PT1S");
    Process foreman = pb.start();
    List<String> output = new CopyOnWriteArrayList<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(foreman.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          output.add(line);
          System.out.println("[foreman] " + line);
        }
      } catch (IOException ignored) {
        // the runner is gone
      }
    });
    reader.setDaemon(true);
    reader.start();
    List<ProcessHandle> children = new ArrayList<>();
    try {
      String base = "http://127.0.0.1:" + port;
      await().atMost(Duration.ofSeconds(90)).ignoreExceptions().until(() -> get(base + "/health").statusCode() == 200);
      children.addAll(foreman.descendants().toList());

      List<Long> userIds = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        HttpResponse<String> r = post(base + "/api/signups", "{\"email\":\"user" + i + "@example.com\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        userIds.add(json.readTree(r.body()).path("userId").asLong());
      }
      assertThat(post(base + "/api/signups", "{\"email\":\"user0@example.com\"}").statusCode()).isEqualTo(409);
      assertThat(post(base + "/api/signups", "{\"email\":\"not an email\"}").statusCode()).isEqualTo(400);

      // The worker process handled every welcome email.
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        JsonNode users = json.readTree(get(base + "/api/users").body());
        int welcomed = 0;
        for (JsonNode u : users) {
          welcomed += u.path("welcomed_at").isNull() || u.path("welcomed_at").isMissingNode() ? 0 : 1;
        }
        return welcomed == userIds.size();
      });
      // The cron process fired, and the worker handled the firing.
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        JsonNode activity = json.readTree(get(base + "/api/activity").body());
        for (JsonNode a : activity) {
          if (a.path("kind").asText().equals("cron") && a.path("detail").asText().startsWith("nightly_cleanup")) {
            return true;
          }
        }
        return false;
      });
      assertThat(json.readTree(get(base + "/api/stats").body()).path("liveWorkers").asLong()).isEqualTo(1);
    } finally {
      // SIGTERM to the runner, as overmind or a terminal's Ctrl-C would send.
      foreman.toHandle().destroy();
      boolean exited = foreman.waitFor(45, TimeUnit.SECONDS);
      if (!exited) {
        foreman.destroyForcibly();
        children.forEach(ProcessHandle::destroyForcibly);
      }
      assertThat(exited).as("foreman exits after SIGTERM").isTrue();
    }
    for (ProcessHandle child : children) {
      assertThat(child.onExit().get(10, TimeUnit.SECONDS).isAlive()).as("child %s exited", child.pid()).isFalse();
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> output.stream().filter(l -> l.contains(": stopped")).count() >= 4);
    for (String pillar : List.of("db", "web", "worker", "cron")) {
      assertThat(output).as(pillar + " shut down through its hook").anyMatch(l -> l.contains(pillar + ": stopped"));
    }
    assertThat(output).noneMatch(l -> l.contains("SIGKILL"));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("the worker deregistered").isZero();
  }

  private HttpResponse<String> get(String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> post(String url, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
