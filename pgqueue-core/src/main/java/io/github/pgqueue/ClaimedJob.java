package io.github.pgqueue;

import java.time.Instant;

/**
 * A job as claimed by a worker: what the claim query returned, plus the lock owner and the claim
 * token it was claimed under, the database's time of the claim ({@code claimedAt}, the claim
 * statement's {@code now()}) and this JVM's {@link System#nanoTime()} when the claim's reply was read
 * ({@code receivedNanos}): together they date the attempt's start by the database clock (see {@link
 * #startedAt}). (id, owner, token) is the guard every outcome write carries: the
 * token is unique per claim, so a write from an earlier claim of the same job by the same worker
 * (possible with the same attempt number, since a snooze or release gives the attempt back) never
 * acts on a later one. The trace context is null when the enqueuing code stored none.
 */
record ClaimedJob(
    long id,
    String name,
    String queue,
    String payloadJson,
    int attempt,
    int maxAttempts,
    int priority,
    Instant runAt,
    Instant createdAt,
    String context,
    long owner,
    long token,
    TraceContext traceContext,
    Instant claimedAt,
    long receivedNanos) {

  /**
   * The database's time at {@code nanoTime} (a {@link System#nanoTime()} reading after the claim):
   * the claim's time plus what this JVM's monotonic clock measured since.
   */
  Instant startedAt(long nanoTime) {
    return claimedAt.plusNanos(Math.max(0, nanoTime - receivedNanos));
  }

  /** Claim order: priority DESC, run_at, id (the claim's ORDER BY; RETURNING does not keep it). */
  static int claimOrder(ClaimedJob a, ClaimedJob b) {
    int c = Integer.compare(b.priority, a.priority);
    if (c != 0) {
      return c;
    }
    c = a.runAt.compareTo(b.runAt);
    return c != 0 ? c : Long.compare(a.id, b.id);
  }
}
