package io.github.pgqueue.dashboard;

import static io.github.pgqueue.dashboard.Html.esc;
import static io.github.pgqueue.dashboard.Html.url;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.github.pgqueue.AdminResult;
import io.github.pgqueue.JobError;
import io.github.pgqueue.JobId;
import io.github.pgqueue.JobInfo;
import io.github.pgqueue.JobQuery;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobState;
import io.github.pgqueue.PgQueueException;
import io.github.pgqueue.cron.CronAdmin;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Routes a {@link Request} to a page, a JSON read or an action, and applies the access rules. */
final class Handler {

  private static final Logger log = LoggerFactory.getLogger(Handler.class);

  /** Bulk actions touch at most this many jobs per request. */
  static final int BULK_CAP = 1000;
  /** Rows per list page. */
  static final int PAGE = 50;

  static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
      + " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

  private static final Pattern JOB = Pattern.compile("/jobs/(\\d{1,19})");
  private static final Pattern JOB_ACTION = Pattern.compile("/jobs/(\\d{1,19})/(retry|run|cancel|delete)");
  private static final Pattern CRON_ACTION = Pattern.compile("/cron/([^/]{1,600})/(trigger|enable|disable)");
  private static final Pattern QUEUE_ACTION = Pattern.compile("/queues/([^/]{1,100})/(pause|resume)");
  private static final Set<String> ASSETS = Set.of("dashboard.css", "dashboard.js");

  private final Dashboard dashboard;
  private final JobQueue queue;
  private final Reads reads;
  private final CronAdmin cron;
  private final Csrf csrf;
  private final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private final Map<String, byte[]> assets = new TreeMap<>();

  Handler(Dashboard dashboard, JobQueue queue, Reads reads, CronAdmin cron, byte[] csrfKey) {
    this.dashboard = dashboard;
    this.csrf = csrfKey == null ? new Csrf() : new Csrf(csrfKey);
    this.cron = cron;
    this.queue = queue;
    this.reads = reads;
    for (String a : ASSETS) {
      try (InputStream in = Handler.class.getResourceAsStream(a)) {
        assets.put(a, in.readAllBytes());
      } catch (IOException | NullPointerException e) {
        throw new IllegalStateException("dashboard resource " + a + " is missing from the jar", e);
      }
    }
  }

  /** The per-request state: the request, its CSRF token (the cookie's, or a new one), its access. */
  private record Ctx(Request req, String token, boolean newToken, DashboardAuthorizer.Access access) {
    boolean mayAct() {
      return access == DashboardAuthorizer.Access.ACT;
    }
  }

  Response handle(Request req) {
    Response r;
    Ctx ctx = null;
    try {
      String cookie = req.cookie(Csrf.COOKIE);
      boolean fresh = !csrf.valid(cookie);
      DashboardAuthorizer.Access access = dashboard.authorizer().access(req.principal(), req.header());
      if (access == null) {
        access = DashboardAuthorizer.Access.NONE;
      }
      if (dashboard.readOnly() && access == DashboardAuthorizer.Access.ACT) {
        access = DashboardAuthorizer.Access.READ;
      }
      ctx = new Ctx(req, fresh ? csrf.newToken() : cookie, fresh, access);
      r = route(ctx);
    } catch (Request.BadRequest | IllegalArgumentException e) {
      r = error(req, 400, e.getMessage());
    } catch (PgQueueException e) {
      log.warn("dashboard request {} {} failed", req.method(), req.path(), e);
      r = error(req, 500, "the database read or write failed; see the server log");
    } catch (RuntimeException e) {
      log.error("dashboard request {} {} failed", req.method(), req.path(), e);
      r = error(req, 500, "internal error; see the server log");
    }
    r.header("X-Content-Type-Options", "nosniff");
    r.header("X-Frame-Options", "DENY");
    r.header("Content-Security-Policy", CSP);
    r.header("Referrer-Policy", "same-origin");
    if (!r.headers().containsKey("Cache-Control")) {
      r.header("Cache-Control", "no-store");
    }
    if (ctx != null && ctx.newToken()) {
      r.header("Set-Cookie", Csrf.COOKIE + "=" + ctx.token() + "; Path=" + cookiePath()
          + "; HttpOnly; SameSite=Strict" + (ctx.req().overHttps() ? "; Secure" : ""));
    }
    return r;
  }

  private String cookiePath() {
    return dashboard.mountPath().isEmpty() ? "/" : dashboard.mountPath();
  }

