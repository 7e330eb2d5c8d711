package io.github.pgqueue.cron;

import java.util.List;
import java.util.Locale;

/**
 * One field of a cron expression: its name as used in error messages, its value range, its
 * optional three-letter names, and the parser that turns the field's text into a bit set.
 *
 * <p>A parsed field is a {@code long} whose bit {@code v} is set when value {@code v} matches.
 * Every field's values fit in 0..63. Day-of-week 7 is folded onto 0 (both are Sunday).
 */
enum CronField {
  SECOND("second", 0, 59, List.of(), 0),
  MINUTE("minute", 0, 59, List.of(), 0),
  HOUR("hour", 0, 23, List.of(), 0),
  DAY_OF_MONTH("day-of-month", 1, 31, List.of(), 0),
  MONTH("month", 1, 12,
      List.of("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1),
  DAY_OF_WEEK("day-of-week", 0, 7, List.of("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 0);

  /** Larger than any field's maximum; numbers are clamped here so huge inputs cannot overflow. */
  private static final long NUMBER_CAP = 1_000_000L;

  private final String label;
  private final int min;
  private final int max;
  private final List<String> names;
  private final int firstNameValue;

  CronField(String label, int min, int max, List<String> names, int firstNameValue) {
    this.label = label;
    this.min = min;
    this.max = max;
    this.names = names;
    this.firstNameValue = firstNameValue;
  }

  /** The field's name as it appears in error messages, e.g. {@code day-of-month}. */
  String label() {
    return label;
  }

  /**
   * The smallest value at or above {@code from} whose bit is set in {@code bits}, or -1 when
   * there is none.
   */
  static int nextSetBit(long bits, int from) {
    if (from >= Long.SIZE) {
      return -1;
    }
    long remaining = bits & (-1L << from);
    return remaining == 0 ? -1 : Long.numberOfTrailingZeros(remaining);
  }

  /**
   * Parses one field's text (no whitespace in it) into a bit set.
   *
   * @param text the field as written, e.g. {@code 1-5,10/15}
   * @param expression the whole normalised expression, quoted in error messages
   * @throws IllegalArgumentException naming this field, the bad token and the expression
   */
  long parse(String text, String expression) {
    long bits = 0;
    String[] elements = text.split(",", -1);
    for (String element : elements) {
      if (element.isEmpty()) {
        throw invalid(text, expression, "the list has an empty element");
      }
      bits |= parseElement(element, expression);
    }
    if (this == DAY_OF_WEEK && (bits & (1L << 7)) != 0) {
      bits = (bits & ~(1L << 7)) | 1L;
    }
    return bits;
  }

  private long parseElement(String element, String expression) {
    int slash = element.indexOf('/');
    String base = slash < 0 ? element : element.substring(0, slash);
    int step = 1;
    if (slash >= 0) {
      step = parseStep(element.substring(slash + 1), element, expression);
    }
    int from;
    int to;
    if (base.equals("*")) {
      from = min;
      to = max;
    } else if (base.isEmpty()) {
      throw invalid(element, expression, "a step needs '*', a value or a range before '/'");
    } else {
      int dash = base.indexOf('-');
      if (dash < 0) {
        from = value(base, element, expression);
        to = slash < 0 ? from : max;
      } else {
        String start = base.substring(0, dash);
        String end = base.substring(dash + 1);
        if (start.isEmpty() || end.isEmpty()) {
          throw invalid(element, expression, "a range needs a value on both sides of '-'");
        }
        from = value(start, element, expression);
        to = value(end, element, expression);
        if (from > to) {
          String hint = this == DAY_OF_WEEK && to == 0 ? " (write 7 for Sunday at the end of a range)" : "";
          throw invalid(element, expression,
              "the range starts at " + from + ", after its end " + to + hint);
        }
      }
    }
    long bits = 0;
    for (int v = from; v <= to; v += step) {
      bits |= 1L << v;
    }
    return bits;
  }

  private int parseStep(String text, String element, String expression) {
    if (text.isEmpty()) {
      throw invalid(element, expression, "a step needs a number after '/'");
    }
    if (!isDigits(text)) {
      throw invalid(element, expression, "the step '" + CronExpression.printable(text) + "' is not a number");
    }
    long step = number(text);
    if (step == 0) {
      throw invalid(element, expression, "the step must be at least 1");
    }
    if (step > max) {
      throw invalid(element, expression, "the step " + CronExpression.printable(text)
          + " is larger than the largest " + label + " value " + max);
    }
    return (int) step;
  }

  private int value(String text, String element, String expression) {
    if (isDigits(text)) {
      long value = number(text);
      if (value < min || value > max) {
        throw invalid(element, expression,
            "the value " + CronExpression.printable(text) + " is out of range " + min + "-" + max);
      }
      return (int) value;
    }
    if (isLetters(text)) {
      if (names.isEmpty()) {
        throw invalid(element, expression, "names are not allowed in the " + label + " field");
      }
      int index = names.indexOf(text.toUpperCase(Locale.ROOT));
      if (index < 0) {
        throw invalid(element, expression, "unknown " + label + " name '" + CronExpression.printable(text)
            + "' (expected " + names.get(0) + "-" + names.get(names.size() - 1) + ")");
      }
      return index + firstNameValue;
    }
    String expected = names.isEmpty()
        ? "a number " + min + "-" + max
        : "a number " + min + "-" + max + " or a name " + names.get(0) + "-" + names.get(names.size() - 1);
    throw invalid(element, expression,
        "'" + CronExpression.printable(text) + "' is not " + expected
            + " (elements are '*', a value, a range a-b, optionally followed by /step)");
  }

  private IllegalArgumentException invalid(String token, String expression, String reason) {
    return new IllegalArgumentException("Invalid " + label + " '" + CronExpression.printable(token)
        + "' in cron expression '" + CronExpression.printable(expression) + "': " + reason);
  }

  private static boolean isDigits(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return !text.isEmpty();
  }

  private static boolean isLetters(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
        return false;
      }
    }
    return !text.isEmpty();
  }

  /** The value of a run of ASCII digits, clamped at {@link #NUMBER_CAP}. */
  private static long number(String digits) {
    long value = 0;
    for (int i = 0; i < digits.length(); i++) {
      value = Math.min(NUMBER_CAP, value * 10 + (digits.charAt(i) - '0'));
    }
    return value;
  }
}
