package io.github.pgqueue.cron;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.time.zone.ZoneOffsetTransition;
import java.time.zone.ZoneRules;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Randomised property tests. Each run uses a fresh seed, printed in every failure message;
 * rerun a failure with {@code -Dpgqueue.cron.seed=<seed>}. The generators are plain
 * {@link SplittableRandom} code, so a failing case is reported as-is (no shrinking).
 */
class CronExpressionPropertiesTest {

  private static final long SEED = Long.getLong("pgqueue.cron.seed", System.nanoTime());

  private static final List<String> ZONES = List.of(
      "UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo",
      "Pacific/Apia", "Africa/Monrovia", "Asia/Kolkata", "America/St_Johns", "Antarctica/Troll",
      "Europe/London", "Asia/Tehran", "Pacific/Chatham", "Europe/Dublin", "+05:45", "-09:30");

  private static final long FIRST_SECOND = Instant.parse("1970-01-01T00:00:00Z").getEpochSecond();
  private static final long LAST_SECOND = Instant.parse("2200-01-01T00:00:00Z").getEpochSecond();

  /** The brute-force scan checks windows of at most this many candidate wall-clock slots. */
  private static final int SCAN_BUDGET = 5_000;

  @Test
  @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void nextAfterIsTheFirstFiringAfterTheGivenInstant() {
    SplittableRandom random = new SplittableRandom(SEED);
    int tries = 1_500;
    int scanned = 0;
    int rejected = 0;
    for (int i = 0; i < tries; i++) {
      GeneratedCron generated = GeneratedCron.random(random);
      ZoneId zone = ZoneId.of(ZONES.get(random.nextInt(ZONES.size())));
      Instant after = randomInstant(random, zone.getRules());
      String context = "seed " + SEED + ", try " + i + ": '" + generated + "' in " + zone + " after " + after;

      CronExpression cron;
      try {
        cron = CronExpression.parse(generated.expression);
      } catch (IllegalArgumentException e) {
        assertThat(generated.canFire()).as(context + " was rejected: " + e.getMessage()).isFalse();
        rejected++;
        continue;
      }
      assertThat(generated.canFire()).as(context + " was accepted").isTrue();
      assertThat(cron.hasSeconds()).as(context).isEqualTo(generated.hasSeconds);

      Instant t = after;
      for (int step = 0; step < 3; step++) {
        Instant next = cron.nextAfter(t, zone);
        String at = context + ", step " + step + " from " + t + " gave " + next;
        assertThat(next).as(at).isAfter(t);
        assertIsAFiring(generated, zone.getRules(), next, at);
        if (checkNoFiringBetween(generated, zone.getRules(), t, next, at)) {
          scanned++;
        }
        // Any instant in [t, next) must lead to the same next firing.
        Instant between = t.plusNanos(randomLong(random, Duration.between(t, next).toNanos()));
        assertThat(cron.nextAfter(between, zone)).as(at + "; from " + between).isEqualTo(next);
        assertThat(cron.nextAfter(next.minusNanos(1), zone)).as(at + "; from just before").isEqualTo(next);
        t = next;
      }
    }
    // Guard against the generator drifting so far that the oracle checks almost nothing.
    assertThat(scanned).as("seed " + SEED + ": steps checked by the brute-force scan").isGreaterThan(tries);
    assertThat(rejected).as("seed " + SEED + ": expressions that can never fire").isLessThan(tries / 10);
  }

  /**
   * The firing is either a wall-clock time that matches every field, at its first occurrence,
   * or the end of a daylight-saving gap that contains a matching wall-clock time.
   */
  private static void assertIsAFiring(GeneratedCron generated, ZoneRules rules, Instant firing, String context) {
    ZoneOffset offset = rules.getOffset(firing);
    LocalDateTime local = LocalDateTime.ofInstant(firing, offset);
    boolean firstOccurrence = rules.getValidOffsets(local).stream()
        .allMatch(other -> !local.toInstant(other).isBefore(firing));
    if (generated.matches(local) && firstOccurrence) {
      return;
    }
    ZoneOffsetTransition transition = rules.previousTransition(firing.plusNanos(1));
    if (transition != null && transition.getInstant().equals(firing) && transition.isGap()
        && gapHasMatch(generated, transition)) {
      return;
    }
    fail(context + ": " + local + " at " + offset + " is not a firing (matches: " + generated.matches(local)
        + ", first occurrence: " + firstOccurrence + ")");
  }

