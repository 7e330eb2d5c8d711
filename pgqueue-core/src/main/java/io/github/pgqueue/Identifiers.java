package io.github.pgqueue;

import java.util.regex.Pattern;

/**
 * Validation of the names pgqueue stores or puts into SQL text. Schema names are the only values
 * ever interpolated into SQL, so they are held to a strict lowercase identifier form; everything
 * else travels as a bind parameter and is checked only for size and sense.
 */
final class Identifiers {

  static final int MAX_SCHEMA_LENGTH = 48;
  static final int MAX_JOB_NAME_LENGTH = 200;
  static final int MAX_QUEUE_LENGTH = 100;

  private static final Pattern SCHEMA = Pattern.compile("[a-z_][a-z0-9_]{0,47}");
  private static final Pattern QUEUE = Pattern.compile("[A-Za-z0-9_.:-]{1,100}");

  private Identifiers() {}

  static String schema(String schema) {
    if (schema == null || !SCHEMA.matcher(schema).matches() || schema.startsWith("pg_")) {
      throw new IllegalArgumentException(
          "schema must be a lowercase SQL identifier (a-z, 0-9 and _, not starting with a digit"
              + " or \"pg_\", at most " + MAX_SCHEMA_LENGTH + " characters), got: " + quote(schema));
    }
    return schema;
  }

  static String queueName(String queue) {
    if (queue == null || !QUEUE.matcher(queue).matches()) {
      throw new IllegalArgumentException(
          "queue must be 1 to " + MAX_QUEUE_LENGTH
              + " characters from A-Z a-z 0-9 _ . : -, got: " + quote(queue));
    }
    return queue;
  }

  static String jobName(String name) {
    if (name == null || name.isBlank() || name.length() > MAX_JOB_NAME_LENGTH) {
      throw new IllegalArgumentException(
          "job name must be 1 to " + MAX_JOB_NAME_LENGTH + " characters and not blank, got: "
              + quote(name));
    }
    for (int i = 0; i < name.length(); i++) {
      if (Character.isISOControl(name.charAt(i))) {
        throw new IllegalArgumentException(
            "job name must not contain control characters, got: " + quote(name));
      }
    }
    if (!name.strip().equals(name)) {
      throw new IllegalArgumentException(
          "job name must not start or end with whitespace, got: " + quote(name));
    }
    checkStorable("job name", name);
    return name;
  }

  /**
   * Refuses text that PostgreSQL cannot store as given: the NUL character (text cannot hold it)
   * and an unpaired UTF-16 surrogate (it has no UTF-8 form, and the JDBC driver would silently send
   * '?' in its place, so two different unique keys could collide).
   */
  static void checkStorable(String field, String value) {
    if (value.indexOf('\0') >= 0) {
      throw new IllegalArgumentException(
          field + " must not contain the NUL character (PostgreSQL text cannot store it), got: "
              + quote(value));
    }
    int lone = loneSurrogate(value);
    if (lone >= 0) {
      throw new IllegalArgumentException(
          field + " must not contain an unpaired UTF-16 surrogate (U+"
              + Integer.toHexString(value.charAt(lone)).toUpperCase(java.util.Locale.ROOT) + " at index " + lone
              + "; it has no UTF-8 form and would be stored as '?'), got: " + quote(value));
    }
  }

  /** Index of the first surrogate that is not part of a high-low pair, or -1. */
  static int loneSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
          continue;
        }
        return i;
      }
      if (Character.isLowSurrogate(c)) {
        return i;
      }
    }
    return -1;
  }

  /** A value quoted for an error message, shortened so a huge value cannot flood a log. */
  static String quote(String value) {
    if (value == null) {
      return "null";
    }
    String shown = value.length() > 120 ? value.substring(0, 120) + "...(" + value.length() + " chars)" : value;
    StringBuilder sb = new StringBuilder(shown.length() + 2).append('"');
    for (int i = 0; i < shown.length(); i++) {
      char c = shown.charAt(i);
      if (c == '"' || c == '\\') {
        sb.append('\\').append(c);
      } else if (Character.isISOControl(c)) {
        sb.append(String.format("\\u%04x", (int) c));
      } else {
        sb.append(c);
      }
    }
    return sb.append('"').toString();
  }
}