  private Response route(Ctx ctx) {
    Request req = ctx.req();
    String path = req.path();
    if (req.method().equals("GET") && path.startsWith("/assets/")) {
      byte[] body = assets.get(path.substring("/assets/".length()));
      if (body == null) {
        return error(req, 404, "no such asset");
      }
      Response r = new Response(200, new LinkedHashMap<>(), body);
      r.header("Content-Type", path.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
      r.header("Cache-Control", "max-age=3600");
      return r;
    }
    if (ctx.access() == DashboardAuthorizer.Access.NONE) {
      return error(req, 403, "not allowed to read this dashboard");
    }
    boolean api = req.wantsJson();
    String p = api ? path.substring(4) : path;
    if (p.isEmpty()) {
      p = "/";
    }
    if (req.method().equals("GET") || req.method().equals("HEAD")) {
      return read(ctx, api, p);
    }
    if (!req.method().equals("POST")) {
      return error(req, 405, "method not allowed").header("Allow", "GET, POST");
    }
    if (!ctx.mayAct()) {
      return error(req, 403, dashboard.readOnly() ? "this dashboard is read-only" : "not allowed to act");
    }
    String submitted = req.formValues(Csrf.FIELD).isEmpty() ? req.header().apply(Csrf.HEADER)
        : req.formValues(Csrf.FIELD).get(0);
    if (ctx.newToken() || !csrf.accepts(req.cookie(Csrf.COOKIE), submitted)) {
      return error(req, 403, "missing or invalid CSRF token; reload the page and try again");
    }
    return act(ctx, api, p);
  }

  // ---- reads ---------------------------------------------------------------------------------

  private Response read(Ctx ctx, boolean api, String p) {
    Request req = ctx.req();
    Matcher m;
    if (p.equals("/")) {
      return api ? json(overviewJson()) : page(ctx, "Overview", overview(ctx));
    }
    if (p.equals("/jobs")) {
      Filter f = Filter.of(req);
      Reads.Jobs jobs = list(f, req.queryParam("after"), PAGE);
      return api ? json(jobsJson(jobs)) : page(ctx, "Jobs", jobsPage(ctx, f, jobs));
    }
    if ((m = JOB.matcher(p)).matches()) {
      long id = Long.parseLong(m.group(1));
      JobInfo job = queue.find(new JobId(id)).orElse(null);
      if (job == null) {
        return error(req, 404, "no job " + id + ": it succeeded and was deleted, was pruned, or never existed");
      }
      return api ? json(jobJson(job, true)) : page(ctx, "Job " + id, jobPage(ctx, job));
    }
    if (p.equals("/queues")) {
      List<Reads.QueueRow> qs = reads.queues();
      return api ? json(Map.of("queues", queuesJson(qs))) : page(ctx, "Queues", queuesPage(ctx, qs));
    }
    if (p.equals("/workers")) {
      List<Reads.WorkerRow> ws = reads.workers();
      return api ? json(Map.of("workers", workersJson(ws))) : page(ctx, "Workers", workersPage(ws));
    }
    if (p.equals("/cron")) {
      List<CronAdmin.ScheduleInfo> cs = cron.schedules();
      return api ? json(Map.of("schedules", cronJson(cs))) : page(ctx, "Cron", cronPage(ctx, cs));
    }
    if (p.equals("/throughput")) {
      if (!api) {
        return error(req, 404, "no such page");
      }
      return json(Map.of("lastHourByMinute", throughputJson(reads.throughput(false)),
          "lastDayByHour", throughputJson(reads.throughput(true))));
    }
    if (api && p.equals("/csrf")) {
      return json(Map.of("token", ctx.token(), "header", Csrf.HEADER, "field", Csrf.FIELD));
    }
    return error(req, 404, "no such page");
  }

  /** The jobs list filters, validated. */
  record Filter(JobState state, String queue, String name, String key, Instant from, Instant to, String error) {
    static Filter of(Request r) {
      String st = r.param("state");
      JobState state = null;
      if (st != null && !st.equals("any")) {
        try {
          state = JobState.valueOf(st.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
          throw new Request.BadRequest("state must be any, available, running or discarded, got: " + st);
        }
      }
      // Validated by the JobQuery builder (names, keys) before any SQL sees them.
      JobQuery.builder().queue(r.param("queue")).name(r.param("name")).uniqueKey(r.param("key"));
      String err = r.param("error");
      if (err != null && err.length() > 200) {
        throw new Request.BadRequest("error text must be at most 200 characters");
      }
      if (err != null && err.indexOf('\0') >= 0) {
        throw new Request.BadRequest("error text cannot contain NUL");
      }
      return new Filter(state, r.param("queue"), r.param("name"), r.param("key"), time("from", r.param("from")),
          time("to", r.param("to")), err);
    }

    private static Instant time(String field, String s) {
      if (s == null) {
        return null;
      }
      try {
        return Instant.parse(s);
      } catch (DateTimeParseException e) {
        try {
          return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC);
        } catch (DateTimeParseException e2) {
          throw new Request.BadRequest(field + " must be an instant like 2026-12-02T10:00:00Z, got: " + s);
        }
      }
    }

    String query() {
      StringBuilder b = new StringBuilder();
      add(b, "state", state == null ? null : state.name().toLowerCase(Locale.ROOT));
      add(b, "queue", queue);
      add(b, "name", name);
      add(b, "key", key);
      add(b, "from", from == null ? null : from.toString());
      add(b, "to", to == null ? null : to.toString());
      add(b, "error", error);
      return b.toString();
    }

    private static void add(StringBuilder b, String k, String v) {
      if (v != null) {
        b.append(b.length() == 0 ? "" : "&").append(k).append('=').append(url(v));
      }
    }
  }

  private Reads.Jobs list(Filter f, String after, int limit) {
    if (f.error() != null) {
      if (f.state() != null && f.state() != JobState.DISCARDED) {
        throw new Request.BadRequest("the error text filter searches discarded jobs only");
      }
      return reads.searchErrors(f.error(), f.queue(), f.name(), after, limit);
    }
    JobQuery q = JobQuery.builder().state(f.state()).queue(f.queue()).name(f.name()).uniqueKey(f.key())
        .from(f.from()).to(f.to()).limit(limit).build().after(after);
    return reads.jobs(q);
  }

  // ---- actions -------------------------------------------------------------------------------

  private Response act(Ctx ctx, boolean api, String p) {
    Request req = ctx.req();
    Matcher m;
    if ((m = JOB_ACTION.matcher(p)).matches()) {
      JobId id = new JobId(Long.parseLong(m.group(1)));
      String action = m.group(2);
      AdminResult r = apply(action, id);
      if (api) {
        return json(resultJson(id, action, r));
      }
      return Response.redirect(dashboard.mountPath() + (action.equals("delete") && r.done() ? "/jobs" : "/jobs/" + id.value())
          + "?msg=" + url(action + " job " + id.value() + ": " + describe(r)));
    }
    if ((m = QUEUE_ACTION.matcher(p)).matches()) {
      String name = JobQuery.builder().queue(m.group(1)).build().queue();
      if (m.group(2).equals("pause")) {
        queue.pause(name);
      } else {
        queue.resume(name);
      }
      if (api) {
        return json(Map.of("queue", name, "paused", m.group(2).equals("pause")));
      }
      return Response.redirect(dashboard.mountPath() + "/queues?msg=" + url(m.group(2) + "d queue " + name));
    }
    if (p.equals("/jobs/bulk")) {
      return bulk(ctx, api);
    }
    if ((m = CRON_ACTION.matcher(p)).matches()) {
      String name = java.net.URLDecoder.decode(m.group(1).replace("+", "%2B"), StandardCharsets.UTF_8);
      String action = m.group(2);
      String outcome = switch (action) {
        case "trigger" -> cron.triggerNow(name).name().toLowerCase(Locale.ROOT);
        case "enable" -> cron.enable(name) ? "enabled" : "unknown_schedule";
        default -> cron.disable(name) ? "disabled" : "unknown_schedule";
      };
      if (api) {
        return json(Map.of("schedule", name, "action", action, "result", outcome));
      }
      return Response.redirect(dashboard.mountPath() + "/cron?msg=" + url(action + " " + name + ": " + outcome));
    }
    return error(req, 404, "no such action");
  }

  private AdminResult apply(String action, JobId id) {
    return switch (action) {
      case "retry", "run" -> queue.retry(id);
      case "cancel" -> queue.cancel(id, "cancelled from the dashboard");
      case "delete" -> queue.delete(id);
      default -> throw new Request.BadRequest("unknown action " + action);
    };
  }

  private static String describe(AdminResult r) {
    return switch (r.status()) {
      case DONE -> "done";
      case NOT_FOUND -> "no such job (it may have just finished)";
      case WRONG_STATE -> "refused, the job is " + r.state().name().toLowerCase(Locale.ROOT);
      case KEY_TAKEN -> "refused, its unique key is held by job " + r.keyHolder().value();
    };
  }

  private Response bulk(Ctx ctx, boolean api) {
    Request req = ctx.req();
    String action = req.param("action");
    if (action == null || !Set.of("retry", "cancel", "delete").contains(action)) {
      throw new Request.BadRequest("action must be retry, cancel or delete, got: " + action);
    }
    Set<Long> ids = new LinkedHashSet<>();
    boolean all = "true".equals(req.param("all"));
    Filter f = Filter.of(req);
    if (all) {
      if (!"yes".equals(req.param("confirm"))) {
        if (api) {
          throw new Request.BadRequest("all=true needs confirm=yes (it acts on up to " + BULK_CAP + " jobs)");
        }
        return page(ctx, "Confirm", confirmPage(ctx, action, f));
      }
      String after = null;
      do {
        Reads.Jobs page = list(f, after, Math.min(JobQuery.MAX_LIMIT, BULK_CAP - ids.size()));
        page.jobs().forEach(j -> ids.add(j.id().value()));
        after = page.nextCursor();
      } while (after != null && ids.size() < BULK_CAP);
    } else {
      for (String v : req.formValues("id")) {
        try {
          ids.add(Long.parseLong(v.strip()));
        } catch (NumberFormatException e) {
          throw new Request.BadRequest("id must be a job id, got: " + v);
        }
      }
      if (ids.size() > BULK_CAP) {
        throw new Request.BadRequest("at most " + BULK_CAP + " jobs per bulk action, got " + ids.size());
      }
      if (ids.isEmpty()) {
        throw new Request.BadRequest("select at least one job");
      }
    }
    Map<String, Integer> counts = new TreeMap<>();
    for (long id : ids) {
      counts.merge(apply(action, new JobId(id)).status().name().toLowerCase(Locale.ROOT), 1, Integer::sum);
    }
    if (api) {
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("action", action);
      out.put("jobs", ids.size());
      out.put("capped", all && ids.size() >= BULK_CAP);
      out.put("results", counts);
      return json(out);
    }
    return Response.redirect(dashboard.mountPath() + "/jobs?" + f.query() + (f.query().isEmpty() ? "" : "&")
        + "msg=" + url(action + " on " + ids.size() + " jobs: " + counts));
  }

  // ---- HTML ----------------------------------------------------------------------------------

  private String base() {
    return dashboard.mountPath();
  }

  private Response page(Ctx ctx, String title, String body) {
    String b = base();
    StringBuilder h = new StringBuilder(body.length() + 2048);
    h.append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
        .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .append("<title>").append(esc(title)).append(" · pgqueue</title>")
        .append("<link rel=\"stylesheet\" href=\"").append(esc(b)).append("/assets/dashboard.css\">")
        .append("<script src=\"").append(esc(b)).append("/assets/dashboard.js\" defer></script>")
        .append("</head><body><header><strong>pgqueue</strong><nav>");
    for (String[] n : new String[][] {{"/", "Overview"}, {"/jobs", "Jobs"}, {"/queues", "Queues"},
        {"/workers", "Workers"}, {"/cron", "Cron"}}) {
      h.append("<a href=\"").append(esc(b + n[0])).append("\"").append(n[1].equals(title) ? " class=\"on\"" : "")
          .append(">").append(n[1]).append("</a>");
    }
    h.append("</nav><label class=\"live\"><input type=\"checkbox\" id=\"live\"> live</label>")
        .append(ctx.mayAct() ? "" : "<span class=\"ro\">read-only</span>").append("</header><main id=\"main\">");
    String msg = ctx.req().queryParam("msg");
    if (msg != null) {
      h.append("<p class=\"msg\">").append(esc(msg)).append("</p>");
    }
    h.append("<h1>").append(esc(title)).append("</h1>").append(body).append("</main></body></html>");
    return Response.html(200, h.toString());
  }

  private String form(Ctx ctx, String action, String label, String cls, String extra) {
    if (!ctx.mayAct()) {
      return "";
    }
    return "<form method=\"post\" action=\"" + esc(base() + action) + "\" class=\"inline\">"
        + "<input type=\"hidden\" name=\"" + Csrf.FIELD + "\" value=\"" + esc(ctx.token()) + "\">" + extra
        + "<button class=\"" + cls + "\">" + esc(label) + "</button></form>";
  }

  private String overview(Ctx ctx) {
    List<Reads.QueueRow> qs = reads.queues();
    List<String> due = qs.stream().filter(q -> q.due() > 0).map(Reads.QueueRow::queue).toList();
    Reads.Health hl = reads.health(due);
    StringBuilder h = new StringBuilder();
    h.append("<table><tr><th>queue</th><th>due</th><th>scheduled</th><th>running</th><th>discarded</th>")
        .append("<th>oldest due</th><th>paused</th></tr>");
    for (Reads.QueueRow q : qs) {
      String jq = base() + "/jobs?queue=" + url(q.queue());
      h.append("<tr><td><a href=\"").append(esc(jq)).append("\">").append(esc(q.queue())).append("</a></td>")
          .append("<td class=\"n\">").append(Html.count(q.due())).append(q.availableCapped() ? "+" : "").append("</td>")
          .append("<td class=\"n\">").append(Html.count(q.scheduled())).append(q.availableCapped() ? "+" : "").append("</td>")
          .append("<td class=\"n\"><a href=\"").append(esc(jq + "&state=running")).append("\">")
          .append(Html.count(q.running())).append("</a></td>")
          .append("<td class=\"n\"><a href=\"").append(esc(jq + "&state=discarded")).append("\">")
          .append(Html.count(q.discarded())).append(q.discardedCapped() ? "+" : "").append("</a></td>")
          .append("<td class=\"n\">").append(esc(Html.age(q.oldestDueAge()))).append("</td>")
          .append("<td>").append(q.paused() ? "<b>paused</b>" : "").append("</td></tr>");
    }
    h.append("</table>");
    h.append(countsNote(qs));
    h.append("<h2>Throughput</h2><div class=\"charts\">")
        .append(Charts.bars("last hour, per minute", reads.throughput(false)))
        .append(Charts.bars("last day, per hour", reads.throughput(true))).append("</div>");
    h.append("<h2>Health</h2><table class=\"kv\">")
        .append(kv("live workers", Long.toString(hl.liveWorkers())))
        .append(kv("dead tuples in jobs", Html.count(hl.deadTuples())))
        .append(kv("live tuples in jobs (estimate)", Html.count(hl.liveTuples())))
        .append(kv("last vacuum", Html.time(hl.lastVacuum())))
        .append(kv("table size with indexes", Html.count(hl.totalBytes() / 1024) + " KiB"))
        .append(kv("oldest xmin age (transactions)", hl.oldestXminAge() == null ? "none" : Html.count(hl.oldestXminAge())))
        .append(kv("oldest open transaction", hl.oldestTransactionAge() == null ? "none" : Html.age(hl.oldestTransactionAge())))
        .append("</table>");
    if (!hl.unhandledAtHead().isEmpty()) {
      h.append("<h2>Unhandled job names</h2><p class=\"note\">Due jobs among the first ").append(Reads.HEAD_SAMPLE)
          .append(" of their queue that no live worker handles.</p><table><tr><th>queue</th><th>name</th><th>jobs</th></tr>");
      for (String[] u : hl.unhandledAtHead()) {
        h.append("<tr><td>").append(esc(u[0])).append("</td><td>").append(esc(u[1])).append("</td><td class=\"n\">")
            .append(esc(u[2])).append(u[2].equals(Integer.toString(Reads.HEAD_SAMPLE)) ? "+" : "").append("</td></tr>");
      }
      h.append("</table>");
    }
    return h.toString();
  }

  private static String countsNote(List<Reads.QueueRow> qs) {
    if (qs.stream().noneMatch(q -> q.discardedCapped() || q.availableCapped())) {
      return "";
    }
    return "<p class=\"note\">\"+\" marks a lower bound: due and scheduled jobs are counted among the first "
        + Html.count(Reads.AVAILABLE_SAMPLE) + " of each queue in claim order, discarded jobs among the newest "
        + Html.count(Reads.DISCARDED_COUNT_CAP) + ".</p>";
  }

  private static String kv(String k, String v) {
    return "<tr><th>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>";
  }

  private String jobsPage(Ctx ctx, Filter f, Reads.Jobs jobs) {
    StringBuilder h = new StringBuilder();
    h.append("<form method=\"get\" action=\"").append(esc(base() + "/jobs")).append("\" class=\"filters\">")
        .append("<select name=\"state\">");
    for (String s : new String[] {"any", "available", "running", "discarded"}) {
      boolean on = f.state() == null ? s.equals("any") : f.state().name().equalsIgnoreCase(s);
      h.append("<option").append(on ? " selected" : "").append(">").append(s).append("</option>");
    }
    h.append("</select>")
        .append(input("queue", f.queue(), "queue")).append(input("name", f.name(), "job name"))
        .append(input("key", f.key(), "unique key"))
        .append(input("from", f.from() == null ? null : f.from().toString(), "from (UTC)"))
        .append(input("to", f.to() == null ? null : f.to().toString(), "to (UTC)"))
        .append(input("error", f.error(), "text in last error"))
        .append("<button>Filter</button></form>");
    if (f.error() != null) {
      h.append("<p class=\"note\">The error search reads the newest ").append(Html.count(Reads.ERROR_SEARCH_WINDOW))
          .append(" discarded jobs.</p>");
    }
    String bulkId = "bulk";
    if (ctx.mayAct()) {
      h.append("<form method=\"post\" id=\"").append(bulkId).append("\" action=\"").append(esc(base() + "/jobs/bulk"))
          .append("\"><input type=\"hidden\" name=\"").append(Csrf.FIELD).append("\" value=\"").append(esc(ctx.token()))
          .append("\">").append(hiddenFilter(f)).append("<select name=\"action\"><option>retry</option><option>cancel</option>")
          .append("<option>delete</option></select> <button>Apply to selected</button> ")
          .append("<button name=\"all\" value=\"true\">Apply to all matching (up to ").append(Html.count(BULK_CAP))
          .append(")</button></form>");
    }
    h.append("<table class=\"jobs\"><tr>").append(ctx.mayAct() ? "<th></th>" : "")
        .append("<th>id</th><th>name</th><th>queue</th><th>state</th><th>attempt</th><th>run at</th>")
        .append("<th>created</th><th>last error</th></tr>");
    for (JobInfo j : jobs.jobs()) {
      String last = j.errors().isEmpty() ? "" : j.errors().get(j.errors().size() - 1).message();
      h.append("<tr>");
      if (ctx.mayAct()) {
        h.append("<td><input type=\"checkbox\" name=\"id\" value=\"").append(j.id().value()).append("\" form=\"")
            .append(bulkId).append("\"></td>");
      }
      h.append("<td><a href=\"").append(esc(base() + "/jobs/" + j.id().value())).append("\">").append(j.id().value())
          .append("</a></td><td>").append(esc(j.name())).append("</td><td>").append(esc(j.queue())).append("</td><td>")
          .append(state(j)).append("</td><td class=\"n\">").append(j.attempt()).append('/').append(j.maxAttempts())
          .append("</td><td>").append(esc(Html.time(j.runAt()))).append("</td><td>").append(esc(Html.time(j.createdAt())))
          .append("</td><td class=\"err\">").append(esc(abbreviate(last, 160))).append("</td></tr>");
    }
    h.append("</table>");
    if (jobs.jobs().isEmpty()) {
      h.append("<p>No jobs match.</p>");
    }
    h.append("<p>").append(jobs.jobs().size()).append(jobs.nextCursor() != null ? " shown, more follow" : " shown");
    if (jobs.nextCursor() != null) {
      String q = f.query();
      h.append(" · <a rel=\"next\" href=\"").append(esc(base() + "/jobs?" + q + (q.isEmpty() ? "" : "&") + "after="
          + url(jobs.nextCursor()))).append("\">next page →</a>");
    }
    h.append("</p>");
    return h.toString();
  }

  private static String state(JobInfo j) {
    String s = j.state().name().toLowerCase(Locale.ROOT);
    if (j.state() == JobState.AVAILABLE && j.runAt() != null && j.runAt().isAfter(Instant.now())) {
      s = "scheduled";
    }
    return "<span class=\"st " + s + "\">" + s + "</span>";
  }

  private static String input(String name, String value, String placeholder) {
    return "<input name=\"" + name + "\" placeholder=\"" + esc(placeholder) + "\" value=\"" + esc(value) + "\">";
  }

  private static String hiddenFilter(Filter f) {
    StringBuilder h = new StringBuilder();
    for (String part : f.query().split("&")) {
      int eq = part.indexOf('=');
      if (eq > 0) {
        h.append("<input type=\"hidden\" name=\"").append(esc(part.substring(0, eq))).append("\" value=\"")
            .append(esc(java.net.URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8))).append("\">");
      }
    }
    return h.toString();
  }

