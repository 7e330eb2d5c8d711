package io.github.pgqueue;

import io.github.pgqueue.internal.BenchAccess;

/**
 * The benchmark's timestamps of the pickup path (enqueue committed, wake-ups, claim sent and
 * returned, slot entered), for its latency breakdown. Off unless the benchmark installs a probe
 * through {@link BenchAccess#probe}: then each point costs one volatile read.
 */
final class PickupProbe {

  /** The points, in the order a pickup passes them. */
  enum Point {
    /** {@link JobQueue} committed an enqueue of its own (not a caller's transaction). */
    COMMITTED,
    /** A fetcher was woken in-process ({@link LocalWake}). */
    WAKE_LOCAL,
    /** The control thread received a NOTIFY for a queue it serves. */
    WAKE_NOTIFY,
    /** A fetcher is about to borrow a connection and claim. */
    CLAIM_SENT,
    /** The claim returned (the count is the jobs it claimed). */
    CLAIM_RETURNED,
    /** A handler thread took a claimed job (before decoding it and calling the handler). */
    SLOT_ENTERED
  }

  static volatile BenchAccess.Probe probe;

  private PickupProbe() {}

  static void at(Point point, int count) {
    BenchAccess.Probe p = probe;
    if (p != null) {
      p.at(point.name(), System.nanoTime(), count);
    }
  }
}
