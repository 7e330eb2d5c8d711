package io.github.pgqueue.cron;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.Month;
import java.time.Year;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.time.zone.ZoneOffsetTransition;
import java.time.zone.ZoneRules;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A parsed cron expression and the calculator of its next firing in a time zone.
 *
 * <p>The syntax is classic five-field cron ({@code minute hour day-of-month month day-of-week})
 * with an optional leading {@code second} field, plus the macros {@code @yearly},
 * {@code @annually}, {@code @monthly}, {@code @weekly}, {@code @daily}, {@code @midnight} and
 * {@code @hourly}. When both day-of-month and day-of-week are restricted (their text does not
 * start with {@code *}) a day matches when either matches; otherwise both must match. The full
 * syntax and the daylight-saving contract are described in {@code docs/cron.md}.
 *
 * <p>Firings are wall-clock times in a zone. A wall-clock time that falls in a daylight-saving
 * gap fires once, at the instant the gap ends; a wall-clock time that occurs twice in an overlap
 * fires once, at its first occurrence. See {@link #nextAfter(Instant, ZoneId)}.
 *
 * <p>Instances are immutable and thread-safe. Two instances are equal when their
 * {@linkplain #expression() normalised expressions} are equal.
 */
public final class CronExpression {

  /** Inputs longer than this are rejected before any other work. */
  static final int MAX_LENGTH = 1000;

  /**
   * How many years past the start a search may look. The Gregorian calendar repeats every 400
   * years, so an expression that parse() accepted matches within any 400-year window.
   */
  private static final int SEARCH_YEARS = 401;

  private static final Map<String, String> MACROS = Map.of(
      "@yearly", "0 0 1 1 *",
      "@annually", "0 0 1 1 *",
      "@monthly", "0 0 1 * *",
      "@weekly", "0 0 * * 0",
      "@daily", "0 0 * * *",
      "@midnight", "0 0 * * *",
      "@hourly", "0 * * * *");

  private static final String KNOWN_MACROS =
      "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly";

  private static final CronField[] FIVE_FIELDS = {
      CronField.MINUTE, CronField.HOUR, CronField.DAY_OF_MONTH, CronField.MONTH, CronField.DAY_OF_WEEK};

  private static final CronField[] SIX_FIELDS = {
      CronField.SECOND, CronField.MINUTE, CronField.HOUR, CronField.DAY_OF_MONTH, CronField.MONTH,
      CronField.DAY_OF_WEEK};

  private final String expression;
  private final boolean hasSeconds;
  private final long seconds;
  private final long minutes;
  private final long hours;
  private final long daysOfMonth;
  private final long months;
  private final long daysOfWeek;
  /** True when both day fields are restricted, so a day matches when either matches. */
  private final boolean eitherDayMatches;

  private CronExpression(String expression, boolean hasSeconds, long seconds, long minutes, long hours,
      long daysOfMonth, long months, long daysOfWeek, boolean eitherDayMatches) {
    this.expression = expression;
    this.hasSeconds = hasSeconds;
    this.seconds = seconds;
    this.minutes = minutes;
    this.hours = hours;
    this.daysOfMonth = daysOfMonth;
    this.months = months;
    this.daysOfWeek = daysOfWeek;
    this.eitherDayMatches = eitherDayMatches;
  }

  /**
   * Parses a cron expression.
   *
   * <p>Accepts five fields ({@code minute hour day-of-month month day-of-week}), six fields (a
   * leading {@code second} field), or one macro such as {@code @daily} alone. Fields are
   * separated by any run of whitespace; leading and trailing whitespace is ignored. The work
   * done is bounded by the input's length, which may be at most 1,000 characters.
   *
   * @param expression the expression to parse
   * @return the parsed expression; it is guaranteed to fire at least once in every 400 years
   * @throws IllegalArgumentException for every input that is not a valid expression, including
   *     {@code null}, blank and over-long input and expressions that can never fire; the message
   *     names the offending field (e.g. {@code minute}, {@code day-of-month}) and quotes the bad
   *     token and the whole expression. No other exception is thrown.
   */
  public static CronExpression parse(String expression) {
    if (expression == null) {
      throw new IllegalArgumentException("Cron expression must not be null");
    }
    if (expression.length() > MAX_LENGTH) {
      throw new IllegalArgumentException("Cron expression is " + expression.length()
          + " characters long; at most " + MAX_LENGTH + " are allowed");
    }
    List<String> tokens = splitOnWhitespace(expression);
    if (tokens.isEmpty()) {
      throw new IllegalArgumentException("Cron expression must not be blank");
    }
    String normalised = String.join(" ", tokens);
    if (tokens.get(0).startsWith("@")) {
      return parseMacro(tokens, normalised);
    }
    if (tokens.size() != 5 && tokens.size() != 6) {
      throw new IllegalArgumentException("Cron expression '" + printable(normalised) + "' has "
          + tokens.size() + (tokens.size() == 1 ? " field" : " fields")
          + "; expected 5 (minute hour day-of-month month day-of-week)"
          + " or 6 (second minute hour day-of-month month day-of-week)");
    }
    return build(normalised, tokens.toArray(new String[0]));
  }

  private static CronExpression parseMacro(List<String> tokens, String normalised) {
    String macro = tokens.get(0);
    String fields = MACROS.get(macro.toLowerCase(Locale.ROOT));
    if (fields == null) {
      throw new IllegalArgumentException("Unknown cron macro '" + printable(macro) + "' in cron expression '"
          + printable(normalised) + "'; known macros are " + KNOWN_MACROS);
    }
    if (tokens.size() > 1) {
      throw new IllegalArgumentException("Cron macro '" + printable(macro) + "' must stand alone, but cron expression '"
          + printable(normalised) + "' has " + (tokens.size() - 1) + " more field(s) after it");
    }
    return build(normalised, fields.split(" "));
  }

  private static CronExpression build(String normalised, String[] texts) {
    boolean sixFields = texts.length == 6;
    CronField[] fields = sixFields ? SIX_FIELDS : FIVE_FIELDS;
    long[] bits = new long[fields.length];
    for (int i = 0; i < fields.length; i++) {
      bits[i] = fields[i].parse(texts[i], normalised);
    }
    int offset = sixFields ? 1 : 0;
    String dayOfMonthText = texts[offset + 2];
    String monthText = texts[offset + 3];
    String dayOfWeekText = texts[offset + 4];
    long daysOfMonth = bits[offset + 2];
    long months = bits[offset + 3];
    boolean eitherDayMatches = !dayOfMonthText.startsWith("*") && !dayOfWeekText.startsWith("*");
    if (!eitherDayMatches && !someMonthHasADay(months, daysOfMonth)) {
      throw new IllegalArgumentException("Cron expression '" + printable(normalised)
          + "' can never fire: day-of-month '" + printable(dayOfMonthText)
          + "' never occurs in month '" + printable(monthText) + "'");
    }
    return new CronExpression(normalised, sixFields, sixFields ? bits[0] : 1L, bits[offset],
        bits[offset + 1], daysOfMonth, months, bits[offset + 4], eitherDayMatches);
  }

  /** Whether some selected month has some selected day (February counted with 29 days). */
  private static boolean someMonthHasADay(long months, long daysOfMonth) {
    for (int month = 1; month <= 12; month++) {
      if ((months & (1L << month)) != 0) {
        int longest = Month.of(month).maxLength();
        if ((daysOfMonth & ((1L << (longest + 1)) - 2)) != 0) {
          return true;
        }
      }
    }
    return false;
  }

  private static List<String> splitOnWhitespace(String text) {
    List<String> tokens = new ArrayList<>();
    int start = -1;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean separator = Character.isWhitespace(c) || Character.isSpaceChar(c);
      if (separator && start >= 0) {
        tokens.add(text.substring(start, i));
        start = -1;
      } else if (!separator && start < 0) {
        start = i;
      }
    }
    if (start >= 0) {
      tokens.add(text.substring(start));
    }
    return tokens;
  }

  /**
   * Returns the first firing strictly after {@code after}, in {@code zone}.
   *
   * <p>Each wall-clock time in {@code zone} that the expression matches is one firing, turned
   * into an instant as follows:
   * <ul>
   *   <li>a wall-clock time that occurs once is that instant;</li>
   *   <li>a wall-clock time that does not exist because it lies in a daylight-saving gap fires
   *       at the instant the gap ends (the transition instant); all firings in one gap, and a
   *       firing at the wall-clock time right after the gap, are that one instant;</li>
   *   <li>a wall-clock time that occurs twice because it lies in an overlap fires at its first
   *       occurrence (the earlier offset) only; the second pass through the overlap fires
   *       nothing.</li>
   * </ul>
   * The result is the smallest such instant strictly greater than {@code after}. Calling this
   * method again with each result therefore yields a strictly increasing sequence that skips no
   * firing. The search jumps field by field and looks at most about 400 years ahead, which is
   * always enough for an expression that {@link #parse(String)} accepted.
   *
   * @param after the instant to search after (exclusive)
   * @param zone the zone whose wall clock the expression is read in
   * @return the next firing, never {@code null}
   * @throws NullPointerException if {@code after} or {@code zone} is {@code null}
   * @throws DateTimeException if {@code after} or the next firing lies outside the range of
   *     {@link LocalDateTime} (years -999,999,999 to 999,999,999)
   */
  public Instant nextAfter(Instant after, ZoneId zone) {
    Objects.requireNonNull(after, "after");
    Objects.requireNonNull(zone, "zone");
    ZoneRules rules = zone.getRules();
    LocalDateTime wallClock = LocalDateTime.ofInstant(after, zone);
    // Every wall-clock time at or before wallClock fired at or before 'after' (a time in an
    // earlier gap fired at that gap's end, which is not later than 'after').
    LocalDateTime candidate = wallClock.truncatedTo(ChronoUnit.SECONDS).plusSeconds(1);
    ZoneOffsetTransition transition = rules.getTransition(wallClock);
    if (transition != null && transition.isOverlap() && !after.isBefore(transition.getInstant())) {
      // 'after' is in the second pass of an overlap: the wall-clock times left in the overlap
      // already fired during the first pass.
      LocalDateTime overlapEnd = transition.getDateTimeBefore();
      if (candidate.isBefore(overlapEnd)) {
        candidate = overlapEnd;
      }
    }
    while (true) {
      LocalDateTime match = nextMatch(candidate);
      Instant firing = firingInstant(match, rules);
      if (firing.isAfter(after)) {
        return firing;
      }
      candidate = match.plusSeconds(1);
    }
  }

  /** The instant a matching wall-clock time fires at, per the daylight-saving contract. */
  private static Instant firingInstant(LocalDateTime wallClock, ZoneRules rules) {
    List<ZoneOffset> offsets = rules.getValidOffsets(wallClock);
    if (offsets.size() == 1) {
      return wallClock.toInstant(offsets.get(0));
    }
    if (offsets.isEmpty()) {
      return rules.getTransition(wallClock).getInstant();
    }
    Instant first = wallClock.toInstant(offsets.get(0));
    Instant second = wallClock.toInstant(offsets.get(1));
    return first.isBefore(second) ? first : second;
  }

  /** The first matching wall-clock time at or after {@code from} (whose nanoseconds are 0). */
  private LocalDateTime nextMatch(LocalDateTime from) {
    int year = from.getYear();
    int month = from.getMonthValue();
    int day = from.getDayOfMonth();
    int hour = from.getHour();
    int minute = from.getMinute();
    int second = from.getSecond();
    int lastYear = year + SEARCH_YEARS;
    while (year <= lastYear) {
      int nextMonth = CronField.nextSetBit(months, month);
      if (nextMonth < 0) {
        year++;
        month = 1;
        day = 1;
        hour = 0;
        minute = 0;
        second = 0;
        continue;
      }
      if (nextMonth != month) {
        month = nextMonth;
        day = 1;
        hour = 0;
        minute = 0;
        second = 0;
      }
      int nextDay = nextMatchingDay(year, month, day);
      if (nextDay < 0) {
        month++;
        day = 1;
        hour = 0;
        minute = 0;
        second = 0;
        continue;
      }
      if (nextDay != day) {
        day = nextDay;
        hour = 0;
        minute = 0;
        second = 0;
      }
      int nextHour = CronField.nextSetBit(hours, hour);
      if (nextHour < 0) {
        day++;
        hour = 0;
        minute = 0;
        second = 0;
        continue;
      }
      if (nextHour != hour) {
        hour = nextHour;
        minute = 0;
        second = 0;
      }
      int nextMinute = CronField.nextSetBit(minutes, minute);
      if (nextMinute < 0) {
        hour++;
        minute = 0;
        second = 0;
        continue;
      }
      if (nextMinute != minute) {
        minute = nextMinute;
        second = 0;
      }
      int nextSecond = CronField.nextSetBit(seconds, second);
      if (nextSecond < 0) {
        minute++;
        second = 0;
        continue;
      }
      return LocalDateTime.of(year, month, day, hour, minute, nextSecond);
    }
    // Unreachable for expressions that parse() accepted: see SEARCH_YEARS.
    throw new IllegalStateException("Cron expression '" + expression + "' has no firing between "
        + from + " and the end of year " + lastYear);
  }

  /** The first day at or after {@code fromDay} in the month that matches, or -1. */
  private int nextMatchingDay(int year, int month, int fromDay) {
    int length = Month.of(month).length(Year.isLeap(year));
    if (fromDay > length) {
      return -1;
    }
    int weekday = LocalDate.of(year, month, fromDay).getDayOfWeek().getValue() % 7;
    for (int day = fromDay; day <= length; day++) {
      boolean dayOfMonthMatches = (daysOfMonth & (1L << day)) != 0;
      boolean dayOfWeekMatches = (daysOfWeek & (1L << weekday)) != 0;
      if (eitherDayMatches ? dayOfMonthMatches || dayOfWeekMatches : dayOfMonthMatches && dayOfWeekMatches) {
        return day;
      }
      weekday = (weekday + 1) % 7;
    }
    return -1;
  }

  /**
   * Whether the expression has a seconds field.
   *
   * @return {@code true} for a six-field expression, {@code false} for five fields or a macro
   */
  public boolean hasSeconds() {
    return hasSeconds;
  }

  /**
   * The expression as given, trimmed, with every run of whitespace replaced by one space. Use it
   * to compare definitions across processes. Macros are kept as written (not expanded), so
   * {@code @daily} and {@code 0 0 * * *} are different expressions that fire alike.
   *
   * @return the normalised expression, never {@code null}
   */
  public String expression() {
    return expression;
  }

  /**
   * Two cron expressions are equal when their {@linkplain #expression() normalised expressions}
   * are equal (case-sensitively).
   *
   * @param other the object to compare with
   * @return whether {@code other} is a {@code CronExpression} with the same normalised text
   */
  @Override
  public boolean equals(Object other) {
    return other instanceof CronExpression && ((CronExpression) other).expression.equals(expression);
  }

  /**
   * A hash code consistent with {@link #equals(Object)}.
   *
   * @return the hash code of the normalised expression
   */
  @Override
  public int hashCode() {
    return expression.hashCode();
  }

  /**
   * The normalised expression.
   *
   * @return the same as {@link #expression()}
   */
  @Override
  public String toString() {
    return expression;
  }

  /** The text with control and other invisible characters escaped, for error messages. */
  static String printable(String text) {
    StringBuilder out = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean visible = !Character.isISOControl(c) && Character.getType(c) != Character.FORMAT
          && Character.getType(c) != Character.UNASSIGNED && Character.getType(c) != Character.PRIVATE_USE;
      if (visible && out == null) {
        continue;
      }
      if (out == null) {
        out = new StringBuilder(text.length() + 16).append(text, 0, i);
      }
      if (visible) {
        out.append(c);
      } else {
        out.append(String.format(Locale.ROOT, "\\u%04X", (int) c));
      }
    }
    return out == null ? text : out.toString();
  }
}
