package io.github.pgqueue.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A 12-second soak on an embedded PostgreSQL of its own: the driver runs, reports every interval,
 * drains, and accounts for every job. It asserts no timing: the figures belong to the 10-minute
 * run (scripts/soak.sh), not to CI.
 */
@Tag("process")
class SoakSmokeTest {

  @Test
  void aShortSoakRunsReportsAndAccountsForEveryJob() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    Soak.Summary s = Soak.run(
        Soak.Options.parse("--seconds", "12", "--report-every", "4", "--rate", "200", "--concurrency", "5"), out);
    String report = bytes.toString(StandardCharsets.UTF_8);
    System.out.println(report);
    assertThat(s.samples()).hasSize(3);
    assertThat(s.leftOver()).as("nothing left undone after the drain").isZero();
    assertThat(s.succeeded() + s.discarded()).as("every job succeeded or was discarded").isEqualTo(s.enqueued());
    assertThat(s.enqueued()).isGreaterThan(1_000);
    assertThat(report).contains("soak summary:", "soak verdict:", "claimMs", "heap_MB");
  }
}
