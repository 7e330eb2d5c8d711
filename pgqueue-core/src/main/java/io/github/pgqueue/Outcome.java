package io.github.pgqueue;

/**
 * How one attempt ended, as the {@link Completer} writes it: a success (delete) or a settlement
 * (the row goes back to available or to discarded).
 *
 * @param job the claimed job
 * @param success true to delete the row
 * @param state for a settlement: {@code available} or {@code discarded}
 * @param delayMicros for {@code available}: wait before the next run
 * @param refund 1 to give the attempt back (snooze, release of a job that never ran), else 0
 * @param errorJson the error to append, as a JSON object without "at" (the database adds it), or null
 */
record Outcome(
    ClaimedJob job, boolean success, String state, long delayMicros, int refund, String errorJson) {

  /**
   * Nothing left to write: a transactional handler's own transaction already completed the job.
   * The completer skips it; it still frees the attempt's slot like any other outcome.
   */
  static Outcome alreadyWritten(ClaimedJob job) {
    return new Outcome(job, false, null, 0, 0, null);
  }

  /** True for {@link #alreadyWritten}: there is no statement to run. */
  boolean nothingToWrite() {
    return !success && state == null;
  }

  static Outcome success(ClaimedJob job) {
    return new Outcome(job, true, null, 0, 0, null);
  }

  static Outcome retry(ClaimedJob job, long delayMicros, String errorJson) {
    return new Outcome(job, false, "available", delayMicros, 0, errorJson);
  }

  static Outcome discard(ClaimedJob job, String errorJson) {
    return new Outcome(job, false, "discarded", 0, 0, errorJson);
  }

  static Outcome snooze(ClaimedJob job, long delayMicros) {
    return new Outcome(job, false, "available", delayMicros, 1, null);
  }

  /** A job claimed but never started (buffered at shutdown), or stopped by shutdown: no charge. */
  static Outcome release(ClaimedJob job) {
    return new Outcome(job, false, "available", 0, 1, null);
  }
}
