package io.github.pgqueue.internal;

import java.util.regex.Pattern;

/**
 * Validation of the names pgqueue stores or puts into SQL text, for every pgqueue module: schema
 * names are the only values ever interpolated into SQL, so they are held to a strict lowercase
 * identifier form; everything else travels as a bind parameter and is checked only for size and
 * sense. Job names and cron schedule names follow one rule ({@link #name}), so they cannot drift.
 */
public final class Identifiers {

  /** The longest schema name, in characters. */
  public static final int MAX_SCHEMA_LENGTH = 48;
  /** The longest job name (and cron schedule name), in characters. */
  public static final int MAX_JOB_NAME_LENGTH = 200;
  /** The longest queue name, in characters. */
  public static final int MAX_QUEUE_LENGTH = 100;

  private static final Pattern SCHEMA = Pattern.compile("[a-z_][a-z0-9_]{0,47}");
  private static final Pattern QUEUE = Pattern.compile("[A-Za-z0-9_.:-]{1,100}");

  private Identifiers() {}

  /**
   * Checks a schema name.
   *
   * @param schema the name
   * @return the name
   * @throws IllegalArgumentException if it is not a lowercase identifier of at most {@value
   *     #MAX_SCHEMA_LENGTH} characters, or starts with {@code pg_}
   */
  public static String schema(String schema) {
    if (schema == null || !SCHEMA.matcher(schema).matches() || schema.startsWith("pg_")) {
      throw new IllegalArgumentException(
          "schema must be a lowercase SQL identifier (a-z, 0-9 and _, not starting with a digit"
              + " or \"pg_\", at most " + MAX_SCHEMA_LENGTH + " characters), got: " + quote(schema));
    }
    return schema;
  }

  /**
   * Checks a queue name.
   *
   * @param queue the name
   * @return the name
   * @throws IllegalArgumentException if it is not 1 to {@value #MAX_QUEUE_LENGTH} characters from
   *     A-Z a-z 0-9 _ . : -
   */
  public static String queueName(String queue) {
    if (queue == null || !QUEUE.matcher(queue).matches()) {
      throw new IllegalArgumentException(
          "queue must be 1 to " + MAX_QUEUE_LENGTH
              + " characters from A-Z a-z 0-9 _ . : -, got: " + quote(queue));
    }
    return queue;
  }

  /**
   * Checks a job name.
   *
   * @param name the name
   * @return the name
   * @throws IllegalArgumentException as {@link #name} does, the message starting "job name"
   */
  public static String jobName(String name) {
    return name("job name", name);
  }

  /**
   * The rule for names people choose and pgqueue stores as text (job names, cron schedule names):
   * 1 to {@value #MAX_JOB_NAME_LENGTH} characters, not blank, no control characters, no leading or
   * trailing whitespace, storable by PostgreSQL (see {@link #checkStorable}).
   *
   * @param what what the name is, for the message ("job name", "cron job name")
   * @param name the name
   * @return the name
   * @throws IllegalArgumentException naming {@code what}, the rule broken and the value
   */
  public static String name(String what, String name) {
    if (name == null || name.isBlank() || name.length() > MAX_JOB_NAME_LENGTH) {
      throw new IllegalArgumentException(
          what + " must be 1 to " + MAX_JOB_NAME_LENGTH + " characters and not blank, got: "
              + quote(name));
    }
    for (int i = 0; i < name.length(); i++) {
      if (Character.isISOControl(name.charAt(i))) {
        throw new IllegalArgumentException(
            what + " must not contain control characters, got: " + quote(name));
      }
    }
    if (!name.strip().equals(name)) {
      throw new IllegalArgumentException(
          what + " must not start or end with whitespace, got: " + quote(name));
    }
    checkStorable(what, name);
    return name;
  }

  /**
   * Refuses text that PostgreSQL cannot store as given: the NUL character (text cannot hold it)
   * and an unpaired UTF-16 surrogate (it has no UTF-8 form, and the JDBC driver would silently send
   * '?' in its place, so two different unique keys could collide).
   *
   * @param field the field's name, for the message
   * @param value the text
   * @throws IllegalArgumentException naming the field, the character and the value
   */
  public static void checkStorable(String field, String value) {
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

  /**
   * Index of the first surrogate that is not part of a high-low pair.
   *
   * @param s the text
   * @return the index, or -1 if there is none
   */
  public static int loneSurrogate(String s) {
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

  /**
   * A value quoted for an error message, shortened so a huge value cannot flood a log, with quotes,
   * backslashes and control characters escaped so the message stays on one line.
   *
   * @param value the value, or null
   * @return the quoted value, or {@code null}
   */
  public static String quote(String value) {
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