  private static boolean gapHasMatch(GeneratedCron generated, ZoneOffsetTransition gap) {
    long unit = generated.hasSeconds ? 1 : 60;
    LocalDateTime end = gap.getDateTimeAfter();
    for (LocalDateTime local = ceil(gap.getDateTimeBefore(), unit); local.isBefore(end);
        local = local.plusSeconds(unit)) {
      if (generated.matches(local)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Walks the instants strictly between {@code from} and {@code to}, one stretch of constant
   * offset at a time, and fails if any of them is a firing: a matching wall-clock slot at its
   * first occurrence, or a transition ending a gap that contains a matching slot. Returns false
   * without checking when the window holds more than {@link #SCAN_BUDGET} slots.
   */
  private static boolean checkNoFiringBetween(GeneratedCron generated, ZoneRules rules, Instant from,
      Instant to, String context) {
    long unit = generated.hasSeconds ? 1 : 60;
    if (Duration.between(from, to).getSeconds() / unit > SCAN_BUDGET) {
      return false;
    }
    Instant stretchStart = from;
    boolean first = true;
    while (stretchStart.isBefore(to)) {
      ZoneOffset offset = rules.getOffset(stretchStart);
      ZoneOffsetTransition transition = rules.nextTransition(stretchStart);
      Instant stretchEnd = transition == null || !transition.getInstant().isBefore(to) ? to : transition.getInstant();
      LocalDateTime local = LocalDateTime.ofInstant(stretchStart, offset);
      LocalDateTime slot = ceil(local, unit);
      if (first && !slot.isAfter(local)) {
        slot = slot.plusSeconds(unit); // 'from' itself is excluded
      }
      LocalDateTime localEnd = LocalDateTime.ofInstant(stretchEnd, offset);
      for (; slot.isBefore(localEnd); slot = slot.plusSeconds(unit)) {
        if (generated.matches(slot)) {
          Instant instant = slot.toInstant(offset);
          LocalDateTime matched = slot;
          boolean firstOccurrence = rules.getValidOffsets(slot).stream()
              .allMatch(other -> !matched.toInstant(other).isBefore(instant));
          if (firstOccurrence) {
            fail(context + ": skipped the firing " + slot + " at " + offset + " (" + instant + ")");
          }
        }
      }
      if (stretchEnd.isBefore(to) && transition.isGap() && gapHasMatch(generated, transition)) {
        fail(context + ": skipped the firing at the end of the gap " + transition);
      }
      stretchStart = stretchEnd;
      first = false;
    }
    return true;
  }

  /** The first wall-clock slot (a whole second or minute) at or after {@code time}. */
  private static LocalDateTime ceil(LocalDateTime time, long unit) {
    LocalDateTime floor = time.truncatedTo(unit == 1 ? ChronoUnit.SECONDS : ChronoUnit.MINUTES);
    return floor.equals(time) ? floor : floor.plusSeconds(unit);
  }

  /** Half uniform over 1970-2200, half within a few hours of one of the zone's transitions. */
  private static Instant randomInstant(SplittableRandom random, ZoneRules rules) {
    Instant base = Instant.ofEpochSecond(FIRST_SECOND + randomLong(random, LAST_SECOND - FIRST_SECOND));
    if (random.nextBoolean()) {
      ZoneOffsetTransition transition = rules.nextTransition(base);
      if (transition != null) {
        base = transition.getInstant().plusSeconds(random.nextInt(6 * 3600) - 3 * 3600);
      }
    }
    switch (random.nextInt(4)) {
      case 0:
        return base.truncatedTo(ChronoUnit.MINUTES);
      case 1:
        return base.plusNanos(random.nextInt(1_000_000_000));
      case 2:
        return base.minusNanos(1);
      default:
        return base;
    }
  }

  private static long randomLong(SplittableRandom random, long bound) {
    return bound <= 0 ? 0 : random.nextLong(bound);
  }

  // --- parse() on arbitrary input ----------------------------------------------------------

  private static final String CRONISH = "0123456789*/,-@ \t\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ?#L";

  private static final List<String> TOKENS = List.of(
      "*", "*/5", "*/0", "1-5", "5-1", "MON-FRI", "jan", "Dec", "SUN", "@daily", "@weekly", "@nope", "@",
      "99999999999999999999", "0", "59", "60", "31", "30", "2", "29", "7", "8", "L", "?", "", "-", "/", ",",
      "1,2", "1,,2", "5/0", "1-2/3", "\u00a0", "\u2003", "\u0000", "\uD83D\uDE00", "\uD800", "\u0661", "0x1F",
      "-1", "+1", "1.5");

  @Test
  @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void parseReturnsOrRejectsEveryStringQuickly() {
    SplittableRandom random = new SplittableRandom(SEED);
    for (int i = 0; i < 2_000; i++) {
      checkParse(randomUnicode(random, random.nextInt(40)), random, i);
      checkParse(randomFrom(random, CRONISH, random.nextInt(40)), random, i);
      checkParse(randomTokens(random), random, i);
    }
    for (int i = 0; i < 50; i++) {
      checkParse(randomFrom(random, CRONISH, 990 + random.nextInt(20)), random, i);
      checkParse(randomTokens(random).repeat(1 + random.nextInt(200)), random, i);
      checkParse(randomFrom(random, "0123456789", 1 + random.nextInt(5000)) + " * * * *", random, i);
    }
    checkParse("1,".repeat(499) + "1 * * * *", random, 0);
    checkParse(" ".repeat(999) + "@daily", random, 0);
  }

  private static void checkParse(String input, SplittableRandom random, int i) {
    String context = "seed " + SEED + ", try " + i + ": parse of '" + CronExpression.printable(input) + "'";
    long start = System.nanoTime();
    CronExpression cron;
    try {
      cron = CronExpression.parse(input);
    } catch (IllegalArgumentException e) {
      assertThat(e.getMessage()).as(context).isNotBlank();
      assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as(context).isLessThan(1_000);
      return;
    }
    // Accepted: normalising is idempotent and the expression fires.
    assertThat(CronExpression.parse(cron.expression())).as(context).isEqualTo(cron);
    assertThat(cron.expression()).as(context).doesNotStartWith(" ").doesNotEndWith(" ").doesNotContain("  ");
    ZoneId zone = ZoneId.of(ZONES.get(random.nextInt(ZONES.size())));
    Instant after = Instant.ofEpochSecond(FIRST_SECOND + randomLong(random, LAST_SECOND - FIRST_SECOND));
    assertThat(cron.nextAfter(after, zone)).as(context).isAfter(after);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as(context).isLessThan(1_000);
  }

  private static String randomUnicode(SplittableRandom random, int length) {
    StringBuilder text = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      text.append((char) random.nextInt(random.nextInt(4) == 0 ? 0x10000 : 0x80));
    }
    return text.toString();
  }

  private static String randomFrom(SplittableRandom random, String alphabet, int length) {
    StringBuilder text = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      text.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return text.toString();
  }

  private static String randomTokens(SplittableRandom random) {
    StringBuilder text = new StringBuilder();
    int count = random.nextInt(9);
    String[] separators = {" ", "  ", "\t", "\n", " \u00a0", ""};
    for (int i = 0; i < count; i++) {
      if (i > 0 || random.nextInt(5) == 0) {
        text.append(separators[random.nextInt(separators.length)]);
      }
      text.append(TOKENS.get(random.nextInt(TOKENS.size())));
      if (random.nextInt(6) == 0) {
        text.append(TOKENS.get(random.nextInt(TOKENS.size())));
      }
    }
    return text.toString();
  }

  @Test
  @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
  void firesOnExactlyTheDaysTheOracleExpects() {
    // The day rule over whole years, without daylight saving in the way.
    SplittableRandom random = new SplittableRandom(SEED ^ 0x5DEECE66DL);
    ZoneId utc = ZoneId.of("UTC");
    for (int i = 0; i < 100; i++) {
      GeneratedCron generated = GeneratedCron.random(random);
      if (!generated.canFire()) {
        continue;
      }
      CronExpression cron = CronExpression.parse(generated.expression);
      int year = 1970 + random.nextInt(230);
      for (LocalDate day = LocalDate.of(year, 1, 1); day.getYear() == year; day = day.plusDays(1)) {
        boolean expected = generated.months[day.getMonthValue()]
            && generated.dayMatches(day.getDayOfMonth(), day.getDayOfWeek());
        LocalDate firstFiringDay = LocalDate.ofInstant(
            cron.nextAfter(day.atStartOfDay(utc).toInstant().minusNanos(1), utc), utc);
        String context = "seed " + SEED + ": '" + generated + "' on " + day;
        if (expected) {
          assertThat(firstFiringDay).as(context).isEqualTo(day);
        } else {
          assertThat(firstFiringDay).as(context).isAfter(day);
        }
      }
    }
  }
}
