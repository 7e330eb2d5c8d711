package io.github.pgqueue.example.spring;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.event.ApplicationEnvironmentPreparedEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.Profiles;

/**
 * The {@code devdb} profile: when {@code DATABASE_URL} is unset, serves an embedded PostgreSQL on
 * 127.0.0.1:{@code example.dev-db-port} (data kept in {@code target/dev-db} between runs), started
 * before the application context so the DataSource finds it, and stopped after the context closed.
 * The plain example's {@code DevDatabase} does the same outside Spring. In every role it first
 * checks that {@code DATABASE_URL}, when set, is a JDBC URL.
 */
final class DevDatabase implements ApplicationListener<ApplicationEnvironmentPreparedEvent> {

  @Override
  public void onApplicationEvent(ApplicationEnvironmentPreparedEvent event) {
    ConfigurableEnvironment env = event.getEnvironment();
    String url = env.getProperty("DATABASE_URL", "").trim();
    if (!url.isEmpty() && !url.startsWith("jdbc:postgresql://")) {
      // Not handed to the driver, whose message would print the password.
      throw new IllegalArgumentException("DATABASE_URL must be a jdbc:postgresql:// URL (or leave it unset and set "
          + "spring.datasource.*), got: \"" + url.replaceAll("://([^:/@]*):[^@]*@", "://$1:***@") + "\"");
    }
    if (!env.acceptsProfiles(Profiles.of("devdb"))) {
      return;
    }
    if (!url.isEmpty()) {
      System.out.println("devdb: DATABASE_URL is set; no embedded PostgreSQL");
      return;
    }
    int port = env.getRequiredProperty("example.dev-db-port", Integer.class);
    EmbeddedPostgres pg;
    try {
      pg = EmbeddedPostgres.builder()
          .setPort(port)
          .setDataDirectory(Path.of("target", "dev-db").toAbsolutePath())
          .setCleanDataDirectory(false)
          // Stopped by the handler below, after the context closed: the worker still writes
          // outcomes while the context closes, so the server must outlive it.
          .setRegisterShutdownHook(false)
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("devdb: starting the embedded PostgreSQL on port " + port + " failed", e);
    }
    System.out.println("devdb: embedded PostgreSQL serving jdbc:postgresql://127.0.0.1:" + port + "/postgres");
    SpringApplication.getShutdownHandlers().add(() -> {
      try {
        pg.close();
      } catch (IOException e) {
        System.err.println("devdb: stopping the embedded PostgreSQL failed: " + e);
      }
    });
  }
}
