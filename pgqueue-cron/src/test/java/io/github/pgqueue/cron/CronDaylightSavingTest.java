package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronFirings.at;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The daylight-saving contract: a wall-clock time in a gap fires once at the end of the gap; a
 * wall-clock time in an overlap fires once, at its first occurrence.
 *
 * <p>2026 transitions used here: America/New_York springs forward on 2026-03-08 at 02:00 EST
 * (07:00Z) to 03:00 EDT and falls back on 2026-11-01 at 02:00 EDT (06:00Z) to 01:00 EST.
 * Europe/Berlin springs forward on 2026-03-29 at 02:00 CET (01:00Z) to 03:00 CEST and falls back
 * on 2026-10-25 at 03:00 CEST (01:00Z) to 02:00 CET. Australia/Lord_Howe moves by 30 minutes:
 * back on 2026-04-05 at 02:00 +11:00 (15:00Z the day before) to 01:30 +10:30, forward on
 * 2026-10-04 at 02:00 +10:30 (15:30Z the day before) to 02:30 +11:00.
 */
class CronDaylightSavingTest {

  private static final String NEW_YORK = "America/New_York";
  private static final String BERLIN = "Europe/Berlin";
  private static final String LORD_HOWE = "Australia/Lord_Howe";

  static Stream<Arguments> firings() {
    return Stream.of(
        // New York, spring forward: 02:00-02:59 does not exist on 2026-03-08.
        row("daily 02:30 in the gap runs once at the transition instant",
            "30 2 * * *", NEW_YORK, "2026-03-07T00:00-05:00",
            "2026-03-07T02:30-05:00", "2026-03-08T03:00-04:00", "2026-03-09T02:30-04:00"),
        row("several firings in the gap collapse into one",
            "*/10 2 * * *", NEW_YORK, "2026-03-08T01:00-05:00",
            "2026-03-08T03:00-04:00", "2026-03-09T02:00-04:00", "2026-03-09T02:10-04:00"),
        row("every minute across the gap",
            "* * * * *", NEW_YORK, "2026-03-08T01:58-05:00",
            "2026-03-08T01:59-05:00", "2026-03-08T03:00-04:00", "2026-03-08T03:01-04:00"),
        row("a firing at 03:00 and firings in the gap are the same instant",
            "0,30 2,3 * * *", NEW_YORK, "2026-03-08T01:00-05:00",
            "2026-03-08T03:00-04:00", "2026-03-08T03:30-04:00", "2026-03-09T02:00-04:00"),
        row("after the transition instant, the gap has already fired",
            "*/10 2 * * *", NEW_YORK, "2026-03-08T03:00-04:00",
            "2026-03-09T02:00-04:00"),
        row("just before the transition instant",
            "30 2 * * *", NEW_YORK, "2026-03-08T06:59:59.999999999Z",
            "2026-03-08T03:00-04:00"),
        row("a seconds field in the gap",
            "15 30 2 * * *", NEW_YORK, "2026-03-08T00:00-05:00",
            "2026-03-08T03:00-04:00", "2026-03-09T02:30:15-04:00"),
        row("a firing outside the gap hour is unaffected",
            "30 3 * * *", NEW_YORK, "2026-03-08T00:00-05:00",
            "2026-03-08T03:30-04:00", "2026-03-09T03:30-04:00"),

        // New York, fall back: 01:00-01:59 occurs twice on 2026-11-01.
        row("daily 01:30 runs once, at the EDT occurrence",
            "30 1 * * *", NEW_YORK, "2026-10-31T00:00-04:00",
            "2026-10-31T01:30-04:00", "2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"),
        row("hourly across the overlap skips 01:00 EST",
            "0 * * * *", NEW_YORK, "2026-10-31T23:30-04:00",
            "2026-11-01T00:00-04:00", "2026-11-01T01:00-04:00", "2026-11-01T02:00-05:00",
            "2026-11-01T03:00-05:00"),
        row("every 15 minutes in hour 1 fires in the first pass only",
            "*/15 1 * * *", NEW_YORK, "2026-11-01T00:00-04:00",
            "2026-11-01T01:00-04:00", "2026-11-01T01:15-04:00", "2026-11-01T01:30-04:00",
            "2026-11-01T01:45-04:00", "2026-11-02T01:00-05:00"),
        row("after inside the first pass",
            "*/15 1 * * *", NEW_YORK, "2026-11-01T01:10-04:00",
            "2026-11-01T01:15-04:00", "2026-11-01T01:30-04:00"),
        row("after inside the second pass: the rest of the overlap already fired",
            "*/15 1 * * *", NEW_YORK, "2026-11-01T01:10-05:00",
            "2026-11-02T01:00-05:00"),
        row("after inside the second pass, hourly",
            "0 * * * *", NEW_YORK, "2026-11-01T01:10-05:00",
            "2026-11-01T02:00-05:00", "2026-11-01T03:00-05:00"),
        row("after inside the second pass, every minute",
            "* * * * *", NEW_YORK, "2026-11-01T01:10-05:00",
            "2026-11-01T02:00-05:00", "2026-11-01T02:01-05:00"),
        row("after at the transition instant itself (01:00 EST)",
            "*/30 * * * *", NEW_YORK, "2026-11-01T01:00-05:00",
            "2026-11-01T02:00-05:00"),
        row("after at the last instant of the first pass",
            "0 * * * *", NEW_YORK, "2026-11-01T01:59:59.999999999-04:00",
            "2026-11-01T02:00-05:00"),
        row("seconds field across the overlap",
            "59 59 1 * * *", NEW_YORK, "2026-10-31T12:00-04:00",
            "2026-11-01T01:59:59-04:00", "2026-11-02T01:59:59-05:00"),

        // Berlin, spring forward: 02:00-02:59 does not exist on 2026-03-29.
        row("Berlin: daily 02:30 in the gap runs once at 03:00 CEST",
            "30 2 * * *", BERLIN, "2026-03-28T00:00+01:00",
            "2026-03-28T02:30+01:00", "2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"),
        row("Berlin: every minute across the gap",
            "* * * * *", BERLIN, "2026-03-29T01:59+01:00",
            "2026-03-29T03:00+02:00", "2026-03-29T03:01+02:00"),
        row("Berlin: several firings in the gap collapse into one",
            "*/20 2 * * *", BERLIN, "2026-03-29T00:00+01:00",
            "2026-03-29T03:00+02:00", "2026-03-30T02:00+02:00"),

        // Berlin, fall back: 02:00-02:59 occurs twice on 2026-10-25.
        row("Berlin: daily 02:30 runs once, at the CEST occurrence",
            "30 2 * * *", BERLIN, "2026-10-24T12:00+02:00",
            "2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"),
        row("Berlin: hourly across the overlap skips 02:00 CET",
            "0 * * * *", BERLIN, "2026-10-25T00:30+02:00",
            "2026-10-25T01:00+02:00", "2026-10-25T02:00+02:00", "2026-10-25T03:00+01:00"),
        row("Berlin: after inside the second pass",
            "*/20 2 * * *", BERLIN, "2026-10-25T02:10+01:00",
            "2026-10-26T02:00+01:00"),

        // Lord Howe Island: 30-minute shifts.
        row("Lord Howe: 02:15 in the 30-minute gap runs at 02:30 +11:00",
            "15 2 * * *", LORD_HOWE, "2026-10-02T12:00Z",
            "2026-10-03T02:15+10:30", "2026-10-04T02:30+11:00", "2026-10-05T02:15+11:00"),
        row("Lord Howe: 01:45 in the 30-minute overlap runs at its first occurrence",
            "45 1 * * *", LORD_HOWE, "2026-04-03T12:00Z",
            "2026-04-04T01:45+11:00", "2026-04-05T01:45+11:00", "2026-04-06T01:45+10:30"),
        row("Lord Howe: half-hourly across the overlap",
            "0,30 * * * *", LORD_HOWE, "2026-04-05T00:45+11:00",
            "2026-04-05T01:00+11:00", "2026-04-05T01:30+11:00", "2026-04-05T02:00+10:30"),

        // Other shapes of gap.
        row("Sao Paulo 2018: midnight does not exist, so @daily fires at 01:00 -02:00",
            "@daily", "America/Sao_Paulo", "2018-11-02T12:00Z",
            "2018-11-03T00:00-03:00", "2018-11-04T01:00-02:00", "2018-11-05T00:00-02:00"),
        row("Apia 2011: the whole of 30 December is skipped; its noon fires when the gap ends",
            "0 12 * * *", "Pacific/Apia", "2011-12-28T00:00Z",
            "2011-12-28T12:00-10:00", "2011-12-29T12:00-10:00", "2011-12-31T00:00+14:00",
            "2011-12-31T12:00+14:00"));
  }

