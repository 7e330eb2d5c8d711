package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariDataSource;

/**
 * The release command: {@code java -cp target/pgqueue-example.jar
 * io.github.pgqueue.example.MigrateMain}. Applies pgqueue's migrations and the example's tables,
 * then exits (non-zero on failure, which stops a fly.io deploy).
 */
public final class MigrateMain {
  private MigrateMain() {}

  public static void main(String[] args) {
    Config config = Main.config();
    try (HikariDataSource pool = Database.pool(config.database(), "migrate", 2)) {
      Database.migrate(pool);
    }
  }
}
