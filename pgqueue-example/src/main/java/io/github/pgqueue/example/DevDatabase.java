package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * The {@code db} process of {@code Procfile.dev}. When DATABASE_URL is unset it serves an embedded
 * PostgreSQL on 127.0.0.1:54329 (data kept in {@code target/dev-db} between runs), so the example
 * runs on a machine with only a JDK. Either way it then applies the migrations, as the release
 * command does in production, and stays up (a Procfile runner stops everything when one process
 * exits).
 */
public final class DevDatabase {
  private DevDatabase() {}

  public static void main(String[] args) throws Exception {
    Config config = Main.config();
    EmbeddedPostgres pg = null;
    if (config.database().dev()) {
      pg = EmbeddedPostgres.builder()
          .setPort(54329)
          .setDataDirectory(Path.of("target", "dev-db").toAbsolutePath())
          .setCleanDataDirectory(false)
          .start();
      System.out.println("db: embedded PostgreSQL serving " + Config.DEV_DATABASE_URL);
    } else {
      System.out.println("db: DATABASE_URL is set; using " + config.database());
    }
    try (HikariDataSource pool = Database.pool(config.database(), "migrate", 2)) {
      Database.migrate(pool);
    }
    EmbeddedPostgres server = pg;
    Main.onShutdown("db", () -> {
      if (server != null) {
        server.close();
      }
    });
    System.out.println("db: ready");
    new CountDownLatch(1).await();
  }
}
