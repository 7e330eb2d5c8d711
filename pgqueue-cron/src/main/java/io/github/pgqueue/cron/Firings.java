package io.github.pgqueue.cron;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The instants a {@link Schedule} fires at. Interval schedules fire on the grid {@code origin + k *
 * interval} (k &ge; 1), with the origin read from the database so that every process computes the
 * same instants; cron schedules fire where {@link CronExpression#nextAfter} says.
 */
final class Firings {

  /** The first window searched backwards for the latest cron firings; it grows fourfold. */
  private static final Duration FIRST_WINDOW = Duration.ofMinutes(1);

  private Firings() {}

  /** The first firing strictly after {@code after}. */
  static Instant nextAfter(Schedule schedule, Instant origin, Instant after) {
    if (schedule instanceof Schedule.Every every) {
      Duration interval = every.interval();
      if (after.isBefore(origin)) {
        return origin.plus(interval);
      }
      long k = Duration.between(origin, after).dividedBy(interval) + 1;
      return origin.plus(interval.multipliedBy(k));
    }
    Schedule.Cron cron = (Schedule.Cron) schedule;
    return cron.expression().nextAfter(after, cron.zone());
  }

  /**
   * The latest {@code max} firings in {@code (after, until]}, oldest first; fewer if there are
   * fewer. The work is bounded by {@code max} and by how sparse the schedule is, not by the length
   * of the range, so a schedule that fires every second and was down for a year costs little.
   */
  static List<Instant> latest(Schedule schedule, Instant origin, Instant after, Instant until, int max) {
    if (max < 1 || !until.isAfter(after)) {
      return List.of();
    }
    if (schedule instanceof Schedule.Every every) {
      return latestOnGrid(every.interval(), origin, after, until, max);
    }
    Schedule.Cron cron = (Schedule.Cron) schedule;
    // Search windows ending at 'until', growing until they hold max firings or reach 'after'.
    Duration window = FIRST_WINDOW;
    while (true) {
      Instant start = until.minus(window);
      boolean whole = !start.isAfter(after);
      if (whole) {
        start = after;
      }
      ArrayDeque<Instant> found = new ArrayDeque<>();
      Instant t = start;
      while (true) {
        t = cron.expression().nextAfter(t, cron.zone());
        if (t.isAfter(until)) {
          break;
        }
        found.addLast(t);
        if (found.size() > max) {
          found.removeFirst();
        }
      }
      if (whole || found.size() == max) {
        return new ArrayList<>(found);
      }
      window = window.multipliedBy(4);
    }
  }

  private static List<Instant> latestOnGrid(
      Duration interval, Instant origin, Instant after, Instant until, int max) {
    if (!until.isAfter(origin)) {
      return List.of();
    }
    long first = after.isBefore(origin) ? 1 : Duration.between(origin, after).dividedBy(interval) + 1;
    long last = Duration.between(origin, until).dividedBy(interval);
    if (last < first) {
      return List.of();
    }
    long from = Math.max(first, last - max + 1);
    List<Instant> out = new ArrayList<>((int) (last - from + 1));
    for (long k = from; k <= last; k++) {
      out.add(origin.plus(interval.multipliedBy(k)));
    }
    return out;
  }
}
