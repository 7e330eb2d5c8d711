package io.github.pgqueue.cron;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;

/** Shared by the firing tests: runs nextAfter repeatedly and reads expected times. */
final class CronFirings {

  private CronFirings() {}

  /** The first {@code count} firings strictly after {@code after}. */
  static List<Instant> next(String expression, String zone, Instant after, int count) {
    CronExpression cron = CronExpression.parse(expression);
    ZoneId zoneId = ZoneId.of(zone);
    List<Instant> firings = new ArrayList<>();
    Instant t = after;
    for (int i = 0; i < count; i++) {
      t = cron.nextAfter(t, zoneId);
      firings.add(t);
    }
    return firings;
  }

  /** Reads {@code 2026-03-08T03:00-04:00} or {@code 2026-03-08T07:00:00Z} as an instant. */
  static Instant at(String text) {
    return OffsetDateTime.parse(text).toInstant();
  }

  static List<Instant> at(List<String> texts) {
    List<Instant> instants = new ArrayList<>();
    for (String text : texts) {
      instants.add(at(text));
    }
    return instants;
  }
}
