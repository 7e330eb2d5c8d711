package io.github.pgqueue.dashboard;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/** Serves a {@link Dashboard} from a JDK {@code HttpServer} context. */
final class JdkHandler implements HttpHandler {

  private final Dashboard dashboard;

  JdkHandler(Dashboard dashboard) {
    this.dashboard = dashboard;
  }

  @Override
  public void handle(HttpExchange ex) throws IOException {
    try (ex) {
      Response r;
      try {
        String full = ex.getRequestURI().getRawPath();
        // Relative to the dashboard's mount path (not the context's: a context for /assets alone
        // may serve the same handler).
        String mount = dashboard.mountPath();
        String path = full.startsWith(mount) ? full.substring(mount.length()) : full;
        if (!path.startsWith("/")) {
          path = "/" + path;
        }
        Map<String, List<String>> form = Map.of();
        if ("POST".equals(ex.getRequestMethod())) {
          form = Request.parseForm(readForm(ex.getRequestBody()));
        }
        Request req = new Request(ex.getRequestMethod(), path, Request.parseForm(ex.getRequestURI().getRawQuery()),
            form, ex.getRequestHeaders()::getFirst, ex.getPrincipal(),
            ex instanceof com.sun.net.httpserver.HttpsExchange);
        r = dashboard.handle(req);
      } catch (Request.BadRequest e) {
        r = Response.of(400, "text/plain; charset=utf-8", e.getMessage());
      }
      r.headers().forEach((k, v) -> ex.getResponseHeaders().set(k, v));
      boolean head = "HEAD".equals(ex.getRequestMethod());
      ex.sendResponseHeaders(r.status(), head || r.body().length == 0 ? -1 : r.body().length);
      if (!head && r.body().length > 0) {
        ex.getResponseBody().write(r.body());
      }
    }
  }

  static String readForm(InputStream in) throws IOException {
    byte[] b = in.readNBytes(Request.MAX_FORM_BYTES + 1);
    if (b.length > Request.MAX_FORM_BYTES) {
      throw new Request.BadRequest("form body larger than " + Request.MAX_FORM_BYTES + " bytes");
    }
    return new String(b, StandardCharsets.UTF_8);
  }
}
