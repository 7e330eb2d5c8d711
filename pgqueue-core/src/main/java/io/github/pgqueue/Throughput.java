package io.github.pgqueue;

import java.time.Instant;
import java.util.Objects;

/**
 * How many jobs of one name in one queue had one outcome in one time bucket, summed over every
 * worker that counted them; read by {@link JobQueue#throughput} from the rollup that workers write
 * (see {@link Worker.Builder#rollupInterval}).
 *
 * @param minute the first minute of the bucket, by the database clock. A count lands in the minute
 *     of the flush that wrote it, so up to one flush interval (10 seconds by default) after the
 *     outcome happened
 * @param queue the job's queue
 * @param name the job's name
 * @param outcome what happened: {@link JobEvent.Kind#SUCCEEDED}, {@link JobEvent.Kind#RETRIED} (a
 *     failed attempt that runs again), {@link JobEvent.Kind#DISCARDED}, {@link
 *     JobEvent.Kind#CANCELLED}, {@link JobEvent.Kind#SNOOZED} or {@link JobEvent.Kind#RESCUED};
 *     never {@link JobEvent.Kind#STARTED}
 * @param count how many, at least 1 (empty combinations are not reported)
 */
public record Throughput(Instant minute, String queue, String name, JobEvent.Kind outcome, long count) {

  /**
   * @throws NullPointerException if a component is null
   */
  public Throughput {
    Objects.requireNonNull(minute, "minute");
    Objects.requireNonNull(queue, "queue");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(outcome, "outcome");
  }
}
