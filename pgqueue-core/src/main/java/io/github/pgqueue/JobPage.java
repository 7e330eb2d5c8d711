package io.github.pgqueue;

import java.util.List;

/**
 * One page of a {@link JobQuery}: the jobs, in the query's order, and where the next page starts.
 *
 * @param jobs at most {@link JobQuery#limit()} jobs, in the query's order
 * @param nextCursor pass to {@link JobQuery#after(String)} for the next page; null when this page
 *     is the last (a page is last when fewer jobs than requested remained, so a full last page is
 *     not followed by an empty one)
 */
public record JobPage(List<JobInfo> jobs, String nextCursor) {

  /**
   * @throws NullPointerException if jobs is null
   */
  public JobPage {
    jobs = List.copyOf(jobs);
  }

  /**
   * Whether another page follows.
   *
   * @return true when {@link #nextCursor()} is set
   */
  public boolean hasNext() {
    return nextCursor != null;
  }
}
