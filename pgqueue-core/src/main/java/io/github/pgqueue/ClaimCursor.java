package io.github.pgqueue;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Where a fetcher's claims start, for one queue: at the head (THE CLAIM) or after the last job it
 * claimed (THE CURSOR CLAIM, {@link Sql#claimAfter}).
 *
 * <p>Every claimed job leaves its entry in jobs_fetch_idx until vacuum removes it. Normally the
 * first scan that finds such an entry dead to every transaction marks it, and later scans skip it
 * for nothing. While a transaction older than those rows is open (a forgotten {@code BEGIN}, a long
 * report, a REPEATABLE READ backup), nothing can mark them: the head of the queue, where every
 * claim starts, fills with entries each costing a heap visit. So every {@link #PROBE_NANOS} the
 * fetcher counts them ({@link JobStore#deadHead}); from {@link #DEAD_ENTRIES_FOR_CURSOR} on, its
 * claims start after the last job it claimed, and one claim in {@link #RESET_NANOS} still starts at
 * the head, so a job that became visible behind the cursor (its transaction committed late, a
 * rescue) or a job of a higher priority waits at most that long. Below the bound, every claim
 * starts at the head, in strict claim order.
 *
 * <p>Owned by one thread (the fetcher's, or the benchmark's loop).
 */
final class ClaimCursor {

  /**
   * Dead index entries at the head from which claims start at a cursor: a heap visit each, about
   * 0.13 us on the benchmark's machine, so about a tenth of a small claim's time.
   */
  static final long DEAD_ENTRIES_FOR_CURSOR = 1_000;
  /** How often the head is counted again (before a claim; an idle queue is not read). */
  static final long PROBE_NANOS = TimeUnit.SECONDS.toNanos(10);
  /**
   * While claims start at a cursor, the longest between two claims from the head: the most a job
   * that became visible behind the cursor, or a job of a higher priority, waits for it.
   */
  static final long RESET_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** A position in claim order (priority DESC, run_at, id): the last job a claim took. */
  record Position(int priority, Instant runAt, long id) {}

  private final long probeNanos;
  private final long resetNanos;
  private boolean active;
  private Position position;
  private long nextProbeNanos;
  private long nextResetNanos;
  private long claimsAfter;

  ClaimCursor(long nowNanos) {
    this(nowNanos, PROBE_NANOS, RESET_NANOS);
  }

  ClaimCursor(long nowNanos, long probeNanos, long resetNanos) {
    this.probeNanos = probeNanos;
    this.resetNanos = resetNanos;
    this.nextProbeNanos = nowNanos;
  }

  /** Whether the head is due to be counted ({@link #probed} then). */
  boolean probeDue(long nowNanos) {
    return nowNanos - nextProbeNanos >= 0;
  }

  /**
   * The head was counted: {@code deadEntries} index entries a claim from the head walks past.
   * Returns whether that switched claims to or from the cursor.
   */
  boolean probed(long deadEntries, long nowNanos) {
    nextProbeNanos = nowNanos + probeNanos;
    boolean next = deadEntries >= DEAD_ENTRIES_FOR_CURSOR;
    if (next == active) {
      return false;
    }
    active = next;
    position = null;
    return true;
  }

  /** The count failed: try again at the next probe, keeping the current mode. */
  void probeFailed(long nowNanos) {
    nextProbeNanos = nowNanos + probeNanos;
  }

  /**
   * Where the claim now due starts: null for the head, else after this position. A claim from the
   * head is due when claims start at the head, when there is no position yet, and every {@link
   * #RESET_NANOS} while they start at a cursor.
   */
  Position start(long nowNanos) {
    if (!active || position == null || nowNanos - nextResetNanos >= 0) {
      nextResetNanos = nowNanos + resetNanos;
      return null;
    }
    claimsAfter++;
    return position;
  }

  /**
   * A claim returned {@code jobs} (in any order): the cursor moves to the last of them in claim
   * order. A claim that took nothing leaves it where it was.
   */
  void claimed(List<ClaimedJob> jobs) {
    if (!active || jobs.isEmpty()) {
      return;
    }
    ClaimedJob last = null;
    for (ClaimedJob j : jobs) {
      if (last == null || after(j, last)) {
        last = j;
      }
    }
    position = new Position(last.priority(), last.runAt(), last.id());
  }

  /** Whether {@code a} comes after {@code b} in claim order (priority DESC, run_at, id). */
  private static boolean after(ClaimedJob a, ClaimedJob b) {
    if (a.priority() != b.priority()) {
      return a.priority() < b.priority();
    }
    int t = a.runAt().compareTo(b.runAt());
    return t != 0 ? t > 0 : a.id() > b.id();
  }

  /** Claims start at a cursor. */
  boolean active() {
    return active;
  }

  /** Claims that started at a cursor so far. */
  long claimsAfter() {
    return claimsAfter;
  }
}
