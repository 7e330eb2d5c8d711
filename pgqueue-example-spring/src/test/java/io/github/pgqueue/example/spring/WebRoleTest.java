package io.github.pgqueue.example.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.doThrow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.spring.CronLifecycle;
import io.github.pgqueue.spring.WorkerLifecycle;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.health.actuate.endpoint.HealthEndpointGroups;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ApplicationContext;
import org.springframework.test.annotation.DirtiesContext;
import org.springframework.test.context.ActiveProfiles;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.bean.override.mockito.MockitoSpyBean;

/**
 * The web role in one Spring context on a real server and real PostgreSQL, over HTTP: a signup
 * stores the user and exactly one welcome job in its transaction; a signup that fails after the
 * enqueue leaves neither; no worker or scheduler runs in this role; the Actuator endpoints show
 * pgqueue's health (in the readiness group) and Prometheus metrics.
 */
@SpringBootTest(classes = ExampleApplication.class, webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
@ActiveProfiles("web")
// Closed after the class, while the database is still up.
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
class WebRoleTest {

  static final TestDatabase DB = TestPostgres.server().createDatabase("pgqueue");

  @DynamicPropertySource
  static void database(DynamicPropertyRegistry r) {
    r.add("spring.datasource.url", DB::jdbcUrl);
    r.add("spring.datasource.username", DB::user);
    r.add("spring.datasource.password", DB::password);
  }

  /** The real activity log, made to fail for one test's signup (after the enqueue ran). */
  @MockitoSpyBean Activity activity;

  @Autowired ApplicationContext context;
  @Autowired HealthEndpointGroups groups;
  @LocalServerPort int port;

  final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  final ObjectMapper json = new ObjectMapper();

  private static String email() {
    return UUID.randomUUID() + "@example.com";
  }

  private static long users(String email) {
    return DB.queryLong("SELECT count(*) FROM users WHERE email = '" + email + "'");
  }

  private static long welcomeJobs(String email) {
    return DB.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE name = 'send_welcome_email' AND payload->>'email' = '" + email + "'");
  }

  @Test
  void aSignupStoresTheUserAndExactlyOneWelcomeJob() throws Exception {
    String email = email();
    HttpResponse<String> r = post("/api/signups", "{\"email\":\"" + email + "\"}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
    JsonNode body = json.readTree(r.body());
    assertThat(users(email)).isEqualTo(1);
    assertThat(welcomeJobs(email)).isEqualTo(1);
    assertThat(DB.queryLong("SELECT id FROM pgqueue.jobs WHERE payload->>'email' = '" + email + "'"))
        .isEqualTo(body.path("welcomeJobId").asLong());
    assertThat(DB.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE payload->>'email' = '" + email + "' AND queue = 'mail'"))
        .isEqualTo(1);
  }

  @Test
  void aSignupThatFailsAfterTheEnqueueLeavesNoUserAndNoJob() throws Exception {
    String email = email();
    doThrow(new IllegalStateException("activity log unavailable (test)")).when(activity).record(eq("signup"), eq(email));
    HttpResponse<String> r = post("/api/signups", "{\"email\":\"" + email + "\"}");
    assertThat(r.statusCode()).isEqualTo(500);
    assertThat(users(email)).isZero();
    assertThat(welcomeJobs(email)).isZero();
  }

  @Test
  void aDuplicateOrInvalidSignupIsRefusedAndEnqueuesNothing() throws Exception {
    String email = email();
    assertThat(post("/api/signups", "{\"email\":\"" + email + "\"}").statusCode()).isEqualTo(201);
    assertThat(post("/api/signups", "{\"email\":\"" + email + "\"}").statusCode()).isEqualTo(409);
    assertThat(welcomeJobs(email)).isEqualTo(1);
    long before = DB.queryLong("SELECT count(*) FROM pgqueue.jobs");
    assertThat(post("/api/signups", "{\"email\":\"not an email\"}").statusCode()).isEqualTo(400);
    assertThat(DB.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(before);
  }

  @Test
  void theFormSignsUpAndThePageListsTheUser() throws Exception {
    String email = email();
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri("/signup"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("email=" + email.replace("@", "%40"))).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(303);
    assertThat(r.headers().firstValue("Location")).hasValueSatisfying(l -> assertThat(l).startsWith("/?signed_up="));
    assertThat(welcomeJobs(email)).isEqualTo(1);
    String page = get("/").body();
    assertThat(page).contains(email).contains("pending");
  }

  @Test
  void theWebRoleRunsNoWorkerAndNoScheduler() {
    assertThat(context.getBeansOfType(WorkerLifecycle.class)).isEmpty();
    assertThat(context.getBeansOfType(CronLifecycle.class)).isEmpty();
  }

  @Test
  void actuatorShowsPgqueueHealthInReadinessAndPrometheusMetrics() throws Exception {
    HttpResponse<String> health = get("/actuator/health");
    assertThat(health.statusCode()).as(health.body()).isEqualTo(200);
    JsonNode pgqueue = json.readTree(health.body()).path("components").path("pgqueue");
    assertThat(pgqueue.path("status").asText()).isEqualTo("UP");
    assertThat(pgqueue.path("details").has("liveWorkers")).isTrue();

    // The probes' groups show no components over HTTP; their membership is what matters.
    assertThat(get("/actuator/health/readiness").statusCode()).isEqualTo(200);
    assertThat(groups.get("readiness").isMember("pgqueue")).isTrue();
    assertThat(groups.get("liveness").isMember("pgqueue")).isFalse();

    HttpResponse<String> prometheus = get("/actuator/prometheus");
    assertThat(prometheus.statusCode()).isEqualTo(200);
    assertThat(prometheus.body()).contains("hikaricp_connections").contains("http_server_requests_seconds_count");
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  private HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> post(String path, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
