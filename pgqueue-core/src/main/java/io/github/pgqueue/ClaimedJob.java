package io.github.pgqueue;

import java.time.Instant;

/**
 * A job as claimed by a worker: what the claim query returned, plus the lock owner it was claimed
 * under. (id, attempt, owner) is the guard every outcome write carries.
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
    long owner) {

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
