package io.github.pgqueue.dashboard;

import static io.github.pgqueue.dashboard.Html.esc;

import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/**
 * Throughput charts as inline SVG, drawn on the server: they need no JavaScript and no chart
 * library, and the live refresh redraws them with the rest of the page. Bars stack succeeded
 * (green) under failed (red); each bar has a title with its figures for hovering.
 */
final class Charts {

  private static final int W = 480;
  private static final int H = 110;

  private Charts() {}

  /** Rows as {@link Reads#throughput}: bucket start, succeeded, failed, other. */
  static String bars(String title, List<Object[]> rows) {
    boolean day = title.contains("day");
    int slots = day ? 24 : 60;
    Duration step = day ? Duration.ofHours(1) : Duration.ofMinutes(1);
    Instant end = Instant.now().truncatedTo(day ? ChronoUnit.HOURS : ChronoUnit.MINUTES);
    Instant start = end.minus(step.multipliedBy(slots - 1));
    long max = 1;
    long total = 0;
    long failed = 0;
    for (Object[] r : rows) {
      max = Math.max(max, (Long) r[1] + (Long) r[2]);
      total += (Long) r[1] + (Long) r[2] + (Long) r[3];
      failed += (Long) r[2];
    }
    double bw = (double) W / slots;
    StringBuilder s = new StringBuilder();
    s.append("<figure class=\"chart\"><figcaption>").append(esc(title)).append(": ").append(Html.count(total))
        .append(" finished, ").append(Html.count(failed)).append(" failed</figcaption>")
        .append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(W).append("\" height=\"").append(H + 2)
        .append("\" viewBox=\"0 0 ").append(W).append(' ').append(H + 2).append("\" role=\"img\">")
        .append("<rect x=\"0\" y=\"0\" width=\"").append(W).append("\" height=\"").append(H + 2)
        .append("\" fill=\"#fff\" stroke=\"#e3e6ec\"/>");
    for (Object[] r : rows) {
      Instant t = (Instant) r[0];
      long slot = Duration.between(start, t).toMillis() / step.toMillis();
      if (slot < 0 || slot >= slots) {
        continue;
      }
      long ok = (Long) r[1];
      long bad = (Long) r[2];
      double x = slot * bw + 0.5;
      double hOk = (double) ok / max * H;
      double hBad = (double) bad / max * H;
      String tip = Html.time(t) + ": " + ok + " succeeded, " + bad + " failed, " + r[3] + " other";
      s.append("<g><title>").append(esc(tip)).append("</title>");
      s.append(rect(x, H + 1 - hOk, bw - 1, hOk, "#3c9a5f"));
      s.append(rect(x, H + 1 - hOk - hBad, bw - 1, hBad, "#c8453b"));
      s.append("</g>");
    }
    if (rows.isEmpty()) {
      s.append("<text x=\"10\" y=\"60\" fill=\"#888\" font-size=\"12\">no finished jobs recorded</text>");
    }
    return s.append("</svg></figure>").toString();
  }

  private static String rect(double x, double y, double w, double h, String fill) {
    if (h <= 0) {
      return "";
    }
    return String.format(java.util.Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>",
        x, y, Math.max(w, 0.5), Math.max(h, 0.5), fill);
  }
}
