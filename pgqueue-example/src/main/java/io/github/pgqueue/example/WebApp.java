package io.github.pgqueue.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.github.pgqueue.AdminResult;
import io.github.pgqueue.EnqueueResult;
import io.github.pgqueue.JobError;
import io.github.pgqueue.JobId;
import io.github.pgqueue.JobInfo;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.QueueStats;
import io.github.pgqueue.dashboard.Dashboard;
import io.github.pgqueue.dashboard.DashboardAuthorizer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The web pillar: a signup form and a JSON API. A signup writes the user row and enqueues its jobs
 * in the same transaction (the transactional outbox): either both exist or neither does. Pages
 * and endpoints show queue statistics and discarded jobs, with retry and delete buttons.
 */
final class WebApp implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WebApp.class);
  private static final Pattern EMAIL = Pattern.compile("[^@\\s]{1,64}@[^@\\s]{1,255}\\.[^@\\s]{1,63}");
  private static final Pattern JOB_ACTION = Pattern.compile("/(?:api/)?jobs/(\\d+)/(retry|delete)");

  private final DataSource db;
  private final JobQueue queue;
  private final ObjectMapper json = JobQueue.defaultObjectMapper();
  private final HttpServer server;
  private final ExecutorService threads = Executors.newFixedThreadPool(8);

  /**
   * @param dashboardActions whether the dashboard at /pgqueue may act (retry, cancel, delete,
   *     pause): only for the local dev database; with a real DATABASE_URL it is read-only, since
   *     the example has no login to decide who may act
   */
  WebApp(DataSource db, JobQueue queue, int port, boolean dashboardActions) throws IOException {
    this.db = db;
    this.queue = queue;
    this.server = HttpServer.create(new InetSocketAddress(port), 64);
    server.setExecutor(threads);
    server.createContext("/", this::route);
    // The pgqueue dashboard, on the same server; its JDK handler serves everything under /pgqueue.
    Dashboard dashboard = Dashboard.builder(db).schema(queue.schema()).mountPath("/pgqueue")
        .authorizer(dashboardActions ? (principal, header) -> DashboardAuthorizer.Access.ACT
            : DashboardAuthorizer.readOnly())
        .build();
    server.createContext("/pgqueue", dashboard.httpHandler());
  }

  void start() {
    server.start();
    log.info("web: listening on http://localhost:{}/", server.getAddress().getPort());
  }

  int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(1);
    threads.shutdown();
  }

  // ---- routing --------------------------------------------------------------------------------

  private void route(HttpExchange ex) throws IOException {
    try {
      String path = ex.getRequestURI().getPath();
      String method = ex.getRequestMethod();
      Matcher action = JOB_ACTION.matcher(path);
      if (method.equals("GET") && path.equals("/")) {
        send(ex, 200, "text/html; charset=utf-8", page());
      } else if (method.equals("GET") && path.equals("/health")) {
        send(ex, 200, "text/plain", "ok");
      } else if (method.equals("POST") && path.equals("/signup")) {
        String email = form(ex).getOrDefault("email", "").trim();
        Signup s = signUp(email);
        redirect(ex, "/?" + (s.error == null ? "signed_up=" + s.userId : "error=" + s.error.replace(' ', '+')));
      } else if (method.equals("POST") && path.equals("/api/signups")) {
        JsonNode body = json.readTree(ex.getRequestBody());
        Signup s = signUp(body.path("email").asText("").trim());
        if (s.error != null) {
          sendJson(ex, s.status, Map.of("error", s.error));
        } else {
          sendJson(ex, 201, Map.of("userId", s.userId, "welcomeJobId", s.welcomeJob.value()));
        }
      } else if (method.equals("GET") && path.equals("/api/users")) {
        sendJson(ex, 200, users());
      } else if (method.equals("GET") && path.equals("/api/stats")) {
        sendJson(ex, 200, queue.stats());
      } else if (method.equals("GET") && path.equals("/api/discarded")) {
        sendJson(ex, 200, queue.discardedJobs(null, 50));
      } else if (method.equals("GET") && path.equals("/api/activity")) {
        sendJson(ex, 200, activity(50));
      } else if (method.equals("POST") && action.matches()) {
        JobId id = new JobId(Long.parseLong(action.group(1)));
        AdminResult result = action.group(2).equals("retry") ? queue.retry(id) : queue.delete(id);
        if (path.startsWith("/api/")) {
          // 404 when the job is gone, 409 when it is in a state (or holds a key) that refuses it.
          int status = switch (result.status()) {
            case DONE -> 200;
            case NOT_FOUND -> 404;
            case WRONG_STATE, KEY_TAKEN -> 409;
          };
          Map<String, Object> body = new java.util.LinkedHashMap<>();
          body.put("id", id.value());
          body.put("done", result.done());
          body.put("result", result.status().name());
          if (result.state() != null) {
            body.put("state", result.state().name());
          }
          if (result.keyHolder() != null) {
            body.put("keyHolder", result.keyHolder().value());
          }
          sendJson(ex, status, body);
        } else {
          redirect(ex, "/");
        }
      } else {
        send(ex, 404, "text/plain", "not found");
      }
    } catch (RuntimeException | SQLException e) {
      log.error("web: {} {} failed", ex.getRequestMethod(), ex.getRequestURI(), e);
      send(ex, 500, "text/plain", "internal error");
    } finally {
      ex.close();
    }
  }

  // ---- the signup: one transaction for the user and its jobs ------------------------------------

  private record Signup(long userId, JobId welcomeJob, String error, int status) {}

  private Signup signUp(String email) throws SQLException {
    if (!EMAIL.matcher(email).matches()) {
      return new Signup(0, null, "please enter a valid email address", 400);
    }
    try (Connection c = db.getConnection()) {
      c.setAutoCommit(false);
      try {
        long userId;
        try (PreparedStatement ps =
            c.prepareStatement("INSERT INTO users (email) VALUES (?) ON CONFLICT (email) DO NOTHING RETURNING id")) {
          ps.setString(1, email);
          try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
              c.rollback();
              return new Signup(0, null, email + " has already signed up", 409);
            }
            userId = rs.getLong(1);
          }
        }
        // Same connection, same transaction: the jobs exist exactly when the user does.
        EnqueueResult welcome = queue.enqueue(c, Jobs.WELCOME_EMAIL, new Jobs.WelcomeEmail(userId, email));
        queue.enqueue(c, Jobs.SYNC_CRM, new Jobs.SyncCrm(userId));
        c.commit();
        return new Signup(userId, welcome.id(), null, 201);
      } catch (SQLException | RuntimeException e) {
        c.rollback();
        throw e;
      }
    }
  }

  // ---- reads ----------------------------------------------------------------------------------

  private List<Map<String, Object>> users() throws SQLException {
    return rows("SELECT id, email, created_at, welcomed_at, crm_synced_at FROM users ORDER BY id DESC LIMIT 50");
  }

  private List<Map<String, Object>> activity(int limit) throws SQLException {
    return rows("SELECT kind, detail, at FROM activity ORDER BY id DESC LIMIT " + limit);
  }

  private List<Map<String, Object>> rows(String sql) throws SQLException {
    List<Map<String, Object>> out = new ArrayList<>();
    try (Connection c = db.getConnection();
        PreparedStatement ps = c.prepareStatement(sql);
        ResultSet rs = ps.executeQuery()) {
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 1; i <= n; i++) {
          Object v = rs.getObject(i);
          row.put(rs.getMetaData().getColumnLabel(i), v instanceof java.sql.Timestamp t ? t.toInstant().toString() : v);
        }
        out.add(row);
      }
    }
    return out;
  }

  // ---- the page -------------------------------------------------------------------------------

  private String page() throws SQLException {
    StringBuilder h = new StringBuilder(8_192);
    h.append("<!doctype html><html><head><meta charset=utf-8><title>pgqueue example</title>")
        .append("<meta http-equiv=refresh content=3>")
        .append("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}")
        .append("table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}")
        .append("form.inline{display:inline}.muted{color:#777}</style></head><body>")
        .append("<h1>pgqueue example: web, worker, cron</h1>")
        .append("<p><a href=/pgqueue id=dashboard>Open the pgqueue dashboard</a></p>")
        .append("<form method=post action=/signup><input name=email type=email placeholder=you@example.com required>")
        .append(" <button id=signup>Sign up</button></form>")
        .append("<p class=muted>A signup writes the user and enqueues its welcome email in one transaction.</p>");

    h.append("<h2>Users</h2><table id=users><tr><th>email</th><th>signed up</th><th>welcome email</th><th>CRM sync</th></tr>");
    for (Map<String, Object> u : users()) {
      h.append("<tr><td>").append(esc(u.get("email"))).append("</td><td>").append(esc(u.get("created_at")))
          .append("</td><td class=welcome>").append(u.get("welcomed_at") == null ? "pending" : "sent " + esc(u.get("welcomed_at")))
          .append("</td><td>").append(u.get("crm_synced_at") == null ? "pending" : "synced").append("</td></tr>");
    }
    h.append("</table>");

    QueueStats stats = queue.stats();
    h.append("<h2>Queues</h2><table><tr><th>queue</th><th>due</th><th>scheduled</th><th>running</th><th>discarded</th><th>oldest due</th></tr>");
    for (QueueStats.Queue q : stats.queues()) {
      h.append("<tr><td>").append(esc(q.queue())).append("</td><td>").append(q.due()).append("</td><td>")
          .append(q.scheduled()).append("</td><td>").append(q.running()).append("</td><td>").append(q.discarded())
          .append("</td><td>").append(q.oldestDueAge() == null ? "" : esc(q.oldestDueAge())).append("</td></tr>");
    }
    h.append("</table><p class=muted>").append(stats.liveWorkers()).append(" live workers");
    if (stats.table() != null) {
      h.append("; jobs table: ").append(stats.table().liveTuples()).append(" live, ")
          .append(stats.table().deadTuples()).append(" dead tuples");
    }
    h.append("</p>");

    h.append("<h2>Discarded jobs</h2><table><tr><th>id</th><th>name</th><th>attempts</th><th>last error</th><th></th></tr>");
    for (JobInfo j : queue.discardedJobs(null, 20)) {
      JobError last = j.errors().isEmpty() ? null : j.errors().get(j.errors().size() - 1);
      h.append("<tr><td>").append(j.id()).append("</td><td>").append(esc(j.name())).append("</td><td>")
          .append(j.attempt()).append('/').append(j.maxAttempts()).append("</td><td>")
          .append(last == null ? "" : esc(last.message())).append("</td><td>")
          .append("<form class=inline method=post action=/jobs/").append(j.id()).append("/retry><button>Retry</button></form> ")
          .append("<form class=inline method=post action=/jobs/").append(j.id()).append("/delete><button>Delete</button></form>")
          .append("</td></tr>");
    }
    h.append("</table>");

    h.append("<h2>Activity</h2><table><tr><th>at</th><th>kind</th><th>what</th></tr>");
    for (Map<String, Object> a : activity(15)) {
      h.append("<tr><td>").append(esc(a.get("at"))).append("</td><td>").append(esc(a.get("kind")))
          .append("</td><td>").append(esc(a.get("detail"))).append("</td></tr>");
    }
    return h.append("</table></body></html>").toString();
  }

  private static String esc(Object o) {
    if (o == null) {
      return "";
    }
    String s = o.toString();
    StringBuilder sb = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
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

  // ---- HTTP plumbing --------------------------------------------------------------------------

  private static Map<String, String> form(HttpExchange ex) throws IOException {
    String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    Map<String, String> out = new HashMap<>();
    for (String kv : body.split("&")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        out.put(URLDecoder.decode(kv.substring(0, eq), StandardCharsets.UTF_8),
            URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  private void sendJson(HttpExchange ex, int status, Object body) throws IOException {
    send(ex, status, "application/json", json.writeValueAsString(body));
  }

  private static void redirect(HttpExchange ex, String location) throws IOException {
    ex.getResponseHeaders().set("Location", location);
    ex.sendResponseHeaders(303, -1);
  }

  private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", type);
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }
}
