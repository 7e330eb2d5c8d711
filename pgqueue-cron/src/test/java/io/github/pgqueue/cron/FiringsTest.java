package io.github.pgqueue.cron;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The instants a schedule fires at: the interval grid, and the backwards search for the latest
 * missed firings, checked against plain forward iteration. Randomised with a printed seed; rerun
 * a failure with {@code -Dpgqueue.cron.seed=<seed>}.
 */
@Timeout(60)
class FiringsTest {

  private static final long SEED = Long.getLong("pgqueue.cron.seed", System.nanoTime());
  private static final List<String> ZONES =
      List.of("UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia");

  @Test
  void intervalsFireOnTheGridAnchoredAtTheOrigin() {
    Schedule every3s = Schedule.every(Duration.ofSeconds(3));
    Instant origin = Instant.parse("2026-05-01T10:00:00.123456Z");
    assertThat(Firings.nextAfter(every3s, origin, origin)).isEqualTo(origin.plusSeconds(3));
    assertThat(Firings.nextAfter(every3s, origin, origin.plusMillis(2999))).isEqualTo(origin.plusSeconds(3));
    assertThat(Firings.nextAfter(every3s, origin, origin.plusSeconds(3))).isEqualTo(origin.plusSeconds(6));
    assertThat(Firings.nextAfter(every3s, origin, origin.plusSeconds(3).plusNanos(1)))
        .isEqualTo(origin.plusSeconds(6));
    // Before the origin (never stored, but harmless): the first grid point after it.
    assertThat(Firings.nextAfter(every3s, origin, origin.minusSeconds(100))).isEqualTo(origin.plusSeconds(3));
    // A year of one-second firings: the latest few, found by arithmetic.
    Schedule every1s = Schedule.every(Duration.ofSeconds(1));
    Instant yearLater = origin.plus(Duration.ofDays(365)).plusMillis(500);
    assertThat(Firings.latest(every1s, origin, origin, yearLater, 3))
        .containsExactly(yearLater.minusMillis(2500), yearLater.minusMillis(1500), yearLater.minusMillis(500));
    assertThat(Firings.latest(every3s, origin, origin, origin.plusSeconds(7), 10))
        .containsExactly(origin.plusSeconds(3), origin.plusSeconds(6));
    assertThat(Firings.latest(every3s, origin, origin.plusSeconds(3), origin.plusSeconds(5), 10)).isEmpty();
    assertThat(Firings.latest(every3s, origin, origin, origin.plusSeconds(3), 10))
        .containsExactly(origin.plusSeconds(3));
  }

  @Test
  void latestCronFiringsAfterLongDowntimeAreFoundQuickly() {
    Schedule everySecond = Schedule.cron("* * * * * *");
    Instant after = Instant.parse("2020-01-01T00:00:00Z");
    Instant until = Instant.parse("2026-01-01T00:00:00Z");
    assertThat(Firings.latest(everySecond, after, after, until, 2))
        .containsExactly(until.minusSeconds(1), until);
    Schedule leapDay = Schedule.cron("0 12 29 2 *", ZoneId.of("Europe/Berlin"));
    assertThat(Firings.latest(leapDay, after, after, until, 1))
        .containsExactly(Instant.parse("2024-02-29T11:00:00Z"));
    assertThat(Firings.latest(leapDay, after, after, until, 5))
        .containsExactly(Instant.parse("2020-02-29T11:00:00Z"), Instant.parse("2024-02-29T11:00:00Z"));
  }

  @Test
  void latestCronFiringsMatchForwardIteration() {
    SplittableRandom random = new SplittableRandom(SEED);
    int checked = 0;
    for (int i = 0; i < 400; i++) {
      GeneratedCron generated = GeneratedCron.random(random);
      CronExpression cron;
      try {
        cron = CronExpression.parse(generated.expression);
      } catch (IllegalArgumentException e) {
        continue;
      }
      ZoneId zone = ZoneId.of(ZONES.get(random.nextInt(ZONES.size())));
      Schedule schedule = new Schedule.Cron(cron, zone);
      Instant after =
          Instant.ofEpochSecond(Instant.parse("2020-01-01T00:00:00Z").getEpochSecond()
              + random.nextLong(10L * 365 * 86_400), random.nextInt(1_000_000) * 1000);
      Instant until = after.plusSeconds(random.nextLong(3L * 86_400 * (1 + random.nextInt(60))));
      int max = 1 + random.nextInt(random.nextBoolean() ? 3 : 200);
      List<Instant> expected = forward(cron, zone, after, until, max, 50_000);
      if (expected == null) {
        continue; // too many firings for the oracle to walk
      }
      String context = "seed " + SEED + ", try " + i + ": '" + generated.expression + "' in " + zone
          + " in (" + after + ", " + until + "], max " + max;
      assertThat(Firings.latest(schedule, after, after, until, max)).as(context).isEqualTo(expected);
      checked++;
    }
    assertThat(checked).as("seed " + SEED + ": cases the oracle could check").isGreaterThan(100);
  }

  /** The latest max firings in (after, until] by walking forward; null past the budget. */
  private static List<Instant> forward(
      CronExpression cron, ZoneId zone, Instant after, Instant until, int max, int budget) {
    ArrayDeque<Instant> last = new ArrayDeque<>();
    Instant t = after;
    for (int n = 0; n < budget; n++) {
      t = cron.nextAfter(t, zone);
      if (t.isAfter(until)) {
        return new ArrayList<>(last);
      }
      last.addLast(t);
      if (last.size() > max) {
        last.removeFirst();
      }
    }
    return null;
  }
}
