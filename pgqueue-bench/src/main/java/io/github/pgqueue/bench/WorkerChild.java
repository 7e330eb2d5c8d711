package io.github.pgqueue.bench;

import io.github.pgqueue.Worker;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.postgresql.ds.PGSimpleDataSource;

/** A second worker process for the multi-process variant: same handler, same settings. */
public final class WorkerChild {
  private WorkerChild() {}

  static Process start(String url, String user, String password, int concurrency, Integer bufferFactor)
      throws java.io.IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(WorkerChild.class.getName());
    cmd.add(url);
    cmd.add(user == null ? "" : user);
    cmd.add(password == null ? "" : password);
    cmd.add(Integer.toString(concurrency));
    cmd.add(bufferFactor == null ? "" : bufferFactor.toString());
    return new ProcessBuilder(cmd).inheritIO().start();
  }

  public static void main(String[] args) throws Exception {
    String url = args[0];
    String user = args[1].isEmpty() ? null : args[1];
    String password = args[2].isEmpty() ? null : args[2];
    com.zaxxer.hikari.HikariConfig hc = new com.zaxxer.hikari.HikariConfig();
    hc.setJdbcUrl(url);
    hc.setUsername(user);
    hc.setPassword(password);
    hc.setMaximumPoolSize(8);
    Worker.Builder b = Worker.builder(new com.zaxxer.hikari.HikariDataSource(hc))
        .queue("default", Integer.parseInt(args[3]))
        .dedicatedConnection(() -> DriverManager.getConnection(url, user, password))
        .shutdownHook(true)
        .handle(Workload.NOOP, (job, ctx) -> {});
    if (!args[4].isEmpty()) {
      b.bufferFactor(Integer.parseInt(args[4]));
    }
    b.build().start();
    new CountDownLatch(1).await();
  }
}
