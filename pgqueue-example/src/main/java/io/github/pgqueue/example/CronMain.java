package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.cron.CronScheduler;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * The cron process: {@code java -cp target/pgqueue-example.jar io.github.pgqueue.example.CronMain}.
 * Run as many as you like: each firing is enqueued once.
 */
public final class CronMain {
  private CronMain() {}

  public static void main(String[] args) throws Exception {
    Config config = Main.config();
    HikariDataSource pool = Database.pool(config.database(), "cron", Pillars.poolSize(config, "cron"));
    Database.awaitSchema(pool, Duration.ofMinutes(2));
    CronScheduler cron = Pillars.cron(config, pool);
    Main.onShutdown("cron", () -> {
      cron.close();
      pool.close();
    });
    new CountDownLatch(1).await();
  }
}
