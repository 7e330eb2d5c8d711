package io.github.pgqueue.bench;

import io.github.pgqueue.internal.BenchAccess;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The latency breakdown of the pickup phase ({@code --latency-breakdown}): core's probe points
 * (BenchAccess.Probe) timestamp each sample's way from the enqueue call to the handler, and this
 * splits it into segments. One sample at a time (the phase is idle between samples), so the first
 * point of each kind after the sample's start is the sample's; the claim is the one that returned
 * the job.
 */
final class PickupTrace implements BenchAccess.Probe {

  static final int START = 0;
  static final int COMMITTED = 1;
  static final int WAKE_LOCAL = 2;
  static final int WAKE_NOTIFY = 3;
  static final int CLAIM_SENT = 4;
  static final int CLAIM_RETURNED = 5;
  static final int SLOT_ENTERED = 6;
  static final int HANDLER = 7;

  /** The timestamps of one sample (0: not seen). */
  static final class Sample {
    final AtomicLongArray t = new AtomicLongArray(8);
    /** The start of the claim in flight on the fetcher's thread (written and read there). */
    volatile long claimSent;

    long at(int point) {
      return t.get(point);
    }
  }

  private volatile Sample current;

  Sample begin(long startNanos) {
    Sample s = new Sample();
    s.t.set(START, startNanos);
    current = s;
    return s;
  }

  void handler(long nanos) {
    Sample s = current;
    if (s != null) {
      s.t.compareAndSet(HANDLER, 0, nanos);
    }
  }

  void end() {
    current = null;
  }

  @Override
  public void at(String point, long nanos, int count) {
    Sample s = current;
    if (s == null) {
      return;
    }
    switch (point) {
      case "COMMITTED" -> s.t.compareAndSet(COMMITTED, 0, nanos);
      case "WAKE_LOCAL" -> s.t.compareAndSet(WAKE_LOCAL, 0, nanos);
      case "WAKE_NOTIFY" -> s.t.compareAndSet(WAKE_NOTIFY, 0, nanos);
      case "CLAIM_SENT" -> s.claimSent = nanos;
      case "CLAIM_RETURNED" -> {
        if (count > 0 && s.t.compareAndSet(CLAIM_RETURNED, 0, nanos)) {
          s.t.set(CLAIM_SENT, s.claimSent); // 0 when the claim started before the sample did
        }
      }
      case "SLOT_ENTERED" -> s.t.compareAndSet(SLOT_ENTERED, 0, nanos);
      default -> { }
    }
  }

  /** The segments, in order; each is the ms between two points of a sample, or NaN. */
  static final String[] SEGMENTS = {
    "enqueue call to commit returned",
    "commit to wake-up (the first, in-process or NOTIFY)",
    "commit to NOTIFY received (control thread)",
    "wake-up to claim sent (fetcher thread scheduled)",
    "claim round trip (pool, UPDATE, async commit)",
    "claim returned to slot entered (executor hand-off)",
    "slot entered to handler (decode, run set-up)",
    "total: enqueue call to handler",
  };

  /** How a sample's job was found: by a wake-up, or by a claim that was not a wake-up's (a fast poll). */
  static String source(Sample s) {
    long wake = wake(s);
    long sent = s.at(CLAIM_SENT);
    if (wake == 0 || sent == 0 || sent < wake) {
      return "poll";
    }
    return wake == s.at(WAKE_LOCAL) ? "local" : "notify";
  }

  private static long wake(Sample s) {
    long l = s.at(WAKE_LOCAL);
    long n = s.at(WAKE_NOTIFY);
    return l == 0 ? n : n == 0 ? l : Math.min(l, n);
  }

  static double[] segments(Sample s) {
    long wake = wake(s);
    boolean woken = !source(s).equals("poll");
    return new double[] {
      ms(s.at(START), s.at(COMMITTED)),
      ms(s.at(COMMITTED), wake),
      ms(s.at(COMMITTED), s.at(WAKE_NOTIFY)),
      woken ? ms(wake, s.at(CLAIM_SENT)) : Double.NaN,
      ms(s.at(CLAIM_SENT), s.at(CLAIM_RETURNED)),
      ms(s.at(CLAIM_RETURNED), s.at(SLOT_ENTERED)),
      ms(s.at(SLOT_ENTERED), s.at(HANDLER)),
      ms(s.at(START), s.at(HANDLER)),
    };
  }

  private static double ms(long from, long to) {
    return from == 0 || to == 0 ? Double.NaN : (to - from) / 1e6;
  }

  /**
   * The breakdown table: per segment, p50 and p99 of each mode's samples (NaN-free values only,
   * n given when fewer than all), and how each mode's jobs were found.
   */
  static String table(Map<String, List<Sample>> modes) {
    StringBuilder sb = new StringBuilder("\n### Pickup latency breakdown (ms; p50 / p99 by nearest rank)\n\n| segment |");
    for (String m : modes.keySet()) {
      sb.append(' ').append(m).append(" p50 | p99 |");
    }
    sb.append("\n|---|").append("---|---|".repeat(modes.size())).append('\n');
    Map<String, double[][]> segs = new LinkedHashMap<>();
    modes.forEach((m, ss) -> segs.put(m, ss.stream().map(PickupTrace::segments).toArray(double[][]::new)));
    for (int k = 0; k < SEGMENTS.length; k++) {
      sb.append("| ").append(SEGMENTS[k]).append(" |");
      for (Map.Entry<String, double[][]> e : segs.entrySet()) {
        int col = k;
        double[] v = Arrays.stream(e.getValue()).mapToDouble(a -> a[col]).filter(x -> !Double.isNaN(x)).sorted().toArray();
        String n = v.length < e.getValue().length ? " (n=" + v.length + ")" : "";
        sb.append(String.format(Locale.ROOT, " %.2f%s | %.2f |", Workload.nearestRank(v, 50), n, Workload.nearestRank(v, 99)));
      }
      sb.append('\n');
    }
    sb.append("| found by (local / notify / poll) |");
    modes.forEach((m, ss) -> {
      Map<String, Integer> c = new LinkedHashMap<>(Map.of("local", 0, "notify", 0, "poll", 0));
      ss.forEach(s -> c.merge(source(s), 1, Integer::sum));
      sb.append(' ').append(c.get("local")).append(" / ").append(c.get("notify")).append(" / ").append(c.get("poll")).append(" | |");
    });
    sb.append('\n');
    return sb.toString();
  }
}
