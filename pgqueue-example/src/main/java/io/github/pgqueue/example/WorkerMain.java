package io.github.pgqueue.example;

import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Worker;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/** The worker process: {@code java -cp target/pgqueue-example.jar io.github.pgqueue.example.WorkerMain}. */
public final class WorkerMain {
  private WorkerMain() {}

  public static void main(String[] args) throws Exception {
    Config config = Main.config();
    HikariDataSource pool = Database.pool(config.database(), "worker", Pillars.poolSize(config, "worker"));
    Database.awaitSchema(pool, Duration.ofMinutes(2));
    Worker worker = Pillars.worker(config, pool);
    Main.onShutdown("worker", () -> {
      worker.close(); // graceful: running jobs finish, claimed ones go back
      pool.close();
    });
    new CountDownLatch(1).await();
  }
}
