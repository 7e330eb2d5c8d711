package io.github.pgqueue.example;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Map;

/**
 * The example's configuration, read from the environment as fly.io, Heroku and overmind provide it.
 * Every malformed value fails at start-up with a message naming the variable and the value.
 */
record Config(
    Database.Url database,
    int port,
    int workerConcurrency,
    int poolSize,
    String cleanupCron,
    Duration reportEvery,
    double flakyFailureRate) {

  /** Where the Procfile's {@code db} process serves its embedded PostgreSQL when DATABASE_URL is unset. */
  static final String DEV_DATABASE_URL = "jdbc:postgresql://127.0.0.1:54329/postgres?user=postgres";

  static Config fromEnv() {
    return from(System.getenv());
  }

  static Config from(Map<String, String> env) {
    String url = env.getOrDefault("DATABASE_URL", "").trim();
    boolean dev = url.isEmpty();
    return new Config(
        Database.Url.parse(dev ? DEV_DATABASE_URL : url, dev),
        integer(env, "PORT", 8080, 1, 65_535),
        integer(env, "WORKER_CONCURRENCY", 10, 1, 1_000),
        integer(env, "DB_POOL_SIZE", 0, 0, 200),
        env.getOrDefault("CLEANUP_CRON", "0 3 * * *"),
        duration(env, "REPORT_EVERY", Duration.ofMinutes(1)),
        rate(env, "FLAKY_FAILURE_RATE", 0.3));
  }

  private static int integer(Map<String, String> env, String name, int dflt, int min, int max) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n < min || n > max) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          name + " must be a whole number between " + min + " and " + max + ", got: \"" + v + "\"");
    }
  }

  private static Duration duration(Map<String, String> env, String name, Duration dflt) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      return Duration.parse(v.trim());
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException(name + " must be an ISO-8601 duration such as PT1M, got: \"" + v + "\"");
    }
  }

  private static double rate(Map<String, String> env, String name, double dflt) {
    String v = env.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      double d = Double.parseDouble(v.trim());
      if (d < 0 || d > 1) {
        throw new NumberFormatException();
      }
      return d;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a number between 0 and 1, got: \"" + v + "\"");
    }
  }

  /** Decodes a percent-encoded part of a URL (user names and passwords may contain @ or :). */
  static String decode(String s) {
    return s == null ? null : URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  static URI uri(String name, String value) {
    try {
      return new URI(value);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(name + " is not a valid URL: " + e.getMessage());
    }
  }
}
