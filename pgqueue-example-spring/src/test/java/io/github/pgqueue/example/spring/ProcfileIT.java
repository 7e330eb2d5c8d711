package io.github.pgqueue.example.spring;

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
 * The Spring Boot example as a user runs it: {@code Procfile.dev} started by a real Procfile runner
 * (foreman stands in for overmind, which reads the same file), the packaged jar in four roles (web,
 * worker, cron, devdb) against a real PostgreSQL. Signups go in over HTTP to the web process, the
 * worker process sends their welcome emails, the cron process fires the report, the worker
 * process's Actuator shows its heartbeating worker, and SIGTERM to the runner stops every process
 * cleanly (each closes its Spring context: the worker deregisters).
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
  void procfileRunsTheRolesAndSigtermStopsThemCleanly() throws Exception {
    boolean haveForeman = new ProcessBuilder("sh", "-c", "command -v foreman").start().waitFor() == 0;
    if (System.getenv("PGQUEUE_E2E_REQUIRED") != null) {
      assertThat(haveForeman).as("foreman (ruby-foreman) must be installed for this test").isTrue();
    }
    assumeTrue(haveForeman, "foreman is not installed (apt-get install ruby-foreman); skipping the Procfile test");
    File dir = new File(System.getProperty("user.dir")); // the pgqueue-example-spring module
    assertThat(new File(dir, "target/pgqueue-example-spring.jar")).exists();
    int port = freePort();

    // Like overmind, foreman gives each process PORT = base + 100 * its position: web, worker, cron, db.
    ProcessBuilder pb = new ProcessBuilder("foreman", "start", "-f", "Procfile.dev", "-t", "30", "-p", Integer.toString(port))
        .directory(dir).redirectErrorStream(true);
    Map<String, String> env = pb.environment();
    env.put("DATABASE_URL", db.jdbcUrlWithCredentials());
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
    String web = "http://127.0.0.1:" + port;
    String worker = "http://127.0.0.1:" + (port + 100);
    try {
      // Generous: four Spring Boot JVMs start at once, on a CI machine that may be busy.
      await().atMost(Duration.ofSeconds(180)).ignoreExceptions().until(() ->
          get(web + "/actuator/health/readiness").statusCode() == 200
              && get(worker + "/actuator/health/readiness").statusCode() == 200);
      children.addAll(foreman.descendants().toList());

      List<String> emails = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        String email = "user" + i + "@example.com";
        HttpResponse<String> r = post(web + "/api/signups", "{\"email\":\"" + email + "\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
        emails.add(email);
      }
      assertThat(post(web + "/api/signups", "{\"email\":\"user0@example.com\"}").statusCode()).isEqualTo(409);
      assertThat(post(web + "/api/signups", "{\"email\":\"not an email\"}").statusCode()).isEqualTo(400);

      // The worker process sent every welcome email.
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        int welcomed = 0;
        for (JsonNode u : json.readTree(get(web + "/api/users").body())) {
          welcomed += u.path("welcomed_at").isNull() || u.path("welcomed_at").isMissingNode() ? 0 : 1;
        }
        return welcomed == emails.size();
      });
      // The cron process fired the report, and the worker ran it.
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        for (JsonNode a : json.readTree(get(web + "/api/activity").body())) {
          if (a.path("kind").asText().equals("cron") && a.path("detail").asText().startsWith("report for ")) {
            return true;
          }
        }
        return false;
      });

      // Actuator: the worker process's health shows its worker; the web process serves Prometheus.
      JsonNode workerHealth = json.readTree(get(worker + "/actuator/health").body()).path("components").path("pgqueue");
      assertThat(workerHealth.path("status").asText()).as(workerHealth.toString()).isEqualTo("UP");
      assertThat(workerHealth.path("details").path("worker").asText()).isEqualTo("registered and heartbeating");
      assertThat(workerHealth.path("details").path("liveWorkers").asLong()).isEqualTo(1);
      HttpResponse<String> prometheus = get(web + "/actuator/prometheus");
      assertThat(prometheus.statusCode()).isEqualTo(200);
      assertThat(prometheus.body()).contains("hikaricp_connections").contains("pgqueue_jobs_enqueued_total{");
      // The worker process records the jobs it ran (pgqueue-micrometer, wired by the starter).
      assertThat(get(worker + "/actuator/prometheus").body())
          .containsPattern("pgqueue_jobs_processed_total\\{[^}]*outcome=\"succeeded\"")
          .contains("pgqueue_worker_slots_busy{");
    } finally {
      // SIGTERM to the runner, as overmind or a terminal's Ctrl-C would send.
      foreman.toHandle().destroy();
      boolean exited = foreman.waitFor(60, TimeUnit.SECONDS);
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
    for (String role : List.of("devdb", "web", "worker", "cron")) {
      // Printed by a Spring Boot shutdown handler, after the role's context closed.
      assertThat(output).as(role + " closed its context").anyMatch(l -> l.endsWith("| " + role + ": stopped"));
    }
    assertThat(output).noneMatch(l -> l.contains("SIGKILL"));
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.workers")).as("the worker deregistered").isZero();
  }

  private HttpResponse<String> get(String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> post(String url, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
