package io.github.pgqueue.cron;

import java.time.Duration;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * When a {@link CronJob} fires: a cron expression read in a time zone, or a fixed interval.
 *
 * <p>Every schedule has a {@linkplain #definition() canonical definition} that is stored with the
 * schedule's name in the database. Cron processes whose definitions of a name differ do not fight
 * over it: the one started last defines it and the others stand down (see {@link CronScheduler}).
 *
 * <p>Instances are immutable values.
 */
public sealed interface Schedule permits Schedule.Cron, Schedule.Every {

  /** The shortest interval accepted by {@link #every(Duration)}. */
  Duration MIN_INTERVAL = Duration.ofSeconds(1);

  /** The longest interval accepted by {@link #every(Duration)}: 3,660 days, about ten years. */
  Duration MAX_INTERVAL = Duration.ofDays(3660);

  /**
   * A cron schedule read in UTC. See {@code docs/cron.md} for the syntax: five fields, an optional
   * leading seconds field, or a macro such as {@code @daily}.
   *
   * @param expression the cron expression
   * @return the schedule
   * @throws IllegalArgumentException if the expression is invalid; the message is the parser's,
   *     naming the field and the bad token
   */
  static Schedule cron(String expression) {
    return new Cron(CronExpression.parse(expression), ZoneOffset.UTC);
  }

  /**
   * A cron schedule read on the wall clock of {@code zone}, with the daylight-saving contract of
   * {@link CronExpression#nextAfter}: a firing in a spring-forward gap runs once at the end of the
   * gap; one in a fall-back overlap runs once, at its first occurrence.
   *
   * @param expression the cron expression
   * @param zone the time zone, e.g. {@code ZoneId.of("Europe/Berlin")}
   * @return the schedule
   * @throws IllegalArgumentException if the expression is invalid (the parser's message) or the
   *     zone is null
   */
  static Schedule cron(String expression, ZoneId zone) {
    return new Cron(CronExpression.parse(expression), zone);
  }

  /**
   * A fixed-interval schedule. It fires at {@code origin + k * interval} for k = 1, 2, ..., where
   * the origin is the database time at which the schedule's name was first registered (or its
   * definition last changed), stored in the database so that every process computes the same
   * instants.
   *
   * @param interval at least {@link #MIN_INTERVAL} (one second), at most {@link #MAX_INTERVAL},
   *     and a whole number of milliseconds
   * @return the schedule
   * @throws IllegalArgumentException if the interval is null, too short, too long, or has a
   *     fraction of a millisecond; the message names it
   */
  static Schedule every(Duration interval) {
    return new Every(interval);
  }

  /**
   * The canonical text of this schedule, as stored in {@code cron_schedules.definition}: {@code
   * cron <expression> <zone>} (e.g. {@code cron 0 3 * * * Europe/Berlin}; every zone equivalent to
   * UTC is written {@code UTC}) or {@code every <ISO-8601 duration>} (e.g. {@code every PT1M}).
   * Two schedules with the same definition fire at the same instants.
   *
   * @return the definition
   */
  String definition();

  /**
   * A cron expression read on the wall clock of a time zone. Build it with {@link
   * Schedule#cron(String, ZoneId)}.
   *
   * @param expression the parsed expression
   * @param zone the zone; any zone equivalent to UTC is stored as {@link ZoneOffset#UTC}
   */
  record Cron(CronExpression expression, ZoneId zone) implements Schedule {

    /**
     * Validates the parts.
     *
     * @throws IllegalArgumentException if either is null
     */
    public Cron {
      if (expression == null) {
        throw new IllegalArgumentException("expression must not be null");
      }
      if (zone == null) {
        throw new IllegalArgumentException(
            "zone must not be null (cron expression '" + expression.expression() + "')");
      }
      if (zone.normalized().equals(ZoneOffset.UTC)) {
        // "UTC", "Etc/UTC", "GMT" and "Z" fire alike; one spelling keeps their definitions equal.
        zone = ZoneOffset.UTC;
      }
    }

    @Override
    public String definition() {
      return "cron " + expression.expression() + " "
          + (zone.equals(ZoneOffset.UTC) ? "UTC" : zone.getId());
    }

    @Override
    public String toString() {
      return definition();
    }
  }

  /**
   * A fixed interval on a grid anchored in the database. Build it with {@link
   * Schedule#every(Duration)}.
   *
   * @param interval the interval between firings
   */
  record Every(Duration interval) implements Schedule {

    /**
     * Validates the interval.
     *
     * @throws IllegalArgumentException if it is null, shorter than one second, longer than {@link
     *     Schedule#MAX_INTERVAL}, or not a whole number of milliseconds
     */
    public Every {
      if (interval == null) {
        throw new IllegalArgumentException("interval must not be null");
      }
      if (interval.compareTo(MIN_INTERVAL) < 0) {
        throw new IllegalArgumentException(
            "interval must be at least 1 second (PT1S), got: " + interval);
      }
      if (interval.compareTo(MAX_INTERVAL) > 0) {
        throw new IllegalArgumentException(
            "interval must be at most " + MAX_INTERVAL.toDays() + " days, got: " + interval);
      }
      if (interval.getNano() % 1_000_000 != 0) {
        throw new IllegalArgumentException(
            "interval must be a whole number of milliseconds, got: " + interval);
      }
    }

    @Override
    public String definition() {
      return "every " + interval;
    }

    @Override
    public String toString() {
      return definition();
    }
  }
}
