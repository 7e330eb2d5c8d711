package io.github.pgqueue.internal;

import java.time.Duration;

/**
 * Checks shared by the settings of every pgqueue module (worker, handler options, cron
 * scheduler), so one kind of setting is validated once and reports the same message everywhere.
 * Each check throws {@link IllegalArgumentException} naming the setting and the value.
 */
public final class Settings {

  private Settings() {}

  /**
   * Checks that a duration is set and positive.
   *
   * @param setting the setting's name, for the message
   * @param value the value
   * @return the value
   * @throws IllegalArgumentException if it is null, zero or negative
   */
  public static Duration checkPositive(String setting, Duration value) {
    if (value == null || value.isNegative() || value.isZero()) {
      throw new IllegalArgumentException(setting + " must be positive, got: " + value);
    }
    return value;
  }
}
