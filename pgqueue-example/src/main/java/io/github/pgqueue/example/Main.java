package io.github.pgqueue.example;

import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What every process's main shares: configuration errors end the process with a clear message, and SIGTERM shuts it down in order. */
final class Main {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  private Main() {}

  static Config config() {
    return config(System.getenv());
  }

  static Config config(Map<String, String> env) {
    try {
      return Config.from(env);
    } catch (IllegalArgumentException e) {
      System.err.println("configuration error: " + e.getMessage());
      System.exit(2);
      throw e;
    }
  }

  /** Runs {@code stop} on SIGTERM or Ctrl-C, then lets the JVM exit. */
  static void onShutdown(String name, ThrowingRunnable stop) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      log.info("{}: shutting down", name);
      try {
        stop.run();
      } catch (Exception e) {
        log.warn("{}: error while shutting down", name, e);
      }
      log.info("{}: stopped", name);
    }, name + "-shutdown"));
  }

  @FunctionalInterface
  interface ThrowingRunnable {
    void run() throws Exception;
  }
}
