package io.github.pgqueue.cron;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CronExpressionErrorsTest {

  /** One row: the bad expression, then fragments its message must contain. */
  static Stream<Arguments> badFields() {
    return Stream.of(
        // Out of range, per field.
        bad("60 * * * * *", "Invalid second '60'", "'60 * * * * *'", "out of range 0-59"),
        bad("60 * * * *", "Invalid minute '60'", "'60 * * * *'", "out of range 0-59"),
        bad("0 24 * * *", "Invalid hour '24'", "'0 24 * * *'", "out of range 0-23"),
        bad("0 0 0 * *", "Invalid day-of-month '0'", "out of range 1-31"),
        bad("0 0 32 * *", "Invalid day-of-month '32'", "out of range 1-31"),
        bad("0 0 * 0 *", "Invalid month '0'", "out of range 1-12"),
        bad("0 0 * 13 *", "Invalid month '13'", "out of range 1-12"),
        bad("0 0 * * 8", "Invalid day-of-week '8'", "out of range 0-7"),
        bad("0 0 1,2,40 * *", "Invalid day-of-month '40'", "'0 0 1,2,40 * *'"),
        bad("99999999999999999999 * * * *", "Invalid minute '99999999999999999999'", "out of range"),
        bad("0 0 * * 1-99999999999999999999", "Invalid day-of-week '1-99999999999999999999'", "out of range"),

        // Steps.
        bad("*/0 * * * *", "Invalid minute '*/0'", "at least 1"),
        bad("0 0 1-10/0 * *", "Invalid day-of-month '1-10/0'", "at least 1"),
        bad("0 */24 * * *", "Invalid hour '*/24'", "larger than"),
        bad("*/ * * * *", "Invalid minute '*/'", "a step needs a number"),
        bad("/5 * * * *", "Invalid minute '/5'", "before '/'"),
        bad("1/2/3 * * * *", "Invalid minute '1/2/3'", "not a number"),
        bad("*/x * * * *", "Invalid minute '*/x'", "not a number"),
        bad("0 0 * * */99999999999999999999", "Invalid day-of-week '*/99999999999999999999'", "larger than"),

        // Reversed ranges.
        bad("5-1 * * * *", "Invalid minute '5-1'", "after its end"),
        bad("0 0 * DEC-JAN *", "Invalid month 'DEC-JAN'", "after its end"),
        bad("0 0 * * FRI-SUN", "Invalid day-of-week 'FRI-SUN'", "7 for Sunday"),

        // Malformed elements and lists.
        bad("1,,2 * * * *", "Invalid minute '1,,2'", "empty element"),
        bad("1, * * * *", "Invalid minute '1,'", "empty element"),
        bad("0 ,1 * * *", "Invalid hour ',1'", "empty element"),
        bad("-1 * * * *", "Invalid minute '-1'", "both sides"),
        bad("0 1- * * *", "Invalid hour '1-'", "both sides"),
        bad("0 0 1-2-3 * *", "Invalid day-of-month '1-2-3'", "'2-3' is not a number"),
        bad("1x * * * *", "Invalid minute '1x'", "'1x' is not a number"),
        bad("0 0 ? * *", "Invalid day-of-month '?'", "is not a number"),
        bad("0 0 L * *", "Invalid day-of-month 'L'", "names are not allowed"),
        bad("0 0 * * 5#3", "Invalid day-of-week '5#3'", "is not a number"),
        bad("0 0 * * **", "Invalid day-of-week '**'", "is not a number"),
        bad("0 0 * * \u0661", "Invalid day-of-week '\u0661'", "is not a number"),
        bad("0 0 * * 1\u0000", "Invalid day-of-week '1\\u0000'", "'0 0 * * 1\\u0000'"),

        // Names.
        bad("0 0 * FOO *", "Invalid month 'FOO'", "unknown month name 'FOO'", "JAN-DEC"),
        bad("0 0 * * MONDAY", "Invalid day-of-week 'MONDAY'", "unknown day-of-week name", "SUN-SAT"),
        bad("0 0 * JAN-FOO *", "Invalid month 'JAN-FOO'", "unknown month name 'FOO'"),
        bad("0 0 MON * *", "Invalid day-of-month 'MON'", "names are not allowed in the day-of-month field"),
        bad("0 JAN * * *", "Invalid hour 'JAN'", "names are not allowed"),
        bad("0 0 * \u00e9t\u00e9 *", "Invalid month '\u00e9t\u00e9'", "is not a number"),

        // Field count, macros, blank, too long.
        bad("* * * *", "has 4 fields", "expected 5", "or 6", "'* * * *'"),
        bad("* * * * * * *", "has 7 fields", "expected 5", "or 6"),
        bad("*", "has 1 field;", "expected 5"),
        bad("@fortnightly", "Unknown cron macro '@fortnightly'", "@yearly", "@hourly"),
        bad("@", "Unknown cron macro '@'"),
        bad("@daily 5", "Cron macro '@daily' must stand alone", "'@daily 5'"),
        bad("0 @daily * * *", "Invalid hour '@daily'"),
        bad("", "must not be blank"),
        bad(" \t\n ", "must not be blank"),
        bad("0 0 * * " + "1,".repeat(600) + "1", "1209 characters long", "at most 1000"),

        // Never fires.
        bad("0 0 30 2 *", "can never fire", "day-of-month '30'", "month '2'", "'0 0 30 2 *'"),
        bad("0 0 31 4,6,9,11 *", "can never fire", "day-of-month '31'", "month '4,6,9,11'"),
        bad("0 0 30-31 FEB *", "can never fire", "day-of-month '30-31'", "month 'FEB'"),
        bad("0 0 31 2 */7", "can never fire", "day-of-month '31'", "month '2'"),
        bad("0 0 0 31 APR *", "can never fire", "day-of-month '31'", "month 'APR'"));
  }

  private static Arguments bad(String expression, String... fragments) {
    return Arguments.of(expression, fragments);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("badFields")
  void rejectsWithAMessageNamingTheFieldAndToken(String expression, String[] fragments) {
    assertThatThrownBy(() -> CronExpression.parse(expression))
        .isExactlyInstanceOf(IllegalArgumentException.class)
        .message()
        .contains(fragments);
  }

  @Test
  void rejectsNull() {
    assertThatThrownBy(() -> CronExpression.parse(null))
        .isExactlyInstanceOf(IllegalArgumentException.class)
        .hasMessage("Cron expression must not be null");
  }

  @Test
  void fieldMessagesQuoteTheWholeExpression() {
    assertThatThrownBy(() -> CronExpression.parse("  0  0 * *\tMON-XYZ "))
        .hasMessage("Invalid day-of-week 'MON-XYZ' in cron expression '0 0 * * MON-XYZ': "
            + "unknown day-of-week name 'XYZ' (expected SUN-SAT)");
  }

  @Test
  void impossibleDatesAreOnlyRejectedWhenTheDayOfMonthMustMatch() {
    // Both day fields restricted: either may match, so every Monday in February fires.
    CronExpression.parse("0 0 30 2 MON");
    // Leap day exists.
    CronExpression.parse("0 0 29 2 *");
    CronExpression.parse("0 0 29 2 */7");
  }
}
