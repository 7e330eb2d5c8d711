package io.github.pgqueue.spring.boot;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.dashboard.Dashboard;
import io.github.pgqueue.dashboard.DashboardAuthorizer;
import io.github.pgqueue.dashboard.DashboardServlet;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.env.Environment;

/**
 * The pgqueue dashboard ({@code pgqueue-dashboard} on the class path) as a servlet of a Spring
 * MVC application, when {@code pgqueue.dashboard.enabled=true}: mounted at {@code
 * pgqueue.dashboard.path} (default {@code /pgqueue}, below {@code server.servlet.context-path}).
 *
 * <p>It is read-only unless the application provides a {@link DashboardAuthorizer} bean, which
 * decides per request from the request's principal (Spring Security's, for example) who may read
 * and who may act. {@code pgqueue.dashboard.read-only=true} refuses every action whatever the
 * authorizer says; {@code pgqueue.dashboard.hide-payloads=true} hides payloads; {@code
 * pgqueue.dashboard.csrf-secret} (at least 32 characters) signs the CSRF tokens, the same for every
 * instance of the application so that an action may reach another instance than its page came
 * from. See docs/dashboard.md.
 */
@AutoConfiguration(after = PgQueueAutoConfiguration.class)
@ConditionalOnClass({Dashboard.class, ServletRegistrationBean.class, jakarta.servlet.Servlet.class})
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnProperty(name = "pgqueue.dashboard.enabled", havingValue = "true")
@ConditionalOnBean({JobQueue.class, DataSource.class})
public class PgQueueDashboardAutoConfiguration {

  /** Created by Spring Boot. */
  public PgQueueDashboardAutoConfiguration() {}

  @Bean
  @ConditionalOnMissingBean
  Dashboard pgqueueDashboard(DataSource dataSource, JobQueue queue, Environment env,
      ObjectProvider<DashboardAuthorizer> authorizer) {
    String context = env.getProperty("server.servlet.context-path", "");
    Dashboard.Builder b = Dashboard.builder(dataSource).schema(queue.schema())
        .mountPath(context + path(env))
        .readOnly(env.getProperty("pgqueue.dashboard.read-only", Boolean.class, false))
        .hidePayloads(env.getProperty("pgqueue.dashboard.hide-payloads", Boolean.class, false));
    String secret = env.getProperty("pgqueue.dashboard.csrf-secret");
    if (secret != null && !secret.isBlank()) {
      try {
        b.csrfSecret(secret);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("pgqueue.dashboard.csrf-secret: " + e.getMessage());
      }
    }
    DashboardAuthorizer a = authorizer.getIfUnique();
    if (a != null) {
      b.authorizer(a);
    }
    return b.build();
  }

  @Bean
  @ConditionalOnMissingBean(name = "pgqueueDashboardServlet")
  ServletRegistrationBean<DashboardServlet> pgqueueDashboardServlet(Dashboard dashboard, Environment env) {
    ServletRegistrationBean<DashboardServlet> r =
        new ServletRegistrationBean<>(new DashboardServlet(dashboard), path(env) + "/*");
    r.setName("pgqueueDashboard");
    return r;
  }

  private static String path(Environment env) {
    String p = env.getProperty("pgqueue.dashboard.path", "/pgqueue");
    return p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
  }
}
