package io.github.pgqueue.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigTest {

  @Test
  void flyAndHerokuStyleUrlsBecomeJdbcWithCredentialsApart() {
    Config c = Config.from(Map.of("DATABASE_URL", "postgres://app:s%40cret:x@db.internal:5433/appdb?sslmode=disable"));
    assertThat(c.database().jdbcUrl()).isEqualTo("jdbc:postgresql://db.internal:5433/appdb?sslmode=disable");
    assertThat(c.database().user()).isEqualTo("app");
    assertThat(c.database().password()).isEqualTo("s@cret:x");
    assertThat(c.database().toString()).doesNotContain("cret");
    assertThat(Config.from(Map.of("DATABASE_URL", "postgresql://u@h/d")).database().jdbcUrl())
        .isEqualTo("jdbc:postgresql://h:5432/d");
  }

  @Test
  void jdbcUrlsPassThroughAndAMissingUrlMeansTheDevDatabase() {
    String jdbc = "jdbc:postgresql://127.0.0.1:5432/app?user=app";
    assertThat(Config.from(Map.of("DATABASE_URL", jdbc)).database().jdbcUrl()).isEqualTo(jdbc);
    Config dev = Config.from(Map.of());
    assertThat(dev.database().dev()).isTrue();
    assertThat(dev.database().jdbcUrl()).isEqualTo(Config.DEV_DATABASE_URL);
    assertThat(dev.port()).isEqualTo(8080);
    assertThat(dev.reportEvery()).isEqualTo(Duration.ofMinutes(1));
  }

  @Test
  void malformedValuesNameTheVariableAndValue() {
    assertThatThrownBy(() -> Config.from(Map.of("DATABASE_URL", "mysql://x/y")))
        .hasMessageContaining("DATABASE_URL must start with postgres://").hasMessageContaining("mysql://x/y");
    assertThatThrownBy(() -> Config.from(Map.of("DATABASE_URL", "postgres://u:topsecret@/db")))
        .hasMessageContaining("DATABASE_URL").hasMessageNotContaining("topsecret");
    assertThatThrownBy(() -> Config.from(Map.of("DATABASE_URL", "postgres://u:p@host")))
        .hasMessageContaining("names no database");
    assertThatThrownBy(() -> Config.from(Map.of("PORT", "eighty")))
        .hasMessageContaining("PORT must be a whole number").hasMessageContaining("\"eighty\"");
    assertThatThrownBy(() -> Config.from(Map.of("WORKER_CONCURRENCY", "0"))).hasMessageContaining("WORKER_CONCURRENCY");
    assertThatThrownBy(() -> Config.from(Map.of("REPORT_EVERY", "1 minute"))).hasMessageContaining("REPORT_EVERY");
    assertThatThrownBy(() -> Config.from(Map.of("FLAKY_FAILURE_RATE", "2"))).hasMessageContaining("FLAKY_FAILURE_RATE");
  }
}
