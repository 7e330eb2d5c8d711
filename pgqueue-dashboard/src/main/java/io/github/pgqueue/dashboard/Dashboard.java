package io.github.pgqueue.dashboard;

import com.sun.net.httpserver.HttpHandler;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.cron.CronAdmin;
import java.util.Objects;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * The pgqueue web dashboard: pages and a JSON API for queues, jobs, cron schedules and workers,
 * with actions on jobs (retry, run now, cancel, delete, one by one or in bulk) and queues (pause,
 * resume). One instance serves any number of concurrent requests; it holds no connection between
 * them and needs no start or stop.
 *
 * <p>Serve it through {@link #httpHandler()} (JDK {@code HttpServer}), {@link DashboardServlet}
 * (Jakarta Servlet containers, Spring MVC) or {@link DashboardMain} (standalone). Every adapter
 * applies the same rules: the {@link DashboardAuthorizer} decides per request, every action is a
 * POST carrying a CSRF token, a {@linkplain Builder#readOnly(boolean) read-only} dashboard refuses
 * every action with 403, and everything read from a job is rendered escaped. See
 * docs/dashboard.md for the pages, the JSON API and what each read costs.
 */
public final class Dashboard {

  private static final Pattern SCHEMA = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
  private static final Pattern MOUNT = Pattern.compile("(/[A-Za-z0-9._~-]+)*");

  private final String mountPath;
  private final boolean readOnly;
  private final boolean hidePayloads;
  private final DashboardAuthorizer authorizer;
  private final byte[] csrfKey;
  private final Handler handler;

  private Dashboard(Builder b) {
    this.mountPath = b.mountPath;
    this.readOnly = b.readOnly;
    this.hidePayloads = b.hidePayloads;
    this.authorizer = b.authorizer == null ? DashboardAuthorizer.readOnly() : b.authorizer;
    this.csrfKey = b.csrfSecret == null ? null : Csrf.keyOf(b.csrfSecret);
    JobQueue queue = JobQueue.builder(b.dataSource).schema(b.schema).build();
    Reads reads = new Reads(b.dataSource, queue, b.schema);
    this.handler = new Handler(this, queue, reads, CronAdmin.create(b.dataSource, b.schema), csrfKey);
  }

  /**
   * A builder for a dashboard over the pgqueue schema in {@code dataSource}.
   *
   * @param dataSource where the pgqueue tables are; connections are borrowed per read and returned
   * @return the builder
   * @throws NullPointerException if dataSource is null
   */
  public static Builder builder(DataSource dataSource) {
    return new Builder(Objects.requireNonNull(dataSource, "dataSource"));
  }

  /**
   * The path the dashboard is mounted at, as configured: links and redirects start with it.
   *
   * @return the mount path, "" for the root, else starting with "/" and not ending with one
   */
  public String mountPath() {
    return mountPath;
  }

  /**
   * Whether every action is refused (403), whatever the authorizer says.
   *
   * @return true when read-only
   */
  public boolean readOnly() {
    return readOnly;
  }

  /**
   * A handler for a JDK {@code HttpServer} context created at {@link #mountPath()} (for example
   * {@code server.createContext("/pgqueue", dashboard.httpHandler())}; for the root, "/"). Paths
   * are taken relative to the mount path. The request's principal is the exchange's (set by an
   * {@code Authenticator} on the context).
   *
   * @return the handler; it may be shared by several contexts with the same path
   */
  public HttpHandler httpHandler() {
    return new JdkHandler(this);
  }

  boolean hidePayloads() {
    return hidePayloads;
  }

  DashboardAuthorizer authorizer() {
    return authorizer;
  }

  /** Serves one request; never throws (failures become 4xx/5xx responses). */
  Response handle(Request request) {
    return handler.handle(request);
  }

  /**
   * Configures a {@link Dashboard}. Each setter validates its argument and throws {@link
   * IllegalArgumentException} naming the setting and the value.
   */
  public static final class Builder {
    private final DataSource dataSource;
    private String schema = Migrator.DEFAULT_SCHEMA;
    private String mountPath = "";
    private boolean readOnly;
    private boolean hidePayloads;
    private DashboardAuthorizer authorizer;
    private String csrfSecret;

    private Builder(DataSource dataSource) {
      this.dataSource = dataSource;
    }

    /**
     * The pgqueue schema. Defaults to {@value Migrator#DEFAULT_SCHEMA}.
     *
     * @param schema a lower-case SQL identifier
     * @return this builder
     * @throws IllegalArgumentException if it is not one
     */
    public Builder schema(String schema) {
      if (schema == null || !SCHEMA.matcher(schema).matches()) {
        throw new IllegalArgumentException(
            "schema must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters), got: "
                + (schema == null ? "null" : "\"" + schema + "\""));
      }
      this.schema = schema;
      return this;
    }

    /**
     * Where the dashboard is mounted: the path prefix of every link and redirect it renders.
     * Defaults to the root ("").
     *
     * @param mountPath "" or "/" for the root, else segments like "/pgqueue" or "/admin/jobs" (a
     *     trailing slash is dropped)
     * @return this builder
     * @throws IllegalArgumentException if it is not such a path
     */
    public Builder mountPath(String mountPath) {
      String p = mountPath == null ? null : mountPath.endsWith("/") && mountPath.length() > 0
          ? mountPath.substring(0, mountPath.length() - 1) : mountPath;
      if (p == null || !MOUNT.matcher(p).matches()) {
        throw new IllegalArgumentException(
            "mountPath must be \"\" or a path like \"/pgqueue\" (segments of A-Z a-z 0-9 . _ ~ -), got: "
                + (mountPath == null ? "null" : "\"" + mountPath + "\""));
      }
      this.mountPath = p;
      return this;
    }

    /**
     * Refuse every action with 403, whatever the authorizer allows. Defaults to false (the
     * authorizer decides; without one, nobody may act).
     *
     * @param readOnly true for a read-only dashboard
     * @return this builder
     */
    public Builder readOnly(boolean readOnly) {
      this.readOnly = readOnly;
      return this;
    }

    /**
     * Never show payloads or progress data (pages and JSON API), for teams whose payloads hold
     * sensitive data. Errors are still shown. Defaults to false.
     *
     * @param hidePayloads true to hide them
     * @return this builder
     */
    public Builder hidePayloads(boolean hidePayloads) {
      this.hidePayloads = hidePayloads;
      return this;
    }

    /**
     * Who may read and who may act. Without one, {@link DashboardAuthorizer#readOnly()}: anyone
     * who reaches the mount reads, nobody acts.
     *
     * @param authorizer the host application's decision
     * @return this builder
     * @throws NullPointerException if authorizer is null
     */
    public Builder authorizer(DashboardAuthorizer authorizer) {
      this.authorizer = Objects.requireNonNull(authorizer, "authorizer");
      return this;
    }

    /**
     * The secret the CSRF tokens are signed with. Without one, each dashboard instance makes a
     * random key of its own, so a token is valid only on the instance that issued it: when several
     * instances serve the same users behind one address (web pods behind a load balancer), give
     * them all the same secret, or an action posted to another instance than the page came from is
     * refused (403) and the user must reload. Keep it secret, like a session key.
     *
     * @param secret at least 32 characters
     * @return this builder
     * @throws IllegalArgumentException if secret is shorter than 32 characters
     * @throws NullPointerException if secret is null
     */
    public Builder csrfSecret(String secret) {
      Objects.requireNonNull(secret, "csrfSecret");
      if (secret.length() < 32) {
        throw new IllegalArgumentException(
            "csrfSecret must be at least 32 characters, got " + secret.length() + " (the value is not shown)");
      }
      this.csrfSecret = secret;
      return this;
    }

    /**
     * Builds the dashboard. Touches no database (the schema is checked on the first read).
     *
     * @return the dashboard
     */
    public Dashboard build() {
      return new Dashboard(this);
    }
  }
}