  private String confirmPage(Ctx ctx, String action, Filter f) {
    return "<p>" + esc(action) + " every job matching <code>" + esc(f.query().isEmpty() ? "(no filter)" : f.query())
        + "</code>, up to " + Html.count(BULK_CAP) + " jobs?</p>"
        + form(ctx, "/jobs/bulk", "Confirm: " + action + " all matching", "danger",
            hiddenFilter(f) + "<input type=\"hidden\" name=\"action\" value=\"" + esc(action) + "\">"
                + "<input type=\"hidden\" name=\"all\" value=\"true\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">")
        + " <a href=\"" + esc(base() + "/jobs?" + f.query()) + "\">Cancel</a>";
  }

  private String jobPage(Ctx ctx, JobInfo j) {
    StringBuilder h = new StringBuilder();
    String jp = "/jobs/" + j.id().value();
    if (ctx.mayAct()) {
      h.append("<p class=\"actions\">");
      if (j.state() == JobState.DISCARDED) {
        h.append(form(ctx, jp + "/retry", "Retry", "", ""));
      }
      if (j.state() == JobState.AVAILABLE) {
        h.append(form(ctx, jp + "/run", "Run now", "", ""));
      }
      if (j.state() != JobState.DISCARDED) {
        h.append(form(ctx, jp + "/cancel", "Cancel", "danger", ""));
      }
      if (j.state() != JobState.RUNNING) {
        h.append(form(ctx, jp + "/delete", "Delete", "danger", ""));
      }
      h.append("</p>");
    }
    h.append("<table class=\"kv\">").append(kv("name", j.name())).append(kv("queue", j.queue()))
        .append("<tr><th>state</th><td>").append(state(j)).append("</td></tr>")
        .append(kv("attempt", j.attempt() + " of " + j.maxAttempts())).append(kv("priority", Integer.toString(j.priority())))
        .append(kv("unique key", j.uniqueKey())).append(kv("concurrency key", j.concurrencyKey()))
        .append(kv("context", j.context()))
        .append(kv("created", Html.time(j.createdAt()))).append(kv("run at", Html.time(j.runAt())))
        .append(kv("locked at", Html.time(j.lockedAt()))).append(kv("discarded at", Html.time(j.discardedAt())));
    if (j.lockedBy() != null) {
      Reads.WorkerRow w = reads.worker(j.lockedBy());
      h.append(kv("lock owner", "worker " + j.lockedBy() + (w == null ? " (gone)" : " on " + w.host() + " pid " + w.pid()
          + ", last heartbeat " + Html.time(w.heartbeatAt()) + (w.alive() ? "" : " (stale)"))));
    }
    if (j.progress() != null) {
      h.append(kv("progress", dashboard.hidePayloads() ? "(hidden)" : pretty(j.progress().json())
          + " (attempt " + j.progress().attempt() + ", " + Html.time(j.progress().updatedAt()) + ")"));
    }
    h.append("</table><h2>Payload</h2>");
    h.append(dashboard.hidePayloads() ? "<p>(hidden by the dashboard's settings)</p>"
        : "<pre class=\"payload\">" + esc(pretty(j.payload())) + "</pre>");
    h.append("<h2>Errors</h2>");
    if (j.errors().isEmpty()) {
      h.append("<p>none</p>");
    }
    for (int i = j.errors().size() - 1; i >= 0; i--) {
      JobError e = j.errors().get(i);
      h.append("<details").append(i == j.errors().size() - 1 ? " open" : "").append("><summary>attempt ")
          .append(e.attempt()).append(" · ").append(esc(e.kind().name().toLowerCase(Locale.ROOT))).append(" · ")
          .append(esc(Html.time(e.at()))).append(" · <span class=\"err\">").append(esc(e.errorClass())).append(": ")
          .append(esc(e.message())).append("</span></summary><pre>").append(esc(e.stackTrace())).append("</pre></details>");
    }
    return h.toString();
  }

  private String pretty(String jsonText) {
    try {
      JsonNode n = json.readTree(jsonText);
      return json.writeValueAsString(n);
    } catch (JsonProcessingException e) {
      return jsonText;
    }
  }

  private String queuesPage(Ctx ctx, List<Reads.QueueRow> qs) {
    StringBuilder h = new StringBuilder("<table><tr><th>queue</th><th>due</th><th>scheduled</th><th>running</th>"
        + "<th>discarded</th><th>live workers</th><th>their slots</th><th>concurrency limit</th><th>rate limit</th>"
        + "<th>state</th><th></th></tr>");
    for (Reads.QueueRow q : qs) {
      h.append("<tr><td>").append(esc(q.queue())).append("</td><td class=\"n\">").append(Html.count(q.due()))
          .append(q.availableCapped() ? "+" : "").append("</td><td class=\"n\">").append(Html.count(q.scheduled()))
          .append(q.availableCapped() ? "+" : "").append("</td><td class=\"n\">")
          .append(Html.count(q.running())).append("</td><td class=\"n\">").append(Html.count(q.discarded()))
          .append(q.discardedCapped() ? "+" : "").append("</td><td class=\"n\">").append(q.liveWorkers())
          .append("</td><td class=\"n\">").append(q.liveSlots() == null ? "?" : q.liveSlots())
          .append("</td><td class=\"n\">").append(q.maxRunning() == null ? "" : q.maxRunning()).append("</td><td>")
          .append(rateLimits(q)).append("</td><td>")
          .append(q.paused() ? "<b>paused</b>" : "running").append("</td><td>")
          .append(form(ctx, "/queues/" + url(q.queue()) + (q.paused() ? "/resume" : "/pause"),
              q.paused() ? "Resume" : "Pause", q.paused() ? "" : "danger", ""))
          .append("</td></tr>");
    }
    return h.append("</table>").append(countsNote(qs)).toString();
  }

  private String workersPage(List<Reads.WorkerRow> ws) {
    Instant now = reads.now();
    StringBuilder h = new StringBuilder("<table><tr><th>id</th><th>host</th><th>pid</th><th>queues</th><th>names</th>"
        + "<th>started</th><th>last heartbeat</th><th>busy</th><th></th></tr>");
    for (Reads.WorkerRow w : ws) {
      h.append("<tr><td>").append(w.id()).append("</td><td>").append(esc(w.host())).append("</td><td>")
          .append(w.pid() == null ? "" : w.pid()).append("</td><td>").append(esc(w.queues().stream()
              .map(q -> w.slots(q) == null ? q : q + " \u00d7 " + w.slots(q)).collect(java.util.stream.Collectors.joining(", "))))
          .append(w.pausedQueues().isEmpty() ? "" : " (paused: " + esc(String.join(", ", w.pausedQueues())) + ")")
          .append("</td><td>").append(esc(String.join(", ", w.names()))).append("</td><td>")
          .append(esc(Html.time(w.startedAt()))).append("</td><td>").append(esc(Html.ago(w.heartbeatAt(), now)))
          .append("</td><td class=\"n\">").append(w.busy()).append("</td><td>").append(w.alive() ? "live" : "<b>stale</b>")
          .append("</td></tr>");
    }
    h.append("</table>");
    if (ws.isEmpty()) {
      h.append("<p>No worker is registered.</p>");
    }
    return h.toString();
  }

  private String cronPage(Ctx ctx, List<CronAdmin.ScheduleInfo> cs) {
    Instant now = reads.now();
    StringBuilder h = new StringBuilder("<table><tr><th>name</th><th>definition</th><th>zone</th><th>catch-up</th>"
        + "<th>job</th><th>last fired</th><th>next firing</th><th>trigger</th><th>state</th><th></th></tr>");
    for (CronAdmin.ScheduleInfo c : cs) {
      String cp = "/cron/" + url(c.name());
      h.append("<tr><td>").append(esc(c.name())).append("</td><td><code>").append(esc(c.definition()))
          .append("</code></td><td>").append(esc(c.zone())).append("</td><td>")
          .append(esc(catchUp(c))).append("</td><td>")
          .append(esc(c.jobName() == null ? "" : c.jobName() + (c.jobQueue() == null ? "" : " on " + c.jobQueue())))
          .append("</td><td>").append(esc(Html.time(c.lastFired()))).append("</td><td>")
          .append(esc(Html.time(c.nextFiring()))).append(c.nextFiring() != null && c.nextFiring().isBefore(now)
              ? " <b>late</b>" : "").append("</td><td>")
          .append(c.triggerRequestedAt() != null ? "pending since " + esc(Html.time(c.triggerRequestedAt()))
              : c.lastTriggeredAt() != null ? "last " + esc(Html.time(c.lastTriggeredAt())) : "")
          .append("</td><td>").append(c.enabled() ? "enabled" : "<b>disabled</b>").append("</td><td>")
          .append(form(ctx, cp + "/trigger", "Trigger now", "", ""))
          .append(form(ctx, cp + (c.enabled() ? "/disable" : "/enable"), c.enabled() ? "Disable" : "Enable",
              c.enabled() ? "danger" : "", ""))
          .append("</td></tr>");
    }
    h.append("</table>");
    if (cs.isEmpty()) {
      h.append("<p>No cron schedule is registered.</p>");
    } else {
      h.append("<p class=\"note\">Trigger now is served by a cron process running the schedule, within its poll "
          + "interval.</p>");
    }
    return h.toString();
  }

  private static String abbreviate(String s, int n) {
    return s.length() <= n ? s : s.substring(0, n) + "…";
  }

  // ---- JSON ----------------------------------------------------------------------------------

  private Response json(Object value) {
    try {
      return Response.json(200, json.writeValueAsString(value));
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Map<String, Object> overviewJson() {
    List<Reads.QueueRow> qs = reads.queues();
    Reads.Health hl = reads.health(qs.stream().filter(q -> q.due() > 0).map(Reads.QueueRow::queue).toList());
    Map<String, Object> health = new LinkedHashMap<>();
    health.put("liveWorkers", hl.liveWorkers());
    health.put("deadTuples", hl.deadTuples());
    health.put("liveTuples", hl.liveTuples());
    health.put("lastVacuum", str(hl.lastVacuum()));
    health.put("totalBytes", hl.totalBytes());
    health.put("oldestXminAge", hl.oldestXminAge());
    health.put("oldestTransactionAgeMs", hl.oldestTransactionAge() == null ? null : hl.oldestTransactionAge().toMillis());
    List<Map<String, Object>> un = new ArrayList<>();
    for (String[] u : hl.unhandledAtHead()) {
      un.add(Map.of("queue", u[0], "name", u[1], "count", Long.parseLong(u[2])));
    }
    health.put("unhandledAtHead", un);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("queues", queuesJson(qs));
    out.put("health", health);
    return out;
  }

  /** The queue's rate limit and its rate limit per concurrency key, as set. */
  private static String rateLimits(Reads.QueueRow q) {
    List<String> parts = new ArrayList<>(2);
    if (q.rateLimit() != null) {
      parts.add(q.rateLimit() + " per " + q.ratePeriodMs() + " ms");
    }
    if (q.keyRateLimit() != null) {
      parts.add(q.keyRateLimit() + " per " + q.keyRatePeriodMs() + " ms per key");
    }
    return esc(String.join("; ", parts));
  }

  private static List<Map<String, Object>> queuesJson(List<Reads.QueueRow> qs) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Reads.QueueRow q : qs) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("queue", q.queue());
      m.put("due", q.due());
      m.put("scheduled", q.scheduled());
      m.put("dueAndScheduledAreLowerBounds", q.availableCapped());
      m.put("running", q.running());
      m.put("discarded", q.discarded());
      m.put("discardedIsLowerBound", q.discardedCapped());
      m.put("oldestDueAgeMs", q.oldestDueAge() == null ? null : q.oldestDueAge().toMillis());
      m.put("paused", q.paused());
      m.put("maxRunning", q.maxRunning());
      m.put("rateLimit", q.rateLimit());
      m.put("ratePeriodMs", q.ratePeriodMs());
      m.put("keyRateLimit", q.keyRateLimit());
      m.put("keyRatePeriodMs", q.keyRatePeriodMs());
      m.put("liveWorkers", q.liveWorkers());
      m.put("liveSlots", q.liveSlots());
      out.add(m);
    }
    return out;
  }

