package io.github.pgqueue.cron;

import java.time.DayOfWeek;
import java.time.LocalDateTime;
import java.time.Month;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A randomly built valid-looking cron expression together with the values each field must
 * match, computed here independently of the parser. Used as the oracle of the property tests.
 */
final class GeneratedCron {

  private static final List<String> MONTH_NAMES =
      List.of("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC");
  private static final List<String> DAY_NAMES = List.of("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT");

  final String expression;
  final boolean hasSeconds;
  final boolean[] seconds = new boolean[60];
  final boolean[] minutes = new boolean[60];
  final boolean[] hours = new boolean[24];
  final boolean[] daysOfMonth = new boolean[32];
  final boolean[] months = new boolean[13];
  final boolean[] daysOfWeek = new boolean[7];
  final boolean eitherDayMatches;
  final String dayOfMonthText;
  final String monthText;

  private GeneratedCron(SplittableRandom random) {
    hasSeconds = random.nextInt(4) == 0;
    StringBuilder text = new StringBuilder();
    if (hasSeconds) {
      text.append(field(random, 0, 59, List.of(), 0, 40, seconds)).append(' ');
    } else {
      seconds[0] = true;
    }
    // Dense time-of-day fields keep the gap between firings short, so the brute-force oracle
    // can check most cases; sparse ones still appear.
    text.append(field(random, 0, 59, List.of(), 0, hasSeconds ? 60 : 35, minutes)).append(' ');
    text.append(field(random, 0, 23, List.of(), 0, 45, hours)).append(' ');
    boolean[] dayOfMonthValues = new boolean[32];
    dayOfMonthText = field(random, 1, 31, List.of(), 0, 60, dayOfMonthValues);
    System.arraycopy(dayOfMonthValues, 0, daysOfMonth, 0, 32);
    text.append(dayOfMonthText).append(' ');
    monthText = field(random, 1, 12, MONTH_NAMES, 1, 70, months);
    text.append(monthText).append(' ');
    boolean[] dayOfWeekValues = new boolean[8];
    String dayOfWeekText = field(random, 0, 7, DAY_NAMES, 0, 60, dayOfWeekValues);
    for (int v = 0; v <= 7; v++) {
      if (dayOfWeekValues[v]) {
        daysOfWeek[v % 7] = true;
      }
    }
    text.append(dayOfWeekText);
    expression = text.toString();
    eitherDayMatches = !dayOfMonthText.startsWith("*") && !dayOfWeekText.startsWith("*");
  }

  static GeneratedCron random(SplittableRandom random) {
    return new GeneratedCron(random);
  }

  /** Whether some date can match, computed by brute force over a whole 400-year cycle's months. */
  boolean canFire() {
    if (eitherDayMatches) {
      return true;
    }
    for (int month = 1; month <= 12; month++) {
      for (int day = 1; day <= Month.of(month).maxLength(); day++) {
        if (months[month] && daysOfMonth[day]) {
          return true;
        }
      }
    }
    return false;
  }

  boolean matches(LocalDateTime time) {
    return time.getNano() == 0
        && seconds[time.getSecond()]
        && minutes[time.getMinute()]
        && hours[time.getHour()]
        && months[time.getMonthValue()]
        && dayMatches(time.getDayOfMonth(), time.getDayOfWeek());
  }

  boolean dayMatches(int dayOfMonth, DayOfWeek dayOfWeek) {
    boolean byMonthDay = daysOfMonth[dayOfMonth];
    boolean byWeekday = daysOfWeek[dayOfWeek.getValue() % 7];
    return eitherDayMatches ? byMonthDay || byWeekday : byMonthDay && byWeekday;
  }

  /**
   * Renders one field and marks the values it matches in {@code values}.
   *
   * @param starPercent how often the field is a plain {@code *}
   */
  private static String field(SplittableRandom random, int min, int max, List<String> names, int nameBase,
      int starPercent, boolean[] values) {
    int roll = random.nextInt(100);
    if (roll < starPercent) {
      mark(values, min, max, 1);
      return "*";
    }
    if (roll < starPercent + (100 - starPercent) / 4) {
      int step = 1 + random.nextInt(max);
      mark(values, min, max, step);
      return "*/" + step;
    }
    int elements = random.nextInt(10) < 7 ? 1 : 2 + random.nextInt(3);
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < elements; i++) {
      if (i > 0) {
        text.append(',');
      }
      text.append(element(random, min, max, names, nameBase, values));
    }
    return text.toString();
  }

  private static String element(SplittableRandom random, int min, int max, List<String> names, int nameBase,
      boolean[] values) {
    int a = min + random.nextInt(max - min + 1);
    int b = min + random.nextInt(max - min + 1);
    int from = Math.min(a, b);
    int to = Math.max(a, b);
    int step = 1 + random.nextInt(Math.max(1, Math.min(max, random.nextBoolean() ? 4 : max)));
    switch (random.nextInt(6)) {
      case 0:
      case 1:
        mark(values, a, a, 1);
        return value(random, a, names, nameBase);
      case 2:
        mark(values, from, to, 1);
        return value(random, from, names, nameBase) + "-" + value(random, to, names, nameBase);
      case 3:
        mark(values, from, to, step);
        return value(random, from, names, nameBase) + "-" + value(random, to, names, nameBase) + "/" + step;
      case 4:
        mark(values, a, max, step);
        return value(random, a, names, nameBase) + "/" + step;
      default:
        if (random.nextInt(4) == 0) {
          mark(values, min, max, 1);
          return "*";
        }
        mark(values, a, a, 1);
        return value(random, a, names, nameBase);
    }
  }

  private static String value(SplittableRandom random, int value, List<String> names, int nameBase) {
    int index = value - nameBase;
    if (!names.isEmpty() && index >= 0 && index < names.size() && random.nextBoolean()) {
      String name = names.get(index);
      switch (random.nextInt(3)) {
        case 0:
          return name;
        case 1:
          return name.toLowerCase(Locale.ROOT);
        default:
          return name.charAt(0) + name.substring(1).toLowerCase(Locale.ROOT);
      }
    }
    return random.nextInt(10) == 0 && value < 10 ? "0" + value : Integer.toString(value);
  }

  private static void mark(boolean[] values, int from, int to, int step) {
    for (int v = from; v <= to; v += step) {
      values[v] = true;
    }
  }

  @Override
  public String toString() {
    return expression;
  }
}
