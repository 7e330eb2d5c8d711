package io.github.pgqueue.example.spring;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.QueueStats;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.springframework.context.annotation.Profile;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * The web role: a signup form and a JSON API. The signup itself is {@link Signups#signUp}, one
 * {@code @Transactional} method for the user and its welcome email.
 */
@RestController
@Profile("web")
class SignupController {

  /** The JSON body of {@code POST /api/signups}. */
  record SignupRequest(String email) {}

  private final Signups signups;
  private final Activity activity;
  private final JobQueue queue;

  SignupController(Signups signups, Activity activity, JobQueue queue) {
    this.signups = signups;
    this.activity = activity;
    this.queue = queue;
  }

  @PostMapping("/api/signups")
  ResponseEntity<Map<String, Object>> signUpJson(@RequestBody SignupRequest request) {
    Signups.Result r = signups.signUp(request.email() == null ? "" : request.email().trim());
    return r.error() != null
        ? ResponseEntity.status(r.status()).body(Map.of("error", r.error()))
        : ResponseEntity.status(201).body(Map.of("userId", r.userId(), "welcomeJobId", r.welcomeJob().value()));
  }

  @PostMapping(path = "/signup", consumes = MediaType.APPLICATION_FORM_URLENCODED_VALUE)
  ResponseEntity<Void> signUpForm(@RequestParam(defaultValue = "") String email) {
    Signups.Result r = signups.signUp(email.trim());
    String query = r.error() == null ? "signed_up=" + r.userId() : "error=" + URLEncoder.encode(r.error(), StandardCharsets.UTF_8);
    return ResponseEntity.status(303).header("Location", "/?" + query).build();
  }

  @GetMapping("/api/users")
  List<Map<String, Object>> users() {
    return signups.users();
  }

  @GetMapping("/api/activity")
  List<Map<String, Object>> activity() {
    return activity.latest(50);
  }

  @GetMapping("/api/stats")
  QueueStats stats() {
    return queue.stats();
  }

  @GetMapping(path = "/", produces = MediaType.TEXT_HTML_VALUE)
  String page(@RequestParam(required = false) String error) {
    StringBuilder h = new StringBuilder(4_096);
    h.append("<!doctype html><html><head><meta charset=utf-8><title>pgqueue Spring Boot example</title>")
        .append("<meta http-equiv=refresh content=3>")
        .append("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}")
        .append("table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}")
        .append(".muted{color:#777}.error{color:#b00}</style></head><body>")
        .append("<h1>pgqueue Spring Boot example: web, worker, cron</h1>");
    if (error != null) {
      h.append("<p class=error>").append(esc(error)).append("</p>");
    }
    h.append("<form method=post action=/signup><input name=email type=email placeholder=you@example.com required>")
        .append(" <button id=signup>Sign up</button></form>")
        .append("<p class=muted>A @Transactional signup stores the user and enqueues its welcome email in one transaction.")
        .append(" Health: <a href=/actuator/health>/actuator/health</a>, metrics: <a href=/actuator/prometheus>/actuator/prometheus</a></p>");
    h.append("<h2>Users</h2><table id=users><tr><th>email</th><th>signed up</th><th>welcome email</th></tr>");
    for (Map<String, Object> u : signups.users()) {
      h.append("<tr><td>").append(esc(u.get("email"))).append("</td><td>").append(esc(u.get("created_at")))
          .append("</td><td class=welcome>")
          .append(u.get("welcomed_at") == null ? "pending" : "sent " + esc(u.get("welcomed_at"))).append("</td></tr>");
    }
    h.append("</table><h2>Activity</h2><table><tr><th>at</th><th>kind</th><th>what</th></tr>");
    for (Map<String, Object> a : activity.latest(15)) {
      h.append("<tr><td>").append(esc(a.get("at"))).append("</td><td>").append(esc(a.get("kind")))
          .append("</td><td>").append(esc(a.get("detail"))).append("</td></tr>");
    }
    return h.append("</table></body></html>").toString();
  }

  private static String esc(Object o) {
    if (o == null) {
      return "";
    }
    StringBuilder sb = new StringBuilder();
    for (char c : o.toString().toCharArray()) {
      switch (c) {
        case '<' -> sb.append("&lt;");
        case '>' -> sb.append("&gt;");
        case '&' -> sb.append("&amp;");
        case '"' -> sb.append("&quot;");
        case '\'' -> sb.append("&#39;");
        default -> sb.append(c);
      }
    }
    return sb.toString();
  }
}
