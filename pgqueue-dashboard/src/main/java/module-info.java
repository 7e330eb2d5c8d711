/**
 * pgqueue-dashboard: a web dashboard ({@link io.github.pgqueue.dashboard.Dashboard}) for queues,
 * jobs, cron and workers, served by a JDK {@code HttpServer} handler, a Jakarta Servlet ({@link
 * io.github.pgqueue.dashboard.DashboardServlet}) or standalone ({@link
 * io.github.pgqueue.dashboard.DashboardMain}).
 */
module io.github.pgqueue.dashboard {
  requires io.github.pgqueue;
  requires io.github.pgqueue.cron;
  requires org.postgresql.jdbc;
  // Dashboard.httpHandler() returns a com.sun.net.httpserver.HttpHandler.
  requires transitive jdk.httpserver;
  requires org.slf4j;
  // PGSimpleDataSource, which the standalone main builds, implements javax.naming.Referenceable.
  requires java.naming;
  // The standalone main's pool; absent when embedded.
  requires static com.zaxxer.hikari;
  // Provided by the servlet container; absent when the dashboard is served otherwise.
  requires static jakarta.servlet;

  exports io.github.pgqueue.dashboard;
}
