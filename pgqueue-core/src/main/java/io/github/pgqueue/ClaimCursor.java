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
 * without a heap visit; but not on an index page that changed since the scan read it (a small
 * queue that new jobs keep joining), and not at all while a transaction older than those rows is
 * open (a forgotten {@code BEGIN}, a long report, a REPEATABLE READ backup): the head of the
 * queue, where every claim starts, fills with entries each costing a heap visit. And where the
 * scans could mark them, the marked entries still fill the pages at the head until vacuum removes
 * them, which autovacuum does at most once per {@code autovacuum_naptime} (a minute by default): a
 * fast drain leaves thousands of such pages for every claim to read. So every {@link #PROBE_NANOS}
 * (ten times less often while its claims start at a cursor) the fetcher counts both ({@link
 * JobStore#deadHead}); from {@link #DEAD_ENTRIES_FOR_CURSOR} entries or {@link
 * #DEAD_PAGES_FOR_CURSOR} pages on, its claims start after the last job it claimed (jobs of a
 * higher priority are still taken first), and one claim in {@link #RESET_NANOS} still starts at
 * the head, so a job that became visible behind the cursor (its transaction committed after the
 * cursor passed its {@code run_at}, a rescue) waits at most that long; or, where a read of the
 * dead head itself takes longer than a tenth of that, nine times that read ({@link
 * #HEAD_SHARE_PERCENT}). Below the bounds, every claim starts at the head, in strict claim order.
 *
 * <p>Owned by one thread (the fetcher's, or the benchmark's loop).
 */
final class ClaimCursor {

  /**
   * Dead index entries at the head from which claims start at a cursor: a heap visit each, about
   * 0.13 us on the benchmark's machine, so about a tenth of a small claim's time.
   */
  static final long DEAD_ENTRIES_FOR_CURSOR = 1_000;
  /**
   * Index pages of entries already marked dead that a claim from the head walks, from which claims
   * start at a cursor: a marked entry costs no heap visit, but until vacuum removes it its page is
   * read. On the benchmark's machine a page cost about 4.5 us (3,400 pages, 15 ms, after a drain of
   * a million jobs between two autovacuum runs), so 32 pages are about what 1,000 dead entries
   * cost.
   */
  static final long DEAD_PAGES_FOR_CURSOR = 32;
  /**
   * How often the head is counted again (after a claim; an idle queue is not read). A second: a
   * drain at 30,000 jobs a second fills the 32 pages in a fifth of one, and a count of a clean head
   * is one short read; a dead head's count is spaced by {@link #HEAD_SHARE_PERCENT}.
   */
  static final long PROBE_NANOS = TimeUnit.SECONDS.toNanos(1);
  /**
   * While claims start at a cursor, the head is counted ten times less often: each count then walks
   * the dead head (up to 0.2 s a read in a million-job drain), and going back to the head a few
   * seconds late costs nothing, the cursor claim being as cheap as THE CLAIM on a clean head.
   */
  static final int ACTIVE_PROBE_FACTOR = 10;
  /**
   * While claims start at a cursor, the time between two claims from the head, at least: the most a
   * job that became visible behind the cursor waits for it, unless a claim from the head takes
   * longer than a tenth of that ({@link #HEAD_SHARE_PERCENT}).
   */
  static final long RESET_NANOS = TimeUnit.SECONDS.toNanos(1);
  /**
   * The head is read (claims from the head while claims start at a cursor, and the counts) no more
   * than this share of the time: the next one is due no sooner than nine times as long as the last
   * took. A dead head grows as long as the old transaction stays open (the benchmark's 200 claims a
   * second left 2.4 million entries in ten minutes), and each read of it walks all of it.
   */
  static final int HEAD_SHARE_PERCENT = 10;

  /** A position in claim order (priority DESC, run_at, id): the last job a claim took. */
  record Position(int priority, Instant runAt, long id) {}

  private final long probeNanos;
  private final long resetNanos;
  private boolean active;
  private Position position;
  /** The claim now running started at the head. */
  private boolean fromHead = true;
  private long nextProbeNanos;
  private long nextResetNanos;
  /** When the claim now running started (System.nanoTime()). */
  private long startedNanos;
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
   * The head was counted, from {@code startedNanos} to {@code nowNanos}: a claim from the head
   * walks past {@code dead} (index entries that need a heap visit, and pages of entries that do
   * not). Returns whether that switched claims to or from the cursor.
   */
  boolean probed(JobStore.DeadHead dead, long startedNanos, long nowNanos) {
    boolean next = dead.entries() >= DEAD_ENTRIES_FOR_CURSOR || dead.pages() >= DEAD_PAGES_FOR_CURSOR;
    nextProbeNanos = nowNanos + Math.max(next ? probeNanos * ACTIVE_PROBE_FACTOR : probeNanos,
        headWait(nowNanos - startedNanos));
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
    startedNanos = nowNanos;
    if (!active || position == null || nowNanos - nextResetNanos >= 0) {
      fromHead = true;
      return null;
    }
    fromHead = false;
    claimsAfter++;
    return position;
  }

  /**
   * The claim {@link #start} began returned {@code jobs} (in any order) at {@code nowNanos}: the
   * cursor moves to the last of them in claim order. After a claim from the head that is where the claim stopped; a
   * claim from the cursor only moves it forward (the jobs of a higher priority it took first lie
   * ahead of it). A claim that took nothing leaves it where it was.
   */
  void claimed(List<ClaimedJob> jobs, long nowNanos) {
    if (fromHead) {
      nextResetNanos = nowNanos + Math.max(resetNanos, headWait(nowNanos - startedNanos));
    }
    if (!active || jobs.isEmpty()) {
      return;
    }
    Position last = null;
    for (ClaimedJob j : jobs) {
      Position p = new Position(j.priority(), j.runAt(), j.id());
      if (last == null || after(p, last)) {
        last = p;
      }
    }
    if (fromHead || position == null || after(last, position)) {
      position = last;
    }
  }

  /** How long to wait after a read of the head that took {@code tookNanos}: see {@link #HEAD_SHARE_PERCENT}. */
  private static long headWait(long tookNanos) {
    return tookNanos * (100 - HEAD_SHARE_PERCENT) / HEAD_SHARE_PERCENT;
  }

  /** Whether {@code a} comes after {@code b} in claim order (priority DESC, run_at, id). */
  private static boolean after(Position a, Position b) {
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