  private static List<Map<String, Object>> workersJson(List<Reads.WorkerRow> ws) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Reads.WorkerRow w : ws) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("id", w.id());
      m.put("host", w.host());
      m.put("pid", w.pid());
      m.put("queues", w.queues());
      m.put("concurrency", w.concurrency());
      m.put("names", w.names());
      m.put("pausedQueues", w.pausedQueues());
      m.put("startedAt", str(w.startedAt()));
      m.put("heartbeatAt", str(w.heartbeatAt()));
      m.put("alive", w.alive());
      m.put("busy", w.busy());
      out.add(m);
    }
    return out;
  }

  private static List<Map<String, Object>> cronJson(List<CronAdmin.ScheduleInfo> cs) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (CronAdmin.ScheduleInfo c : cs) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", c.name());
      m.put("definition", c.definition());
      m.put("zone", c.zone() == null ? null : c.zone().getId());
      m.put("catchUp", c.catchUp() == null ? null : catchUp(c));
      m.put("jobName", c.jobName());
      m.put("jobQueue", c.jobQueue());
      m.put("enabled", c.enabled());
      m.put("lastFired", str(c.lastFired()));
      m.put("nextFiring", str(c.nextFiring()));
      m.put("triggerRequestedAt", str(c.triggerRequestedAt()));
      m.put("lastTriggeredAt", str(c.lastTriggeredAt()));
      m.put("updatedAt", str(c.updatedAt()));
      out.add(m);
    }
    return out;
  }

  private static String catchUp(CronAdmin.ScheduleInfo c) {
    if (c.catchUp() == null) {
      return "";
    }
    String mode = c.catchUp().mode().name().toLowerCase(Locale.ROOT);
    return c.catchUp().mode() == io.github.pgqueue.cron.CatchUp.Mode.ALL ? mode + " (up to " + c.catchUp().max() + ")" : mode;
  }

  private static List<Map<String, Object>> throughputJson(List<Object[]> rows) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Object[] r : rows) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("at", r[0].toString());
      m.put("succeeded", r[1]);
      m.put("failed", r[2]);
      m.put("other", r[3]);
      out.add(m);
    }
    return out;
  }

  private Map<String, Object> jobsJson(Reads.Jobs jobs) {
    List<Map<String, Object>> list = new ArrayList<>();
    for (JobInfo j : jobs.jobs()) {
      list.add(jobJson(j, false));
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("jobs", list);
    out.put("next", jobs.nextCursor());
    return out;
  }

  private Map<String, Object> jobJson(JobInfo j, boolean full) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", j.id().value());
    m.put("name", j.name());
    m.put("queue", j.queue());
    m.put("state", j.state().name().toLowerCase(Locale.ROOT));
    m.put("priority", j.priority());
    m.put("attempt", j.attempt());
    m.put("maxAttempts", j.maxAttempts());
    m.put("runAt", str(j.runAt()));
    m.put("createdAt", str(j.createdAt()));
    m.put("lockedAt", str(j.lockedAt()));
    m.put("lockedBy", j.lockedBy());
    m.put("discardedAt", str(j.discardedAt()));
    m.put("uniqueKey", j.uniqueKey());
    m.put("concurrencyKey", j.concurrencyKey());
    if (!full) {
      m.put("lastError", j.errors().isEmpty() ? null : j.errors().get(j.errors().size() - 1).message());
      return m;
    }
    m.put("context", j.context());
    m.put("payload", dashboard.hidePayloads() ? null : rawJson(j.payload()));
    if (j.progress() != null) {
      Map<String, Object> p = new LinkedHashMap<>();
      p.put("attempt", j.progress().attempt());
      p.put("updatedAt", str(j.progress().updatedAt()));
      p.put("data", dashboard.hidePayloads() ? null : rawJson(j.progress().json()));
      m.put("progress", p);
    }
    List<Map<String, Object>> errs = new ArrayList<>();
    for (JobError e : j.errors()) {
      Map<String, Object> em = new LinkedHashMap<>();
      em.put("at", str(e.at()));
      em.put("attempt", e.attempt());
      em.put("kind", e.kind().name().toLowerCase(Locale.ROOT));
      em.put("class", e.errorClass());
      em.put("message", e.message());
      em.put("stackTrace", e.stackTrace());
      errs.add(em);
    }
    m.put("errors", errs);
    return m;
  }

  private Object rawJson(String text) {
    try {
      return json.readTree(text);
    } catch (JsonProcessingException e) {
      return text;
    }
  }

  private static Map<String, Object> resultJson(JobId id, String action, AdminResult r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id.value());
    m.put("action", action);
    m.put("status", r.status().name().toLowerCase(Locale.ROOT));
    m.put("state", r.state() == null ? null : r.state().name().toLowerCase(Locale.ROOT));
    m.put("keyHolder", r.keyHolder() == null ? null : r.keyHolder().value());
    return m;
  }

  private static String str(Instant t) {
    return t == null ? null : t.toString();
  }

  private Response error(Request req, int status, String message) {
    if (req.wantsJson()) {
      try {
        return Response.json(status, json.writeValueAsString(Map.of("error", message == null ? "" : message)));
      } catch (JsonProcessingException e) {
        throw new UncheckedIOException(e);
      }
    }
    return Response.html(status, "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + status
        + "</title></head><body><h1>" + status + "</h1><p>" + esc(message) + "</p><p><a href=\""
        + esc(base().isEmpty() ? "/" : base()) + "\">back to the dashboard</a></p></body></html>");
  }
}
