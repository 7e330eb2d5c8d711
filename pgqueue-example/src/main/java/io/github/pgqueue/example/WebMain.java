package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariDataSource;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/** The web process: {@code java -cp target/pgqueue-example.jar io.github.pgqueue.example.WebMain}. */
public final class WebMain {
  private WebMain() {}

  public static void main(String[] args) throws Exception {
    Config config = Main.config();
    HikariDataSource pool = Database.pool(config.database(), "web", Pillars.poolSize(config, "web"));
    Database.awaitSchema(pool, Duration.ofMinutes(2));
    WebApp web = Pillars.web(config, pool);
    Main.onShutdown("web", () -> {
      web.close();
      pool.close();
    });
    new CountDownLatch(1).await();
  }
}
