package io.github.pgqueue.dashboard;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** HTML building: the one escaping helper every dynamic value goes through, and a few formats. */
final class Html {

  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss'Z'").withZone(ZoneOffset.UTC);

  private Html() {}

  /**
   * Escapes text for an HTML element body or a double- or single-quoted attribute value. Null
   * gives the empty string.
   */
  static String esc(Object value) {
    if (value == null) {
      return "";
    }
    String s = value.toString();
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  /** URL-encodes a query parameter value. */
  static String url(String s) {
    return s == null ? "" : java.net.URLEncoder.encode(s, java.nio.charset.StandardCharsets.UTF_8);
  }

  static String time(Instant t) {
    return t == null ? "" : TIME.format(t);
  }

  static String ago(Instant t, Instant now) {
    if (t == null) {
      return "";
    }
    Duration d = Duration.between(t, now);
    return (d.isNegative() ? "in " + age(d.negated()) : age(d) + " ago");
  }

  static String age(Duration d) {
    if (d == null) {
      return "";
    }
    long s = d.getSeconds();
    if (s < 120) {
      return s + "s";
    }
    if (s < 7200) {
      return (s / 60) + "m";
    }
    if (s < 172800) {
      return (s / 3600) + "h";
    }
    return (s / 86400) + "d";
  }

  static String count(long n) {
    return String.format(java.util.Locale.ROOT, "%,d", n);
  }
}
