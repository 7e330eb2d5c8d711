package io.github.pgqueue.spring.boot3;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.pgqueue.dashboard.Dashboard;
import io.github.pgqueue.dashboard.DashboardAuthorizer;
import io.github.pgqueue.dashboard.DashboardServlet;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.context.ConfigurationPropertiesAutoConfiguration;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;

/** pgqueue.dashboard.enabled=true registers the dashboard servlet, read-only without an authorizer bean. */
class DashboardStarterTest {

  @Configuration(proxyBeanMethods = false)
  static class UserBeans {
    @Bean
    DataSource dataSource() {
      return SharedDb.DB.dataSource();
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class Authorizer {
    @Bean
    DashboardAuthorizer everyoneActs() {
      return (principal, header) -> DashboardAuthorizer.Access.ACT;
    }
  }

  private final WebApplicationContextRunner runner = new WebApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(ConfigurationPropertiesAutoConfiguration.class,
          PgQueueAutoConfiguration.class, PgQueueDashboardAutoConfiguration.class))
      .withUserConfiguration(UserBeans.class)
      .withPropertyValues("pgqueue.migrate=true", "pgqueue.worker.enabled=false");

  @SuppressWarnings("unchecked")
  private static MockHttpServletResponse call(ServletRegistrationBean<?> bean, String method, String pathInfo)
      throws Exception {
    DashboardServlet servlet = ((ServletRegistrationBean<DashboardServlet>) bean).getServlet();
    MockHttpServletRequest req = new MockHttpServletRequest(method, "/pgqueue" + pathInfo);
    req.setServletPath("/pgqueue");
    req.setPathInfo(pathInfo);
    MockHttpServletResponse resp = new MockHttpServletResponse();
    servlet.service(req, resp);
    return resp;
  }

  @Test
  void enabledRegistersAReadOnlyServletAtPgqueue() {
    runner.withPropertyValues("pgqueue.dashboard.enabled=true").run(context -> {
      assertThat(context).hasNotFailed().hasSingleBean(Dashboard.class);
      ServletRegistrationBean<?> bean = context.getBean("pgqueueDashboardServlet", ServletRegistrationBean.class);
      assertThat(bean.getUrlMappings()).containsExactly("/pgqueue/*");
      MockHttpServletResponse overview = call(bean, "GET", "/api/queues");
      assertThat(overview.getStatus()).isEqualTo(200);
      assertThat(overview.getContentAsString()).contains("\"queues\"");
      MockHttpServletResponse act = call(bean, "POST", "/api/jobs/1/retry");
      assertThat(act.getStatus()).isEqualTo(403);
      assertThat(act.getContentAsString()).contains("not allowed to act");
    });
  }

  @Test
  void anAuthorizerBeanDecidesWhoActsAndCsrfStillApplies() {
    runner.withPropertyValues("pgqueue.dashboard.enabled=true").withUserConfiguration(Authorizer.class).run(context -> {
      ServletRegistrationBean<?> bean = context.getBean("pgqueueDashboardServlet", ServletRegistrationBean.class);
      MockHttpServletResponse act = call(bean, "POST", "/api/jobs/1/retry");
      assertThat(act.getStatus()).isEqualTo(403);
      assertThat(act.getContentAsString()).contains("CSRF");
    });
  }

  @Test
  void readOnlyPropertyWinsOverTheAuthorizer() {
    runner.withPropertyValues("pgqueue.dashboard.enabled=true", "pgqueue.dashboard.read-only=true")
        .withUserConfiguration(Authorizer.class).run(context -> {
          assertThat(context.getBean(Dashboard.class).readOnly()).isTrue();
          ServletRegistrationBean<?> bean = context.getBean("pgqueueDashboardServlet", ServletRegistrationBean.class);
          assertThat(call(bean, "POST", "/api/jobs/1/retry").getContentAsString()).contains("read-only");
        });
  }

  @Test
  void aCsrfSecretTooShortFailsStartUpNamingTheProperty() {
    runner.withPropertyValues("pgqueue.dashboard.enabled=true", "pgqueue.dashboard.csrf-secret=short")
        .run(context -> assertThat(context).hasFailed().getFailure().rootCause()
            .hasMessageContaining("pgqueue.dashboard.csrf-secret")
            .hasMessageContaining("at least 32 characters, got 5"));
    runner.withPropertyValues("pgqueue.dashboard.enabled=true",
            "pgqueue.dashboard.csrf-secret=a shared secret of at least thirty-two characters")
        .run(context -> assertThat(context).hasNotFailed().hasSingleBean(Dashboard.class));
  }

  @Test
  void nothingUnlessEnabled() {
    runner.run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(Dashboard.class)
        .doesNotHaveBean("pgqueueDashboardServlet"));
  }
}
