package io.github.pgqueue.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.JobId;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobState;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The standalone server over real HTTP: the JDK handler, basic auth, cookies, CSRF, 403s. */
@PgQueueTest
class DashboardMainTest {

  /** The answer to one request (java.net.http is not in this module's graph; HttpURLConnection is). */
  record Reply(int statusCode, Map<String, java.util.List<String>> headers, String body) {
    String header(String name) {
      return headers.entrySet().stream().filter(e -> name.equalsIgnoreCase(e.getKey())).map(e -> e.getValue().get(0))
          .findFirst().orElse(null);
    }
  }

  static Reply send(String method, String url, String body, String... headers) throws IOException {
    HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
    c.setInstanceFollowRedirects(false);
    c.setRequestMethod(method);
    for (int i = 0; i < headers.length; i += 2) {
      c.setRequestProperty(headers[i], headers[i + 1]);
    }
    if (body != null) {
      c.setDoOutput(true);
      try (OutputStream out = c.getOutputStream()) {
        out.write(body.getBytes(StandardCharsets.UTF_8));
      }
    }
    int status = c.getResponseCode();
    InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
    String text = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
    c.disconnect();
    return new Reply(status, c.getHeaderFields(), text);
  }

  private static String auth(String user, String password) {
    return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void withCredentialsEveryRequestAuthenticatesAndActionsWork(TestDatabase db) throws Exception {
    db.truncate();
    long id = DashboardTest.discarded(db, "default", "send_mail", "p", "boom");
    Map<String, String> env = Map.of("DATABASE_URL", db.jdbcUrlWithCredentials(), "PGQUEUE_SCHEMA", db.schema(),
        "PORT", "0", "HOST", "127.0.0.1", "PGQUEUE_DASHBOARD_USER", "ops", "PGQUEUE_DASHBOARD_PASSWORD", "s3cret");
    try (DashboardMain.Server s = DashboardMain.start(env)) {
      String base = "http://127.0.0.1:" + s.port();
      assertThat(send("GET", base + "/", null).statusCode()).isEqualTo(401);
      assertThat(send("GET", base + "/", null, "Authorization", auth("ops", "wrong")).statusCode()).isEqualTo(401);
      Reply page = send("GET", base + "/jobs/" + id, null, "Authorization", auth("ops", "s3cret"));
      assertThat(page.statusCode()).isEqualTo(200);
      assertThat(page.body()).contains("Retry");
      String cookie = page.header("Set-Cookie");
      assertThat(cookie).contains("HttpOnly").contains("SameSite=Strict");
      String pair = cookie.substring(0, cookie.indexOf(';'));
      String token = pair.substring(pair.indexOf('=') + 1);
      // Without the token: refused.
      Reply refused = send("POST", base + "/jobs/" + id + "/retry", "", "Authorization", auth("ops", "s3cret"),
          "Cookie", pair, "Content-Type", "application/x-www-form-urlencoded");
      assertThat(refused.statusCode()).isEqualTo(403);
      Reply done = send("POST", base + "/jobs/" + id + "/retry", "_csrf=" + token, "Authorization",
          auth("ops", "s3cret"), "Cookie", pair, "Content-Type", "application/x-www-form-urlencoded");
      assertThat(done.statusCode()).isEqualTo(303);
      assertThat(JobQueue.builder(db.dataSource()).schema(db.schema()).build().find(new JobId(id)).orElseThrow().state())
          .isEqualTo(JobState.AVAILABLE);
      Reply css = send("GET", base + "/assets/dashboard.css", null, "Authorization", auth("ops", "s3cret"));
      assertThat(css.header("Content-Type")).startsWith("text/css");
    }
  }

  @Test
  void withoutCredentialsItIsReadOnly(TestDatabase db) throws Exception {
    db.truncate();
    long id = DashboardTest.discarded(db, "default", "send_mail", "p", "boom");
    Map<String, String> env = Map.of("DATABASE_URL", db.jdbcUrlWithCredentials(), "PGQUEUE_SCHEMA", db.schema(),
        "PORT", "0");
    try (DashboardMain.Server s = DashboardMain.start(env)) {
      assertThat(s.http().getAddress().getAddress().isLoopbackAddress()).isTrue();
      String base = "http://127.0.0.1:" + s.port();
      Reply page = send("GET", base + "/jobs/" + id, null);
      assertThat(page.statusCode()).isEqualTo(200);
      assertThat(page.body()).doesNotContain("Retry");
      String pair = page.header("Set-Cookie").split(";")[0];
      Reply refused = send("POST", base + "/api/jobs/" + id + "/retry", "", "Cookie", pair, "X-CSRF-Token",
          pair.substring(pair.indexOf('=') + 1));
      assertThat(refused.statusCode()).isEqualTo(403);
      assertThat(refused.body()).contains("not allowed to act");
    }
  }

  @Test
  void badConfigurationIsRefusedNamingTheVariable() {
    assertThatThrownBy(() -> DashboardMain.start(Map.of())).hasMessageContaining("DATABASE_URL");
    assertThatThrownBy(() -> DashboardMain.start(Map.of("DATABASE_URL", "mysql://x/y")))
        .hasMessageContaining("DATABASE_URL must start with");
    assertThatThrownBy(() -> DashboardMain.start(Map.of("DATABASE_URL", "jdbc:postgresql://x/y", "PORT", "http")))
        .hasMessageContaining("PORT");
    assertThatThrownBy(() -> DashboardMain.start(Map.of("DATABASE_URL", "jdbc:postgresql://x/y",
        "PGQUEUE_DASHBOARD_USER", "ops"))).hasMessageContaining("PGQUEUE_DASHBOARD_PASSWORD");
  }
}
