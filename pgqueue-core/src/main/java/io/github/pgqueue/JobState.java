package io.github.pgqueue;

/**
 * Where a job is in its life. A job that succeeds is deleted, so there is no "completed" state.
 *
 * <pre>
 *   enqueue ──► AVAILABLE ──claim──► RUNNING ──success──► (deleted)
 *                  ▲    ▲               │
 *                  │    └─retry/snooze──┤ (failure with attempts left, timeout, rescue)
 *                  │                    ▼
 *                  └──────retry─── DISCARDED ──prune──► (deleted)
 * </pre>
 */
public enum JobState {
  /** Waiting to run: due now, or scheduled for a later {@code run_at}. */
  AVAILABLE("available"),
  /** Claimed by a worker, which holds it under its lock owner id. */
  RUNNING("running"),
  /** Given up on (attempts exhausted, undecodable payload, or cancelled); kept for inspection. */
  DISCARDED("discarded");

  private final String dbValue;

  JobState(String dbValue) {
    this.dbValue = dbValue;
  }

  /**
   * The value stored in {@code jobs.state}.
   *
   * @return the lowercase database value
   */
  public String dbValue() {
    return dbValue;
  }

  static JobState fromDb(String value) {
    for (JobState s : values()) {
      if (s.dbValue.equals(value)) {
        return s;
      }
    }
    throw new IllegalStateException("unknown job state in database: " + value);
  }
}
