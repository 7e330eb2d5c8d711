package io.github.pgqueue.dashboard;

import com.sun.net.httpserver.BasicAuthenticator;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpServer;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Migrator;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The standalone dashboard: {@code java -jar pgqueue-dashboard-VERSION-all.jar}, configured by
 * environment variables.
 *
 * <table>
 *   <caption>Environment</caption>
 *   <tr><th>variable</th><th>meaning</th></tr>
 *   <tr><td>{@code DATABASE_URL}</td><td>required: {@code jdbc:postgresql://host:port/db?user=..&password=..}
 *       or {@code postgres://user:password@host:port/db}</td></tr>
 *   <tr><td>{@code PGQUEUE_SCHEMA}</td><td>the pgqueue schema; default {@code pgqueue}</td></tr>
 *   <tr><td>{@code PORT}</td><td>the port; default 8080</td></tr>
 *   <tr><td>{@code PGQUEUE_DASHBOARD_USER}, {@code PGQUEUE_DASHBOARD_PASSWORD}</td><td>basic auth
 *       credentials; with them every request must authenticate and may act, without them the
 *       dashboard is read-only and listens on 127.0.0.1 only (unless {@code HOST} says otherwise)</td></tr>
 *   <tr><td>{@code HOST}</td><td>the address to listen on; default 0.0.0.0 with credentials,
 *       127.0.0.1 without</td></tr>
 *   <tr><td>{@code PGQUEUE_DASHBOARD_READ_ONLY}</td><td>{@code true} refuses every action</td></tr>
 *   <tr><td>{@code PGQUEUE_DASHBOARD_HIDE_PAYLOADS}</td><td>{@code true} hides payloads</td></tr>
 *   <tr><td>{@code PGQUEUE_DASHBOARD_CSRF_SECRET}</td><td>at least 32 characters, the same for
 *       every instance behind one address (see {@link Dashboard.Builder#csrfSecret}); default: a
 *       random key per process</td></tr>
 * </table>
 */
public final class DashboardMain {

  private static final Logger log = LoggerFactory.getLogger(DashboardMain.class);

  private DashboardMain() {}

  /**
   * Starts the server and serves until the process ends.
   *
   * @param args none are read
   */
  public static void main(String[] args) {
    try {
      Server s = start(System.getenv());
      Runtime.getRuntime().addShutdownHook(new Thread(s::close, "pgqueue-dashboard-shutdown"));
    } catch (IllegalArgumentException e) {
      System.err.println("pgqueue-dashboard: " + e.getMessage());
      System.exit(2);
    } catch (IOException e) {
      System.err.println("pgqueue-dashboard: cannot listen: " + e.getMessage());
      System.exit(1);
    }
  }

  /** A running standalone server. */
  record Server(HttpServer http, HikariDataSource pool, ExecutorService threads) implements AutoCloseable {
    int port() {
      return http.getAddress().getPort();
    }

    @Override
    public void close() {
      http.stop(1);
      threads.shutdownNow();
      pool.close();
    }
  }

  static Server start(Map<String, String> env) throws IOException {
    String url = env.get("DATABASE_URL");
    if (url == null || url.isBlank()) {
      throw new IllegalArgumentException("DATABASE_URL is required (jdbc:postgresql://... or postgres://user:pass@host/db)");
    }
    String user = blankToNull(env.get("PGQUEUE_DASHBOARD_USER"));
    String password = blankToNull(env.get("PGQUEUE_DASHBOARD_PASSWORD"));
    if ((user == null) != (password == null)) {
      throw new IllegalArgumentException("set both PGQUEUE_DASHBOARD_USER and PGQUEUE_DASHBOARD_PASSWORD, or neither");
    }
    int port;
    try {
      port = Integer.parseInt(env.getOrDefault("PORT", "8080"));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("PORT must be a number, got: " + env.get("PORT"));
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("PORT must be 0 to 65535, got: " + port);
    }
    String host = env.getOrDefault("HOST", user == null ? "127.0.0.1" : "0.0.0.0");
    HikariConfig config = poolConfig(url);
    HikariDataSource pool = new HikariDataSource(config);
    Dashboard.Builder b;
    try {
      b = Dashboard.builder(pool)
          .schema(env.getOrDefault("PGQUEUE_SCHEMA", Migrator.DEFAULT_SCHEMA))
          .readOnly("true".equalsIgnoreCase(env.get("PGQUEUE_DASHBOARD_READ_ONLY")))
          .hidePayloads("true".equalsIgnoreCase(env.get("PGQUEUE_DASHBOARD_HIDE_PAYLOADS")));
      String secret = blankToNull(env.get("PGQUEUE_DASHBOARD_CSRF_SECRET"));
      if (secret != null) {
        try {
          b.csrfSecret(secret);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("PGQUEUE_DASHBOARD_CSRF_SECRET: " + e.getMessage(), e);
        }
      }
    } catch (IllegalArgumentException e) {
      pool.close();
      throw e;
    }
    if (user != null) {
      b.authorizer(DashboardAuthorizer.authenticated());
    } else {
      log.warn("no PGQUEUE_DASHBOARD_USER/PASSWORD: the dashboard is read-only and unauthenticated");
    }
    Dashboard dashboard = b.build();
    HttpServer http;
    try {
      http = HttpServer.create(new InetSocketAddress(host, port), 64);
    } catch (IOException e) {
      pool.close();
      throw e;
    }
    ExecutorService threads = Executors.newFixedThreadPool(8, r -> {
      Thread t = new Thread(r, "pgqueue-dashboard-http");
      t.setDaemon(true);
      return t;
    });
    http.setExecutor(threads);
    HttpContext ctx = http.createContext("/", dashboard.httpHandler());
    // The stylesheet and script are public, as any site's are: no credentials needed for them.
    http.createContext("/assets/", dashboard.httpHandler());
    if (user != null) {
      byte[] u = user.getBytes(StandardCharsets.UTF_8);
      byte[] p = password.getBytes(StandardCharsets.UTF_8);
      ctx.setAuthenticator(new BasicAuthenticator("pgqueue") {
        @Override
        public boolean checkCredentials(String username, String pass) {
          boolean a = MessageDigest.isEqual(u, username.getBytes(StandardCharsets.UTF_8));
          boolean c = MessageDigest.isEqual(p, pass.getBytes(StandardCharsets.UTF_8));
          return a & c;
        }
      });
    }
    http.start();
    log.info("pgqueue dashboard listening on http://{}:{}/", host, http.getAddress().getPort());
    return new Server(http, pool, threads);
  }

  private static HikariConfig poolConfig(String url) {
    HikariConfig c = new HikariConfig();
    c.setPoolName("pgqueue-dashboard");
    c.setMaximumPoolSize(4);
    if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
      URI uri = URI.create(url);
      String info = uri.getRawUserInfo();
      if (info != null) {
        int colon = info.indexOf(':');
        c.setUsername(URLDecoder.decode(colon < 0 ? info : info.substring(0, colon), StandardCharsets.UTF_8));
        if (colon >= 0) {
          c.setPassword(URLDecoder.decode(info.substring(colon + 1), StandardCharsets.UTF_8));
        }
      }
      c.setJdbcUrl("jdbc:postgresql://" + uri.getHost() + (uri.getPort() < 0 ? "" : ":" + uri.getPort())
          + uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery()));
    } else if (url.startsWith("jdbc:postgresql:")) {
      c.setJdbcUrl(url);
    } else {
      throw new IllegalArgumentException("DATABASE_URL must start with jdbc:postgresql: or postgres://, got: "
          + url.replaceAll("//[^@/]*@", "//***@"));
    }
    return c;
  }

  private static String blankToNull(String s) {
    return s == null || s.isBlank() ? null : s;
  }
}
