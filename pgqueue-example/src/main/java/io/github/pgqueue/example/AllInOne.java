package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Worker;
import io.github.pgqueue.cron.CronScheduler;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * All three pillars in one JVM on a fresh embedded PostgreSQL: what {@code java -jar
 * pgqueue-example.jar} runs, to try the example on a machine with only a JDK. With DATABASE_URL set
 * it uses that database instead. In production, run each pillar as its own process.
 */
public final class AllInOne {
  private AllInOne() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> env = new HashMap<>(System.getenv());
    EmbeddedPostgres pg = null;
    if (env.getOrDefault("DATABASE_URL", "").isBlank()) {
      pg = EmbeddedPostgres.builder().start();
      env.put("DATABASE_URL", "jdbc:postgresql://127.0.0.1:" + pg.getPort() + "/postgres?user=postgres");
    }
    Config config = Main.config(env);
    HikariDataSource pool = Database.pool(config.database(), "all-in-one", 24);
    Database.migrate(pool);
    // The dashboard may act on the embedded database this process started (a dev database).
    WebApp web = Pillars.web(config, pool, pg != null || config.database().dev());
    Worker worker = Pillars.worker(config, pool);
    CronScheduler cron = Pillars.cron(config, pool);
    EmbeddedPostgres server = pg;
    Main.onShutdown("all-in-one", () -> {
      web.close();
      cron.close();
      worker.close();
      pool.close();
      if (server != null) {
        server.close();
      }
    });
    System.out.println();
    System.out.println("  pgqueue example is up: open http://localhost:" + web.port() + "/  (Ctrl-C to stop)");
    System.out.println();
    new CountDownLatch(1).await();
  }
}