  private static Arguments row(String description, String expression, String zone, String after,
      String... expected) {
    return Arguments.of(description, expression, zone, at(after), List.of(expected));
  }

  @ParameterizedTest(name = "{0}: {1} in {2}")
  @MethodSource("firings")
  void firesPerTheDaylightSavingContract(String description, String expression, String zone,
      Instant after, List<String> expected) {
    assertThat(CronFirings.next(expression, zone, after, expected.size()))
        .containsExactlyElementsOf(at(expected));
  }

  @Test
  void everyMinuteOnTheShortDayFiresOncePerExistingMinute() {
    // 23 hours of wall clock: 00:00-01:59 EST and 03:00-23:59 EDT; the gap adds no extra instant.
    assertThat(firingsOnLocalDay("* * * * *", NEW_YORK, LocalDate.of(2026, 3, 8))).hasSize(23 * 60);
  }

  @Test
  void everyMinuteOnTheLongDayFiresOncePerWallClockMinute() {
    // 25 hours of real time, but each wall-clock minute fires once.
    assertThat(firingsOnLocalDay("* * * * *", NEW_YORK, LocalDate.of(2026, 11, 1))).hasSize(24 * 60);
    assertThat(firingsOnLocalDay("* * * * *", BERLIN, LocalDate.of(2026, 10, 25))).hasSize(24 * 60);
  }

