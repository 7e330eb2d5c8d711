package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.TransactionalWorkerProcess.Insert;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Transactional completion (docs/flow-control.md) across real processes: a worker JVM is stopped
 * with SIGSTOP in the middle of a transactional handler, past the stale threshold, while another
 * worker rescues its job and runs it again; then it is resumed with SIGCONT. The handler's writes
 * must commit exactly once, those of the second run.
 */
@Tag("process")
@PgQueueTest
class TransactionalCompletionProcessTest {

  static final String OPEN_TRANSACTIONS_OF_THE_CHILD =
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"
          + TransactionalWorkerProcess.APPLICATION_NAME + "' AND xact_start IS NOT NULL";

  @Test
  void anAttemptRescuedWhileItsWorkerWasStoppedCommitsNothingAndOnlyTheSecondRunsWriteIsLeft(TestDatabase db)
      throws Exception {
    db.truncate();
    db.execute(TransactionalWorkerProcess.CREATE_EFFECTS);
    db.execute("TRUNCATE effects");
    JobQueue queue = JobQueue.create(db.dataSource());
    ChildJvm child = ChildJvm.start(TransactionalWorkerProcess.class, db.jdbcUrlWithCredentials(), "200", "2000");
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> child.printed("READY"));

      // A handler that throws after its insert, in the other process: its writes never commit.
      queue.enqueue(TransactionalWorkerProcess.INSERT, new Insert(2, 10, true),
          EnqueueOptions.builder().maxAttempts(2).build());
      await().atMost(Duration.ofSeconds(30)).until(() -> child.printed("INSERTED 2 attempt 2")
          && db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state = 'discarded'") == 1);
      assertThat(db.queryLong("SELECT count(*) FROM effects")).as("rows of a handler that threw").isZero();

      // A handler that is in its transaction, its row written, when its process is stopped.
      queue.enqueue(TransactionalWorkerProcess.INSERT, new Insert(1, 3_000, false));
      await().atMost(Duration.ofSeconds(30)).until(() -> child.printed("INSERTED 1 attempt 1"));
      signal(child, "STOP");
      assertThat(db.queryLong("SELECT count(*) FROM effects")).as("the stopped attempt's row, not committed").isZero();
      assertThat(db.queryLong(OPEN_TRANSACTIONS_OF_THE_CHILD)).as("the stopped attempt's open transaction").isEqualTo(1);

      long pid = ProcessHandle.current().pid();
      Worker rescuer = Worker.builder(db.dataSource())
          .heartbeatInterval(Duration.ofMillis(200)).staleAfter(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(100))
          .handleInTransaction(TransactionalWorkerProcess.INSERT, TransactionalWorkerProcess.handler(pid))
          .build();
      rescuer.start();
      try {
        // Past the stale threshold the rescuer's maintenance takes the job back; its run commits.
        await().atMost(Duration.ofSeconds(60)).until(
            () -> db.queryLong("SELECT count(*) FROM pgqueue.jobs WHERE state <> 'discarded'") == 0);
        assertThat(db.queryLong("SELECT count(*) FROM effects WHERE n = 1 AND attempt = 2 AND pid = " + pid))
            .as("the second run's row").isEqualTo(1);
        assertThat(db.queryLong(OPEN_TRANSACTIONS_OF_THE_CHILD))
            .as("the stopped attempt's transaction is still open").isEqualTo(1);

        signal(child, "CONT");
        // The resumed handler returns; its guarded completion matches nothing (the job was taken
        // away and is gone), so its transaction, insert included, rolls back.
        await().atMost(Duration.ofSeconds(60)).until(() -> db.queryLong(OPEN_TRANSACTIONS_OF_THE_CHILD) == 0);
        assertThat(db.queryLong("SELECT count(*) FROM effects")).as("rows left in all").isEqualTo(1);
        assertThat(db.queryLong("SELECT count(*) FROM effects WHERE pid = " + child.pid()))
            .as("rows of the stopped process").isZero();
        System.out.println("TX-PROCESS: the stopped worker printed after resuming: "
            + child.lines.stream().filter(l -> l.startsWith("EVENT")).toList());
      } finally {
        rescuer.close();
      }
    } finally {
      new ProcessBuilder("kill", "-CONT", String.valueOf(child.pid())).start().waitFor(); // never left stopped
      child.close();
    }
  }

  static void signal(ChildJvm child, String signal) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(child.pid())).inheritIO().start();
    assertThat(kill.waitFor()).as("kill -%s %d", signal, child.pid()).isZero();
  }
}
