package io.github.pgqueue.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The metrics table of docs/observability.md lists exactly the meters this module registers, each
 * with the Prometheus name the registry writes for it (checked against real scrapes by the other
 * tests of this module).
 */
class ObservabilityDocTest {

  static final Set<String> REGISTERED = Set.of(
      PgQueueMetrics.ENQUEUED, PgQueueMetrics.DEDUPLICATED, PgQueueMetrics.PROCESSED, PgQueueMetrics.RESCUED, PgQueueMetrics.DURATION,
      PgQueueMetrics.PICKUP_DELAY,
      WorkerGauges.SLOTS, WorkerGauges.BUSY, WorkerGauges.BUFFERED, WorkerGauges.ABANDONED, WorkerGauges.LISTENING,
      WorkerGauges.HEALTHY,
      QueueGauges.DUE, QueueGauges.SCHEDULED, QueueGauges.RUNNING, QueueGauges.OLDEST_DUE_AGE, QueueGauges.STATS_AGE);

  @Test
  void theTableListsEveryMeterAndNoOther() throws Exception {
    String doc = Files.readString(Path.of("..", "docs", "observability.md"));
    String metrics = doc.substring(doc.indexOf("## Metrics"));
    Matcher row = Pattern.compile("(?m)^\\| `(pgqueue\\.[a-z.]+)` \\(`(pgqueue_[a-z_]+)`\\) \\| (counter|timer|gauge) \\|")
        .matcher(metrics);
    Set<String> documented = new TreeSet<>();
    while (row.find()) {
      documented.add(row.group(1));
      String prometheus = row.group(1).replace('.', '_')
          + (row.group(3).equals("timer") || row.group(1).endsWith(".age") ? "_seconds" : "")
          + (row.group(3).equals("counter") ? "_total" : "");
      assertThat(row.group(2)).as("Prometheus name of " + row.group(1)).isEqualTo(prometheus);
    }
    assertThat(documented).containsExactlyInAnyOrderElementsOf(REGISTERED);
  }
}
