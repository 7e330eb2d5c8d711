package io.github.pgqueue.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.JobId;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobState;
import io.github.pgqueue.JobType;
import io.github.pgqueue.RateLimit;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class DashboardTest {

  static final String HOSTILE = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
  static final JobType<Map> MAIL = JobType.of("send_mail", Map.class);

  private final TestDatabase db;
  private final JobQueue queue;

  DashboardTest(TestDatabase db) {
    this.db = db;
    this.queue = JobQueue.create(db.dataSource());
  }

  @BeforeEach
  void clean() {
    db.truncate();
  }

  /** Inserts a discarded job the way the worker leaves one: an errors array, discarded_at set. */
  static long discarded(TestDatabase db, String queue, String name, String payloadText, String message) {
    String errors = "[{\"at\": \"2026-12-01T10:00:00Z\", \"attempt\": 1, \"kind\": \"failed\", \"class\": "
        + "\"java.lang.IllegalStateException\", \"message\": " + jsonString(message) + ", \"trace\": "
        + jsonString("java.lang.IllegalStateException: " + message + "\n\tat Handler.run(Handler.java:1)") + "}]";
    db.execute("INSERT INTO " + db.schema() + ".jobs (name, queue, payload, state, attempt, max_attempts, errors,"
        + " discarded_at) VALUES ('" + name + "', '" + queue + "', jsonb_build_object('text', "
        + sqlString(payloadText) + "), 'discarded', 1, 1, " + sqlString(errors) + "::jsonb, now())");
    return db.queryLong("SELECT max(id) FROM " + db.schema() + ".jobs");
  }

  static String sqlString(String s) {
    return "'" + s.replace("'", "''") + "'";
  }

  static String jsonString(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\t", "\\t") + "\"";
  }

  // ---- requests -----------------------------------------------------------------------------

  static final class Client {
    final Dashboard dashboard;
    final Principal principal;
    String cookie;

    Client(Dashboard dashboard, Principal principal) {
      this.dashboard = dashboard;
      this.principal = principal;
    }

    Response get(String pathAndQuery) {
      int q = pathAndQuery.indexOf('?');
      String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
      Response r = dashboard.handle(new Request("GET", path,
          Request.parseForm(q < 0 ? null : pathAndQuery.substring(q + 1)), Map.of(), headers(Map.of()), principal, false));
      String set = r.headers().get("Set-Cookie");
      if (set != null) {
        cookie = set.substring(0, set.indexOf(';'));
      }
      return r;
    }

    String token() {
      return cookie.substring(cookie.indexOf('=') + 1);
    }

    Response post(String path, Map<String, String> headers, String... form) {
      Map<String, List<String>> f = new LinkedHashMap<>();
      for (int i = 0; i < form.length; i += 2) {
        f.computeIfAbsent(form[i], k -> new ArrayList<>()).add(form[i + 1]);
      }
      return dashboard.handle(new Request("POST", path, Map.of(), f, headers(headers), principal, false));
    }

    Response post(String path, String... form) {
      return post(path, Map.of(), form);
    }

    private Function<String, String> headers(Map<String, String> extra) {
      Map<String, String> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
      if (cookie != null) {
        h.put("Cookie", cookie);
      }
      h.putAll(extra);
      return h::get;
    }
  }

  static String body(Response r) {
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  private Dashboard acting() {
    return Dashboard.builder(db.dataSource()).schema(db.schema()).mountPath("/pgqueue")
        .authorizer((p, h) -> DashboardAuthorizer.Access.ACT).build();
  }

  // ---- tests --------------------------------------------------------------------------------

  @Test
  void hostilePayloadAndErrorRenderAsText() {
    long id = discarded(db, "default", "send_mail", HOSTILE, HOSTILE);
    Client c = new Client(acting(), null);
    for (String page : List.of("/jobs/" + id, "/jobs?state=discarded", "/jobs?error=script", "/")) {
      Response r = c.get(page);
      assertThat(r.status()).as(page).isEqualTo(200);
      String html = body(r);
      assertThat(html).as(page).doesNotContain("<script>alert").doesNotContain("<img src=x");
      assertThat(r.headers().get("Content-Security-Policy")).contains("script-src 'self'").contains("frame-ancestors 'none'");
      assertThat(r.headers()).containsEntry("X-Frame-Options", "DENY").containsEntry("X-Content-Type-Options", "nosniff");
    }
    String detail = body(c.get("/jobs/" + id));
    assertThat(detail).contains("&lt;script&gt;alert(1)&lt;/script&gt;").contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;");
    // The JSON API returns the text as JSON strings, served as application/json.
    Response api = c.get("/api/jobs/" + id);
    assertThat(api.headers().get("Content-Type")).isEqualTo("application/json");
    assertThat(body(api)).contains("\"message\" : " + jsonString(HOSTILE).replace("/", "/"));
  }

  @Test
  void aJobsConcurrencyKeyIsShownAsText() {
    long id = discarded(db, "default", "send_mail", "p", "boom");
    db.execute("UPDATE " + db.schema() + ".jobs SET concurrency_key = " + sqlString("tenant <b>7</b>") + " WHERE id = " + id);
    Client c = new Client(acting(), null);
    assertThat(body(c.get("/jobs/" + id))).contains("<th>concurrency key</th><td>tenant &lt;b&gt;7&lt;/b&gt;</td>");
    assertThat(body(c.get("/api/jobs/" + id))).contains("\"concurrencyKey\" : \"tenant <b>7</b>\"");
  }

  @Test
  void withoutAnAuthorizerEveryActionIsRefused() {
    long id = discarded(db, "default", "send_mail", "p", "boom");
    Dashboard d = Dashboard.builder(db.dataSource()).schema(db.schema()).build();
    Client c = new Client(d, null);
    assertThat(c.get("/").status()).isEqualTo(200);
    assertThat(body(c.get("/jobs/" + id))).doesNotContain("<form method=\"post\"").contains("read-only");
    for (String action : List.of("/jobs/" + id + "/retry", "/jobs/" + id + "/run", "/jobs/" + id + "/cancel",
        "/jobs/" + id + "/delete", "/jobs/bulk", "/queues/default/pause", "/queues/default/resume",
        "/api/jobs/" + id + "/retry", "/api/jobs/bulk", "/api/queues/default/pause")) {
      Response r = c.post(action, "_csrf", c.token(), "action", "retry", "id", Long.toString(id));
      assertThat(r.status()).as(action).isEqualTo(403);
    }
    assertThat(queue.find(new JobId(id)).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
    assertThat(db.queryLong("SELECT count(*) FROM " + db.schema() + ".queue_controls")).isZero();
  }

  @Test
  void readOnlyOverridesAnAuthorizerThatAllowsActing() {
    long id = discarded(db, "default", "send_mail", "p", "boom");
    Dashboard d = Dashboard.builder(db.dataSource()).schema(db.schema()).readOnly(true)
        .authorizer((p, h) -> DashboardAuthorizer.Access.ACT).build();
    Client c = new Client(d, null);
    c.get("/");
    assertThat(c.post("/jobs/" + id + "/retry", "_csrf", c.token()).status()).isEqualTo(403);
    assertThat(body(c.post("/api/jobs/" + id + "/delete", "_csrf", c.token()))).contains("read-only");
    assertThat(queue.find(new JobId(id))).isPresent();
  }

  @Test
  void anAuthorizerCanRefuseReading() {
    Dashboard d = Dashboard.builder(db.dataSource()).schema(db.schema())
        .authorizer((p, h) -> "ops".equals(h.apply("X-Role")) ? DashboardAuthorizer.Access.READ : null).build();
    assertThat(new Client(d, null).get("/").status()).isEqualTo(403);
    assertThat(new Client(d, null).get("/api/jobs").status()).isEqualTo(403);
  }

  @Test
  void theCsrfCookieIsSecureWhenTheBrowserCameOverHttps() {
    Dashboard d = acting();
    java.util.function.BiFunction<Boolean, String, String> cookieOf = (secure, forwardedProto) -> {
      Map<String, String> h = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
      if (forwardedProto != null) {
        h.put("X-Forwarded-Proto", forwardedProto);
      }
      return d.handle(new Request("GET", "/", Map.of(), Map.of(), h::get, null, secure)).headers().get("Set-Cookie");
    };
    assertThat(cookieOf.apply(false, null)).contains("HttpOnly", "SameSite=Strict").doesNotContain("Secure");
    assertThat(cookieOf.apply(true, null)).as("HTTPS to this server").contains("; Secure");
    assertThat(cookieOf.apply(false, "https")).as("TLS ended at a proxy").contains("; Secure");
    assertThat(cookieOf.apply(false, "http")).doesNotContain("Secure");
  }

  @Test
  void actionsNeedTheSessionsCsrfToken() {
    long id = discarded(db, "default", "send_mail", "p", "boom");
    Dashboard d = acting();
    Client c = new Client(d, null);
    c.get("/jobs/" + id);
    // No token, a wrong token, a token without its cookie, and another instance's token: all 403.
    assertThat(c.post("/jobs/" + id + "/retry").status()).isEqualTo(403);
    assertThat(c.post("/jobs/" + id + "/retry", "_csrf", "x" + c.token().substring(1)).status()).isEqualTo(403);
    Client other = new Client(d, null);
    assertThat(other.post("/jobs/" + id + "/retry", "_csrf", c.token()).status()).isEqualTo(403);
    Client foreign = new Client(acting(), null);
    foreign.get("/");
    Client forged = new Client(d, null);
    forged.cookie = foreign.cookie;
    assertThat(forged.post("/jobs/" + id + "/retry", "_csrf", foreign.token()).status()).isEqualTo(403);
    assertThat(queue.find(new JobId(id)).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
    // The right one, as a form field or a header.
    Response r = c.post("/jobs/" + id + "/retry", "_csrf", c.token());
    assertThat(r.status()).isEqualTo(303);
    assertThat(r.headers().get("Location")).startsWith("/pgqueue/jobs/" + id + "?msg=");
    assertThat(queue.find(new JobId(id)).orElseThrow().state()).isEqualTo(JobState.AVAILABLE);
    Response api = c.post("/api/jobs/" + id + "/cancel", Map.of("X-CSRF-Token", c.token()));
    assertThat(body(api)).contains("\"status\" : \"done\"");
    assertThat(queue.find(new JobId(id)).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
    assertThat(c.get("/api/jobs/" + id + "/delete").status()).isEqualTo(404);
    assertThat(body(c.post("/api/jobs/" + id + "/delete", Map.of("X-CSRF-Token", c.token())))).contains("\"done\"");
    assertThat(queue.find(new JobId(id))).isEmpty();
    assertThat(c.get("/jobs/" + id).status()).isEqualTo(404);
  }

  @Test
  void instancesSharingACsrfSecretAcceptEachOthersTokensAndOthersDoNot() {
    String secret = "a shared secret of at least thirty-two characters";
    Dashboard a = Dashboard.builder(db.dataSource()).schema(db.schema()).mountPath("/pgqueue")
        .authorizer((p, h) -> DashboardAuthorizer.Access.ACT).csrfSecret(secret).build();
    Dashboard b = Dashboard.builder(db.dataSource()).schema(db.schema()).mountPath("/pgqueue")
        .authorizer((p, h) -> DashboardAuthorizer.Access.ACT).csrfSecret(secret).build();
    Dashboard other = Dashboard.builder(db.dataSource()).schema(db.schema()).mountPath("/pgqueue")
        .authorizer((p, h) -> DashboardAuthorizer.Access.ACT).csrfSecret(secret + "!").build();
    long id = discarded(db, "default", "send_mail", "p", "boom");
    Client onA = new Client(a, null);
    onA.get("/jobs/" + id);
    // The page came from instance a; the action reaches instance b (a load balancer's choice).
    Client onOther = new Client(other, null);
    onOther.cookie = onA.cookie;
    assertThat(onOther.post("/jobs/" + id + "/retry", "_csrf", onA.token()).status())
        .as("an instance with another secret").isEqualTo(403);
    assertThat(queue.find(new JobId(id)).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
    Client onB = new Client(b, null);
    onB.cookie = onA.cookie;
    assertThat(onB.post("/jobs/" + id + "/retry", "_csrf", onA.token()).status())
        .as("an instance with the same secret").isEqualTo(303);
    assertThat(queue.find(new JobId(id)).orElseThrow().state()).isEqualTo(JobState.AVAILABLE);
    assertThatThrownBy(() -> Dashboard.builder(db.dataSource()).csrfSecret("too short"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("csrfSecret must be at least 32 characters, got 9");
  }

  @Test
  void queuesShowTheLiveWorkersSlotsAndUnknownWhenAWorkerDidNotRecordThem() {
    discarded(db, "mail", "send_mail", "p", "boom");
    discarded(db, "reports", "report", "p", "boom");
    db.execute("INSERT INTO pgqueue.workers (host, queues, concurrency, job_names, heartbeat_ms, stale_after_ms) VALUES"
        + " ('a', '{mail,reports}', '{4,2}', '{send_mail,report}', 1000, 60000),"
        + " ('b', '{mail}', '{6}', '{send_mail}', 1000, 60000),"
        // a stale worker's slots do not count
        + " ('dead', '{mail}', '{100}', '{send_mail}', 1000, 60000),"
        // a worker of an earlier release, without the column
        + " ('old', '{reports}', NULL, '{report}', 1000, 60000)");
    db.execute("UPDATE pgqueue.workers SET heartbeat_at = now() - interval '1 hour' WHERE host = 'dead'");
    Client c = new Client(acting(), null);
    String api = body(c.get("/api/queues")).replaceAll("\\s+", "");
    assertThat(api).contains("\"queue\":\"mail\"").contains("\"liveWorkers\":2,\"liveSlots\":10");
    assertThat(api).contains("\"liveWorkers\":2,\"liveSlots\":null");
    String page = body(c.get("/queues"));
    assertThat(page).contains("<td class=\"n\">10</td>").contains("<td class=\"n\">?</td>");
    String workers = body(c.get("/api/workers")).replaceAll("\\s+", "");
    assertThat(workers).contains("\"queues\":[\"mail\",\"reports\"],\"concurrency\":[4,2]")
        .contains("\"queues\":[\"reports\"],\"concurrency\":null");
    assertThat(body(c.get("/workers"))).contains("mail \u00d7 4, reports \u00d7 2");
  }

  @Test
  void queuesShowTheRateLimitAndTheRateLimitPerKey() {
    discarded(db, "mail", "send_mail", "p", "boom");
    JobQueue q = queue;
    q.setRateLimit("mail", new RateLimit(50, Duration.ofSeconds(1), 5));
    q.setKeyRateLimit("mail", RateLimit.of(10, Duration.ofSeconds(1)));
    Client c = new Client(acting(), null);
    String api = body(c.get("/api/queues")).replaceAll("\\s+", "");
    assertThat(api).contains("\"rateLimit\":50,\"ratePeriodMs\":1000,\"keyRateLimit\":10,\"keyRatePeriodMs\":1000");
    assertThat(body(c.get("/queues"))).contains("<td>50 per 1000 ms; 10 per 1000 ms per key</td>");
    q.removeRateLimit("mail");
    assertThat(body(c.get("/queues"))).contains("<td>10 per 1000 ms per key</td>");
  }

  @Test
  void errorSearchFindsDiscardedJobsByTheirLastErrorAndPagesByKey() {
    for (int i = 0; i < 7; i++) {
      discarded(db, "mail", "send_mail", "p" + i, "SMTP timeout talking to relay " + i);
    }
    long other = discarded(db, "mail", "send_mail", "q", "invalid address");
    Client c = new Client(acting(), null);
    String first = body(c.get("/api/jobs?error=smtp%20TIMEOUT"));
    assertThat(first).contains("relay 6").doesNotContain("invalid address");
    List<Long> seen = new ArrayList<>();
    String after = null;
    do {
      Reads.Jobs page = new Reads(db.dataSource(), queue, db.schema())
          .searchErrors("smtp timeout", "mail", null, after, 3);
      page.jobs().forEach(j -> seen.add(j.id().value()));
      after = page.nextCursor();
    } while (after != null);
    assertThat(seen).hasSize(7).doesNotContain(other).doesNotHaveDuplicates();
    assertThat(seen).isSortedAccordingTo((a, b) -> Long.compare(b, a));
    assertThat(c.get("/jobs?error=x&state=running").status()).isEqualTo(400);
    assertThat(c.get("/jobs?error=x&after=bogus").status()).isEqualTo(400);
  }

  @Test
  void listsFilterByStateQueueNameAndKeyAndRejectBadFilters() {
    queue.enqueue(MAIL, Map.of("to", "a"), io.github.pgqueue.EnqueueOptions.builder().queue("mail").uniqueKey("k1").build());
    queue.enqueue(MAIL, Map.of("to", "b"), io.github.pgqueue.EnqueueOptions.builder().queue("other").build());
    discarded(db, "mail", "send_mail", "p", "boom");
    Client c = new Client(acting(), null);
    assertThat(body(c.get("/api/jobs?state=available&queue=mail"))).contains("\"uniqueKey\" : \"k1\"").doesNotContain("other");
    assertThat(body(c.get("/api/jobs?key=k1&name=send_mail&state=available"))).contains("k1");
    assertThat(body(c.get("/api/jobs?state=discarded"))).contains("boom").doesNotContain("k1");
    assertThat(c.get("/jobs?state=bogus").status()).isEqualTo(400);
    assertThat(c.get("/jobs?queue=bad%20queue").status()).isEqualTo(400);
    assertThat(c.get("/jobs?from=yesterday").status()).isEqualTo(400);
    assertThat(c.get("/nope").status()).isEqualTo(404);
    queue.enqueue(MAIL, Map.of("to", "c"), io.github.pgqueue.EnqueueOptions.builder().queue("later")
        .runAt(java.time.Instant.now().plusSeconds(3600)).build());
    String queues = body(c.get("/api/queues"));
    assertThat(queues).contains("\"queue\" : \"mail\"", "\"queue\" : \"other\"");
    // Only "later" has nothing due: exactly one queue without an oldest due age.
    assertThat(queues.split("\"oldestDueAgeMs\" : null", -1)).hasSize(2);
    assertThat(body(c.get("/"))).contains("mail").contains("Health");
    assertThat(c.get("/workers").status()).isEqualTo(200);
    assertThat(c.get("/cron").status()).isEqualTo(200);
  }

  @Test
  void bulkOnAllMatchingAsksForConfirmationThenActs() {
    for (int i = 0; i < 5; i++) {
      discarded(db, "mail", "send_mail", "p", "relay down");
    }
    long keep = discarded(db, "mail", "send_mail", "p", "bad address");
    Client c = new Client(acting(), null);
    c.get("/jobs");
    Response confirm = c.post("/jobs/bulk", "_csrf", c.token(), "action", "retry", "all", "true", "error", "relay");
    assertThat(confirm.status()).isEqualTo(200);
    assertThat(body(confirm)).contains("name=\"confirm\" value=\"yes\"");
    assertThat(db.queryLong("SELECT count(*) FROM " + db.schema() + ".jobs WHERE state = 'available'")).isZero();
    assertThat(c.post("/api/jobs/bulk", "_csrf", c.token(), "action", "retry", "all", "true").status()).isEqualTo(400);
    Response done = c.post("/jobs/bulk", "_csrf", c.token(), "action", "retry", "all", "true", "error", "relay",
        "confirm", "yes");
    assertThat(done.status()).isEqualTo(303);
    assertThat(db.queryLong("SELECT count(*) FROM " + db.schema() + ".jobs WHERE state = 'available'")).isEqualTo(5);
    assertThat(queue.find(new JobId(keep)).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
    Response sel = c.post("/api/jobs/bulk", "_csrf", c.token(), "action", "delete", "id", Long.toString(keep),
        "id", "999999");
    assertThat(body(sel)).contains("\"done\" : 1", "\"not_found\" : 1");
    assertThat(c.post("/api/jobs/bulk", "_csrf", c.token(), "action", "drop", "id", "1").status()).isEqualTo(400);
    assertThat(c.post("/api/jobs/bulk", "_csrf", c.token(), "action", "delete", "id", "x").status()).isEqualTo(400);
  }

  @Test
  void pauseAndResumeAQueue() {
    queue.enqueue(MAIL, Map.of("to", "a"), io.github.pgqueue.EnqueueOptions.builder().queue("mail").build());
    Client c = new Client(acting(), null);
    c.get("/queues");
    assertThat(c.post("/queues/mail/pause", "_csrf", c.token()).status()).isEqualTo(303);
    assertThat(body(c.get("/api/queues"))).contains("\"paused\" : true");
    assertThat(body(c.get("/queues"))).contains("Resume");
    assertThat(c.post("/api/queues/mail/resume", "_csrf", c.token()).status()).isEqualTo(200);
    assertThat(body(c.get("/api/queues"))).contains("\"paused\" : false");
    assertThat(c.post("/queues/bad%20name/pause", "_csrf", c.token()).status()).isEqualTo(400);
  }

  @Test
  void cronSchedulesAreListedTriggeredDisabledAndEnabled() {
    db.execute("INSERT INTO " + db.schema() + ".cron_schedules (name, definition, origin, last_fired, catch_up,"
        + " job_name, job_queue) VALUES ('nightly-report', 'cron 0 3 * * * Europe/Berlin', now(), now(), 'one',"
        + " 'report', 'default')");
    Client c = new Client(acting(), null);
    String page = body(c.get("/cron"));
    assertThat(page).contains("nightly-report").contains("Europe/Berlin").contains("<td>one</td>").contains("Trigger now").contains("Disable");
    assertThat(body(c.post("/api/cron/nightly-report/trigger", "_csrf", c.token()))).contains("\"requested\"");
    assertThat(body(c.post("/api/cron/nightly-report/trigger", "_csrf", c.token()))).contains("\"already_pending\"");
    assertThat(c.post("/cron/nightly-report/disable", "_csrf", c.token()).status()).isEqualTo(303);
    assertThat(body(c.get("/api/cron"))).contains("\"enabled\" : false").contains("\"triggerRequestedAt\" : \"");
    assertThat(body(c.post("/api/cron/nightly-report/enable", "_csrf", c.token()))).contains("\"enabled\"");
    assertThat(body(c.post("/api/cron/nope/enable", "_csrf", c.token()))).contains("unknown_schedule");
    assertThat(c.post("/api/cron/%01bad/enable", "_csrf", c.token()).status()).isEqualTo(400);
  }

  @Test
  void throughputChartsReadTheRollups() {
    db.execute("INSERT INTO " + db.schema() + ".job_rollups (minute, queue, name, outcome, worker, count) VALUES"
        + " (date_trunc('minute', now()) - interval '2 minutes', 'default', 'send_mail', 'succeeded', 'w1', 40),"
        + " (date_trunc('minute', now()) - interval '2 minutes', 'default', 'send_mail', 'discarded', 'w1', 2),"
        + " (date_trunc('minute', now()) - interval '3 hours', 'default', 'send_mail', 'retried', 'w2', 5)");
    Client c = new Client(acting(), null);
    String page = body(c.get("/"));
    assertThat(page).contains("last hour, per minute: 42 finished, 2 failed").contains("last day, per hour: 47 finished, 7 failed")
        .contains("<svg");
    assertThat(body(c.get("/api/throughput"))).contains("\"succeeded\" : 40").contains("\"failed\" : 5");
  }

  @Test
  void hiddenPayloadsAreNotShown() {
    long id = discarded(db, "default", "send_mail", "secret-card-number", "boom");
    Dashboard d = Dashboard.builder(db.dataSource()).schema(db.schema()).hidePayloads(true).build();
    Client c = new Client(d, null);
    assertThat(body(c.get("/jobs/" + id))).doesNotContain("secret-card-number").contains("hidden");
    assertThat(body(c.get("/api/jobs/" + id))).doesNotContain("secret-card-number").contains("\"payload\" : null");
  }

  @Test
  void theBuilderRejectsBadSettingsNamingThem() {
    assertThatThrownBy(() -> Dashboard.builder(db.dataSource()).schema("Bad-Schema"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("schema").hasMessageContaining("Bad-Schema");
    assertThatThrownBy(() -> Dashboard.builder(db.dataSource()).mountPath("pgqueue"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("mountPath").hasMessageContaining("pgqueue");
    assertThatThrownBy(() -> Dashboard.builder(db.dataSource()).mountPath("/a b"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/a b");
    assertThatThrownBy(() -> Dashboard.builder(null)).isInstanceOf(NullPointerException.class);
    assertThat(Dashboard.builder(db.dataSource()).mountPath("/pgqueue/").build().mountPath()).isEqualTo("/pgqueue");
    assertThat(Dashboard.builder(db.dataSource()).mountPath("/").build().mountPath()).isEmpty();
  }
}
