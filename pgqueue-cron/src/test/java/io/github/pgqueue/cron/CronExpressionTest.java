package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronFirings.at;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CronExpressionTest {

  /**
   * One row: expression, zone, the instant to search after, and the firings expected next, in
   * order. Expected times carry their offset so the row reads as wall-clock time.
   */
  static Stream<Arguments> firings() {
    return Stream.of(
        // Macros.
        row("@yearly", "UTC", "2026-05-01T10:00Z",
            "2027-01-01T00:00Z", "2028-01-01T00:00Z", "2029-01-01T00:00Z"),
        row("@annually", "UTC", "2026-12-31T23:59:59Z",
            "2027-01-01T00:00Z", "2028-01-01T00:00Z"),
        row("@monthly", "UTC", "2026-01-31T12:00Z",
            "2026-02-01T00:00Z", "2026-03-01T00:00Z", "2026-04-01T00:00Z"),
        row("@weekly", "UTC", "2026-03-04T00:00Z", // a Wednesday
            "2026-03-08T00:00Z", "2026-03-15T00:00Z", "2026-03-22T00:00Z"),
        row("@daily", "UTC", "2026-12-30T10:00Z",
            "2026-12-31T00:00Z", "2027-01-01T00:00Z", "2027-01-02T00:00Z"),
        row("@midnight", "Asia/Tokyo", "2026-06-01T00:00Z",
            "2026-06-02T00:00+09:00", "2026-06-03T00:00+09:00"),
        row("@hourly", "UTC", "2026-01-01T10:59:59.999Z",
            "2026-01-01T11:00Z", "2026-01-01T12:00Z", "2026-01-01T13:00Z"),
        row("@DAILY", "UTC", "2026-01-01T00:00Z",
            "2026-01-02T00:00Z"),
        row("  @Hourly\t", "UTC", "2026-01-01T00:00Z",
            "2026-01-01T01:00Z"),

        // Steps, ranges, lists.
        row("*/15 * * * *", "UTC", "2026-01-01T10:07Z",
            "2026-01-01T10:15Z", "2026-01-01T10:30Z", "2026-01-01T10:45Z", "2026-01-01T11:00Z"),
        row("10-40/10 9-10 * * *", "UTC", "2026-01-01T00:00Z",
            "2026-01-01T09:10Z", "2026-01-01T09:20Z", "2026-01-01T09:30Z", "2026-01-01T09:40Z",
            "2026-01-01T10:10Z"),
        row("50/5 * * * *", "UTC", "2026-01-01T10:00Z",
            "2026-01-01T10:50Z", "2026-01-01T10:55Z", "2026-01-01T11:50Z"),
        row("0 8,12,18 * * *", "UTC", "2026-01-01T12:00Z",
            "2026-01-01T18:00Z", "2026-01-02T08:00Z", "2026-01-02T12:00Z"),
        row("5,0-2 1 * * *", "UTC", "2026-01-01T00:00Z",
            "2026-01-01T01:00Z", "2026-01-01T01:01Z", "2026-01-01T01:02Z", "2026-01-01T01:05Z",
            "2026-01-02T01:00Z"),
        row("0 */6 * * *", "UTC", "2026-01-01T05:00Z",
            "2026-01-01T06:00Z", "2026-01-01T12:00Z", "2026-01-01T18:00Z", "2026-01-02T00:00Z"),
        row("0 9 * * MON-FRI", "UTC", "2026-03-06T10:00Z", // Friday after 09:00
            "2026-03-09T09:00Z", "2026-03-10T09:00Z", "2026-03-11T09:00Z", "2026-03-12T09:00Z",
            "2026-03-13T09:00Z", "2026-03-16T09:00Z"),
        row("0 0 1 jan,Jul *", "UTC", "2026-02-01T00:00Z",
            "2026-07-01T00:00Z", "2027-01-01T00:00Z", "2027-07-01T00:00Z"),
        row("0 0 1 JAN-MAY/2 *", "UTC", "2026-01-01T00:00Z",
            "2026-03-01T00:00Z", "2026-05-01T00:00Z", "2027-01-01T00:00Z"),
        row("0 0 * * sat,Sun", "UTC", "2026-03-04T00:00Z",
            "2026-03-07T00:00Z", "2026-03-08T00:00Z", "2026-03-14T00:00Z"),
        row("0 9 * * 1", "UTC", "2026-03-04T00:00Z",
            "2026-03-09T09:00Z", "2026-03-16T09:00Z"),
        row("0 0 1,15 * *", "UTC", "2026-01-15T00:00Z",
            "2026-02-01T00:00Z", "2026-02-15T00:00Z", "2026-03-01T00:00Z"),

        // Seconds field.
        row("*/20 * * * * *", "UTC", "2026-01-01T10:00:05Z",
            "2026-01-01T10:00:20Z", "2026-01-01T10:00:40Z", "2026-01-01T10:01:00Z"),
        row("30 0 12 * * *", "UTC", "2026-01-01T12:00:30Z",
            "2026-01-02T12:00:30Z", "2026-01-03T12:00:30Z"),
        row("0 0 0 1 1 *", "UTC", "2026-06-01T00:00Z",
            "2027-01-01T00:00Z", "2028-01-01T00:00Z"),
        row("58-59 59 23 31 12 *", "UTC", "2026-06-01T00:00Z",
            "2026-12-31T23:59:58Z", "2026-12-31T23:59:59Z", "2027-12-31T23:59:58Z"),

        // Month ends and leap days.
        row("0 0 31 * *", "UTC", "2026-01-31T01:00Z",
            "2026-03-31T00:00Z", "2026-05-31T00:00Z", "2026-07-31T00:00Z", "2026-08-31T00:00Z",
            "2026-10-31T00:00Z", "2026-12-31T00:00Z"),
        row("0 0 30 * *", "UTC", "2026-01-30T01:00Z",
            "2026-03-30T00:00Z", "2026-04-30T00:00Z"),
        row("0 0 29 2 *", "UTC", "2026-01-01T00:00Z",
            "2028-02-29T00:00Z", "2032-02-29T00:00Z", "2036-02-29T00:00Z"),
        row("0 0 29 2 *", "UTC", "2096-03-01T00:00Z",
            "2104-02-29T00:00Z", "2108-02-29T00:00Z"),
        row("0 0 29 2 *", "UTC", "1896-03-01T00:00Z",
            "1904-02-29T00:00Z"),
        row("0 0 29 2 *", "UTC", "1996-03-01T00:00Z", // 2000 is a leap year
            "2000-02-29T00:00Z", "2004-02-29T00:00Z"),

        // Day-of-month and day-of-week: both restricted, so either matches (every 13th, every Friday).
        row("0 0 13 * FRI", "UTC", "2026-04-01T00:00Z",
            "2026-04-03T00:00Z", "2026-04-10T00:00Z", "2026-04-13T00:00Z", "2026-04-17T00:00Z",
            "2026-04-24T00:00Z"),
        // '*/2' starts with '*', so day-of-month counts as unrestricted: both must match (odd days that are Mondays).
        row("0 0 */2 * MON", "UTC", "2026-02-01T00:00Z",
            "2026-02-09T00:00Z", "2026-02-23T00:00Z", "2026-03-09T00:00Z", "2026-03-23T00:00Z",
            "2026-04-13T00:00Z"),
        // '*/7' in day-of-week is 0 and 7, i.e. Sunday only; the 29th must also be a Sunday.
        row("0 0 29 2 */7", "UTC", "2026-01-01T00:00Z",
            "2032-02-29T00:00Z", "2060-02-29T00:00Z"),
        // Day-of-week 7 is Sunday, as is 0.
        row("0 12 * * 7", "UTC", "2026-03-04T00:00Z",
            "2026-03-08T12:00Z", "2026-03-15T12:00Z"),
        row("0 12 * * 5-7", "UTC", "2026-03-04T00:00Z",
            "2026-03-06T12:00Z", "2026-03-07T12:00Z", "2026-03-08T12:00Z", "2026-03-13T12:00Z"),
        row("0 12 * * 0,7", "UTC", "2026-03-04T00:00Z",
            "2026-03-08T12:00Z", "2026-03-15T12:00Z"),

        // End of year rollover.
        row("59 23 31 12 *", "UTC", "2026-12-31T23:59Z",
            "2027-12-31T23:59Z", "2028-12-31T23:59Z"),
        row("0 0 * * *", "UTC", "2026-12-31T00:00:00.000000001Z",
            "2027-01-01T00:00Z"),

        // Strictly after, sub-second 'after' values.
        row("0 0 * * *", "UTC", "2026-01-01T00:00Z",
            "2026-01-02T00:00Z"),
        row("* * * * * *", "UTC", "2026-01-01T00:00:00.5Z",
            "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"),
        row("* * * * *", "UTC", "2026-01-01T00:00:59.999999999Z",
            "2026-01-01T00:01Z", "2026-01-01T00:02Z"),

        // Fixed-offset zones.
        row("0 9 * * *", "+05:30", "2026-01-01T00:00Z",
            "2026-01-01T09:00+05:30", "2026-01-02T09:00+05:30"),
        row("0 9 * * *", "Asia/Kolkata", "2026-01-01T04:00Z",
            "2026-01-02T09:00+05:30"),
        row("0 0 * * *", "-09:00", "2026-01-01T00:00Z",
            "2026-01-01T00:00-09:00", "2026-01-02T00:00-09:00"));
  }

  private static Arguments row(String expression, String zone, String after, String... expected) {
    return Arguments.of(expression, zone, at(after), List.of(expected));
  }

  @ParameterizedTest(name = "{0} in {1} after {2}")
  @MethodSource("firings")
  void firesAtTheExpectedInstants(String expression, String zone, Instant after, List<String> expected) {
    assertThat(CronFirings.next(expression, zone, after, expected.size()))
        .containsExactlyElementsOf(at(expected));
  }

  @Test
  void hasSecondsOnlyForSixFields() {
    assertThat(CronExpression.parse("* * * * * *").hasSeconds()).isTrue();
    assertThat(CronExpression.parse("* * * * *").hasSeconds()).isFalse();
    assertThat(CronExpression.parse("@hourly").hasSeconds()).isFalse();
  }

  @Test
  void normalisesWhitespaceInTheExpression() {
    CronExpression cron = CronExpression.parse(" \t0  9\n* *\u00a0MON-FRI  ");

    assertThat(cron.expression()).isEqualTo("0 9 * * MON-FRI");
    assertThat(cron).hasToString("0 9 * * MON-FRI");
  }

  @Test
  void equalityFollowsTheNormalisedExpression() {
    CronExpression a = CronExpression.parse("0 9 * * MON-FRI");
    CronExpression b = CronExpression.parse("  0   9 * *\tMON-FRI");

    assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
    assertThat(a).isNotEqualTo(CronExpression.parse("0 9 * * 1-5"));
    assertThat(CronExpression.parse("@daily")).isNotEqualTo(CronExpression.parse("0 0 * * *"));
    assertThat(a).isNotEqualTo("0 9 * * MON-FRI");
  }

  @Test
  void macroFiresLikeItsExpansion() {
    Instant after = at("2026-01-01T00:00Z");
    ZoneId zone = ZoneId.of("Europe/Berlin");
    String[][] pairs = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    for (String[] pair : pairs) {
      assertThat(CronFirings.next(pair[0], zone.getId(), after, 5))
          .as(pair[0])
          .isEqualTo(CronFirings.next(pair[1], zone.getId(), after, 5));
    }
  }

  @Test
  void nextAfterRejectsNullArguments() {
    CronExpression cron = CronExpression.parse("@daily");
    assertThatThrownBy(() -> cron.nextAfter(null, ZoneId.of("UTC"))).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> cron.nextAfter(Instant.EPOCH, null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void nextAfterBeyondTheSupportedYearsIsADateTimeException() {
    CronExpression cron = CronExpression.parse("0 0 1 1 *");
    assertThatThrownBy(() -> cron.nextAfter(Instant.MAX, ZoneId.of("UTC")))
        .isInstanceOf(DateTimeException.class);
    assertThatThrownBy(() -> cron.nextAfter(at("+999999999-06-01T00:00Z"), ZoneId.of("UTC")))
        .isInstanceOf(DateTimeException.class);
  }

  @Test
  void searchingFarAheadIsQuick() {
    CronExpression cron = CronExpression.parse("0 0 29 2 */7");
    Instant t = at("1970-01-01T00:00Z");
    long start = System.nanoTime();
    for (int i = 0; i < 200; i++) {
      t = cron.nextAfter(t, ZoneId.of("UTC"));
    }
    assertThat(t).isAfter(at("4000-01-01T00:00Z"));
    assertThat(System.nanoTime() - start).isLessThan(2_000_000_000L);
  }
}
