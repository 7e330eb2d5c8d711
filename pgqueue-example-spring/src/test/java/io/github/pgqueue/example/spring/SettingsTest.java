package io.github.pgqueue.example.spring;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.bootstrap.DefaultBootstrapContext;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.event.ApplicationEnvironmentPreparedEvent;
import org.springframework.core.env.MapPropertySource;
import org.springframework.core.env.StandardEnvironment;

/** Bad settings fail at start-up with a message naming the setting and the value (and no password). */
class SettingsTest {

  @Test
  void aReportIntervalThatIsNotPositiveIsRefused() {
    assertThatThrownBy(() -> new ExampleProperties(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("example.report-every must be positive, got: PT0S");
  }

  @Test
  void aDatabaseUrlThatIsNotJdbcIsRefusedWithoutItsPassword() {
    StandardEnvironment env = new StandardEnvironment();
    env.getPropertySources().addFirst(new MapPropertySource("test",
        Map.of("DATABASE_URL", "postgres://app:s3cret@db.internal:5432/app")));
    ApplicationEnvironmentPreparedEvent event = new ApplicationEnvironmentPreparedEvent(
        new DefaultBootstrapContext(), new SpringApplication(ExampleApplication.class), new String[0], env);
    assertThatThrownBy(() -> new DevDatabase().onApplicationEvent(event))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("DATABASE_URL must be a jdbc:postgresql:// URL")
        .hasMessageContaining("postgres://app:***@db.internal:5432/app")
        .hasMessageNotContaining("s3cret");
  }
}
