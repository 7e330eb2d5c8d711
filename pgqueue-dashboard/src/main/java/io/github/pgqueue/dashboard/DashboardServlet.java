package io.github.pgqueue.dashboard;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * Serves a {@link Dashboard} from a Jakarta Servlet container (Tomcat, Jetty, Spring MVC). Map
 * it to {@code MOUNT/*} where MOUNT is the dashboard's {@link Dashboard#mountPath()} (including
 * the context path, if any): the servlet serves what follows the servlet path. The request's
 * principal is {@link HttpServletRequest#getUserPrincipal()}, for the {@link DashboardAuthorizer}.
 */
public class DashboardServlet extends HttpServlet {

  private static final long serialVersionUID = 1L;

  /** Not serializable: a servlet container that persists sessions does not persist servlets. */
  private final transient Dashboard dashboard;

  /**
   * A servlet serving {@code dashboard}.
   *
   * @param dashboard the dashboard
   * @throws NullPointerException if dashboard is null
   */
  public DashboardServlet(Dashboard dashboard) {
    this.dashboard = java.util.Objects.requireNonNull(dashboard, "dashboard");
  }

  /**
   * Serves one request: every method goes to the dashboard, which answers 405 to those it does
   * not serve.
   *
   * @param req the request
   * @param resp the response
   * @throws IOException if reading the request or writing the response fails
   */
  @Override
  protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    Response r;
    try {
      String path = req.getPathInfo() == null ? "/" : req.getPathInfo();
      Map<String, List<String>> form = Map.of();
      if ("POST".equals(req.getMethod())) {
        // Read the body ourselves (not getParameter) so that query and form stay apart.
        form = Request.parseForm(JdkHandler.readForm(req.getInputStream()));
      }
      Request request = new Request(req.getMethod(), path, Request.parseForm(req.getQueryString()), form,
          req::getHeader, req.getUserPrincipal(), req.isSecure());
      r = dashboard.handle(request);
    } catch (Request.BadRequest e) {
      r = Response.of(400, "text/plain; charset=utf-8", e.getMessage());
    }
    resp.setStatus(r.status());
    r.headers().forEach(resp::setHeader);
    if (r.body().length > 0 && !"HEAD".equals(req.getMethod())) {
      resp.setContentLength(r.body().length);
      resp.getOutputStream().write(r.body());
    }
  }
}