  @Test
  void everyHourOnTheShortDayIncludesTheTransition() {
    List<Instant> firings = firingsOnLocalDay("0 * * * *", NEW_YORK, LocalDate.of(2026, 3, 8));
    // 00:00, 01:00 EST, then 02:00 (gap) and 03:00 EDT are one instant, then 04:00 ... 23:00.
    assertThat(firings).hasSize(23).contains(at("2026-03-08T03:00-04:00"));
  }

  @Test
  void zoneWithoutTransitionsFiresEveryWallClockTime() {
    assertThat(firingsOnLocalDay("* * * * *", "UTC", LocalDate.of(2026, 3, 8))).hasSize(24 * 60);
    assertThat(firingsOnLocalDay("* * * * *", "+05:45", LocalDate.of(2026, 3, 8))).hasSize(24 * 60);
  }

  /** All firings from local midnight (exclusive of the previous day) to the next local midnight. */
  private static List<Instant> firingsOnLocalDay(String expression, String zone, LocalDate day) {
    ZoneId zoneId = ZoneId.of(zone);
    CronExpression cron = CronExpression.parse(expression);
    Instant start = day.atStartOfDay(zoneId).toInstant();
    Instant end = day.plusDays(1).atStartOfDay(zoneId).toInstant();
    List<Instant> firings = new ArrayList<>();
    for (Instant t = cron.nextAfter(start.minusNanos(1), zoneId); t.isBefore(end); t = cron.nextAfter(t, zoneId)) {
      if (!firings.isEmpty()) {
        assertThat(t).isAfter(firings.get(firings.size() - 1));
      }
      firings.add(t);
    }
    return firings;
  }
}
