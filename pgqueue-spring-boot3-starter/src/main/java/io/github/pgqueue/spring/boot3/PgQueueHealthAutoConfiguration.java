package io.github.pgqueue.spring.boot3;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.spring.PgQueueHealth;
import io.github.pgqueue.spring.PgQueueProperties;
import io.github.pgqueue.spring.WorkerLifecycle;
import java.util.List;
import java.util.Set;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.health.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.actuate.endpoint.EndpointId;
import org.springframework.boot.actuate.endpoint.SecurityContext;
import org.springframework.boot.actuate.endpoint.web.AdditionalPathsMapper;
import org.springframework.boot.actuate.endpoint.web.WebServerNamespace;
import org.springframework.boot.actuate.health.AdditionalHealthEndpointPath;
import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthEndpointGroup;
import org.springframework.boot.actuate.health.HealthEndpointGroups;
import org.springframework.boot.actuate.health.HealthEndpointGroupsPostProcessor;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.actuate.health.HttpCodeStatusMapper;
import org.springframework.boot.actuate.health.StatusAggregator;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;

/**
 * pgqueue's Actuator health indicator ({@code pgqueue}: the worker registered and heartbeating,
 * LISTEN or polling, queue lag against {@code pgqueue.health.max-lag}), a member of the readiness
 * group and never of the liveness group: a slow or unreachable database takes the pod out of
 * rotation, it does not get it restarted. Disabled with {@code management.health.pgqueue.enabled=false}.
 *
 * <p>The Boot 4 starter has the same class on Boot 4's health types (they moved packages in Boot 4).
 */
@AutoConfiguration(after = PgQueueAutoConfiguration.class, afterName = {
    "org.springframework.boot.actuate.autoconfigure.health.HealthEndpointAutoConfiguration",
    "org.springframework.boot.actuate.autoconfigure.availability.AvailabilityProbesAutoConfiguration"})
@ConditionalOnClass({HealthIndicator.class, HealthEndpointGroupsPostProcessor.class})
@ConditionalOnBean(JobQueue.class)
@ConditionalOnEnabledHealthIndicator("pgqueue")
public class PgQueueHealthAutoConfiguration {

  /** The contributor's name in the health endpoint and its groups. */
  static final String NAME = "pgqueue";

  /** Created by Spring Boot. */
  public PgQueueHealthAutoConfiguration() {}

  @Bean(name = "pgqueueHealthIndicator")
  @ConditionalOnMissingBean(name = "pgqueueHealthIndicator")
  HealthIndicator pgqueueHealthIndicator(JobQueue queue, PgQueueProperties properties, ObjectProvider<WorkerLifecycle> worker) {
    WorkerLifecycle w = worker.getIfAvailable();
    PgQueueHealth health = new PgQueueHealth(queue, w == null ? null : w.worker(),
        properties.getHealth().getMaxLag(), properties.getHealth().getStatsInterval());
    return () -> {
      PgQueueHealth.Report r = health.check();
      return (r.up() ? Health.up() : Health.down()).withDetails(r.details()).build();
    };
  }

  /** Puts {@code pgqueue} in the readiness group and keeps it out of the liveness group. */
  @Bean
  @Order(Ordered.LOWEST_PRECEDENCE)
  static HealthEndpointGroupsPostProcessor pgqueueReadinessOnly() {
    return ReadinessOnly::new;
  }

  /**
   * The application's groups with {@code pgqueue} in readiness and out of liveness. Still maps the
   * probes' additional paths (/livez, /readyz) when the groups it wraps did.
   */
  private static final class ReadinessOnly implements HealthEndpointGroups, AdditionalPathsMapper {
    private final HealthEndpointGroups groups;

    ReadinessOnly(HealthEndpointGroups groups) {
      this.groups = groups;
    }

    @Override
    public HealthEndpointGroup getPrimary() {
      return groups.getPrimary();
    }

    @Override
    public Set<String> getNames() {
      return groups.getNames();
    }

    @Override
    public HealthEndpointGroup get(String name) {
      HealthEndpointGroup g = groups.get(name);
      if (g == null) {
        return null;
      }
      return switch (name) {
        case "readiness" -> new Membership(g, true);
        case "liveness" -> new Membership(g, false);
        default -> g;
      };
    }

    @Override
    public List<String> getAdditionalPaths(EndpointId endpointId, WebServerNamespace webServerNamespace) {
      return groups instanceof AdditionalPathsMapper m ? m.getAdditionalPaths(endpointId, webServerNamespace) : null;
    }
  }

  /** A group with {@code pgqueue} added to, or taken out of, its members. */
  private record Membership(HealthEndpointGroup group, boolean member) implements HealthEndpointGroup {
    @Override
    public boolean isMember(String name) {
      return NAME.equals(name) ? member : group.isMember(name);
    }

    @Override
    public boolean showComponents(SecurityContext securityContext) {
      return group.showComponents(securityContext);
    }

    @Override
    public boolean showDetails(SecurityContext securityContext) {
      return group.showDetails(securityContext);
    }

    @Override
    public StatusAggregator getStatusAggregator() {
      return group.getStatusAggregator();
    }

    @Override
    public HttpCodeStatusMapper getHttpCodeStatusMapper() {
      return group.getHttpCodeStatusMapper();
    }

    @Override
    public AdditionalHealthEndpointPath getAdditionalPath() {
      return group.getAdditionalPath();
    }
  }
}
