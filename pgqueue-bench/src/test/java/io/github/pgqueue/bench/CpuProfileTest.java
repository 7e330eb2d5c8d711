package io.github.pgqueue.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The CPU accounting reads what it says: a thread's CPU under its name and its process's kind. */
class CpuProfileTest {

  @Test
  void aLiveThreadsCpuIsAttributedToItsNameWithoutItsNumber() throws Exception {
    assumeTrue(CpuProfile.available(), "Linux /proc");
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    java.util.concurrent.CountDownLatch burnt = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
    CpuProfile.Snapshot[] a = new CpuProfile.Snapshot[1];
    Thread burner = new Thread(() -> {
      long start = mx.getCurrentThreadCpuTime();
      long x = 0;
      while (mx.getCurrentThreadCpuTime() - start < TimeUnit.MILLISECONDS.toNanos(300)) {
        x += System.nanoTime() % 7;
      }
      burnt.countDown();
      try {
        done.await(); // alive at the second snapshot
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "cpuburner-12");
    a[0] = CpuProfile.take();
    burner.start();
    burnt.await();
    CpuProfile.Snapshot b = CpuProfile.take();
    done.countDown();
    burner.join();

    CpuProfile.ThreadTime t = b.threads().values().stream().filter(v -> v.name().equals("cpuburner-12"))
        .findFirst().orElseThrow();
    assertThat(t.kind()).isEqualTo("this JVM");
    // /proc's own clock agrees with the JVM's on the thread's 300 ms, within its bookkeeping.
    assertThat(t.cpuNanos()).isBetween(TimeUnit.MILLISECONDS.toNanos(250), TimeUnit.MILLISECONDS.toNanos(2_000));
    // 1,000 jobs: 300 ms is 300 µs per job, reported under the name without its number.
    String report = CpuProfile.report(a[0], b, TimeUnit.SECONDS.toNanos(1), 1_000);
    assertThat(report).containsPattern("cpuburner 3[0-9][0-9]\\.[0-9]/");
  }

  @Test
  void postgresProcessesAreToldApartByTheirCommandLine() {
    assertThat(CpuProfile.kind("postgres", "postgres: 15/main: walwriter")).isEqualTo("postgres WAL writer");
    assertThat(CpuProfile.kind("postgres", "postgres: walwriter")).isEqualTo("postgres WAL writer");
    assertThat(CpuProfile.kind("postgres", "postgres: autovacuum worker postgres"))
        .isEqualTo("postgres, other processes");
    assertThat(CpuProfile.kind("postgres", "postgres: postgres postgres 127.0.0.1(40312) idle"))
        .isEqualTo("postgres client backends");
    assertThat(CpuProfile.kind("postgres", "/usr/lib/postgresql/15/bin/postgres -D /data"))
        .isEqualTo("postgres, other processes");
    assertThat(CpuProfile.kind("beam.smp", "/usr/lib/erlang/erts/bin/beam.smp -- -root")).isEqualTo("other: beam.smp");
    assertThat(CpuProfile.threadGroup("GC Thread#1")).isEqualTo("GC Thread");
    assertThat(CpuProfile.threadGroup("pgqueue-worker-12")).isEqualTo("pgqueue-worker");
  }
}
