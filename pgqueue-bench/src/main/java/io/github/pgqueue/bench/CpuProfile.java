package io.github.pgqueue.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Where the machine's CPU goes during a phase, from Linux's {@code /proc}: every thread's time on
 * a CPU and time waiting in the run queue for one ({@code /proc/PID/task/TID/schedstat}, in
 * nanoseconds), added up by kind of process (this JVM, the other worker JVMs this JVM started,
 * PostgreSQL's client backends, its WAL writer, its other processes, everything else) and, for the
 * JVMs, by thread name. The benchmark's database runs on the same machine, so this shows what the
 * database and the workers take from each other. The whole machine's busy and stolen time comes
 * from {@code /proc/stat}. Threads that end between the two snapshots are not counted (a phase's
 * other JVMs are snapshotted before they stop). On a system without {@code /proc} it reports
 * nothing. It measures; it asserts nothing.
 */
final class CpuProfile {

  private static final Path PROC = Path.of("/proc");

  /** One thread's counters at a snapshot. */
  record ThreadTime(String kind, String name, long cpuNanos, long waitNanos) {}

  /**
   * The counters of every thread on the machine, by thread id, and the machine's {@code cpu} line
   * of {@code /proc/stat} (clock ticks: user, nice, system, idle, iowait, irq, softirq, steal).
   */
  record Snapshot(Map<Long, ThreadTime> threads, long[] machine) {}

  private CpuProfile() {}

  /** Whether this system has the counters (Linux). */
  static boolean available() {
    return Files.isReadable(PROC.resolve("self/schedstat")) && Files.isReadable(PROC.resolve("stat"));
  }

  /** The counters now; {@code null} where the system has none. */
  static Snapshot take() {
    if (!available()) {
      return null;
    }
    long self = ProcessHandle.current().pid();
    Set<Long> children = ProcessHandle.current().descendants().map(ProcessHandle::pid).collect(Collectors.toSet());
    Map<Long, ThreadTime> threads = new HashMap<>();
    try (DirectoryStream<Path> pids = Files.newDirectoryStream(PROC, p -> isNumber(p.getFileName().toString()))) {
      for (Path pidDir : pids) {
        long pid = Long.parseLong(pidDir.getFileName().toString());
        String kind;
        if (pid == self) {
          kind = "this JVM";
        } else if (children.contains(pid)) {
          kind = "other worker JVMs";
        } else {
          String cmdline = read(pidDir.resolve("cmdline"));
          String comm = read(pidDir.resolve("comm"));
          if (cmdline == null || comm == null) {
            continue; // gone
          }
          kind = kind(comm.strip(), cmdline.replace('\0', ' ').strip());
        }
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(pidDir.resolve("task"))) {
          for (Path task : tasks) {
            String sched = read(task.resolve("schedstat"));
            String name = read(task.resolve("comm"));
            if (sched == null || name == null) {
              continue;
            }
            String[] f = sched.strip().split(" ");
            threads.put(Long.parseLong(task.getFileName().toString()),
                new ThreadTime(kind, name.strip(), Long.parseLong(f[0]), Long.parseLong(f[1])));
          }
        } catch (IOException e) {
          // the process ended while we read it
        }
      }
    } catch (IOException e) {
      return null;
    }
    long[] machine = new long[8];
    String stat = read(PROC.resolve("stat"));
    if (stat != null) {
      String[] f = stat.lines().findFirst().orElse("").trim().split("\\s+");
      for (int i = 0; i < machine.length && i + 1 < f.length; i++) {
        machine[i] = Long.parseLong(f[i + 1]);
      }
    }
    return new Snapshot(threads, machine);
  }

  /**
   * The kind of a process that is neither this JVM nor one it started, from its {@code comm} and
   * its command line: PostgreSQL's processes set their command line to {@code postgres: } and
   * their role (a client backend's names its user, database and client).
   */
  static String kind(String comm, String cmdline) {
    if (!comm.equals("postgres") && !cmdline.startsWith("postgres:")) {
      return "other: " + comm;
    }
    if (!cmdline.startsWith("postgres:")) {
      return "postgres, other processes"; // the postmaster
    }
    String role = cmdline.substring("postgres:".length()).strip();
    if (role.contains("walwriter")) {
      return "postgres WAL writer";
    }
    for (String aux : List.of("checkpointer", "background writer", "autovacuum", "logical replication",
        "walsender", "walreceiver", "archiver", "stats collector", "io worker", "walsummarizer")) {
      if (role.contains(aux)) {
        return "postgres, other processes";
      }
    }
    return "postgres client backends";
  }

  /**
   * The report of the time between two snapshots.
   *
   * @param wallNanos the time between them
   * @param jobs the jobs the phase processed, for per-job figures
   */
  static String report(Snapshot a, Snapshot b, long wallNanos, long jobs) {
    if (a == null || b == null || wallNanos <= 0) {
      return "  CPU: no /proc on this system\n";
    }
    Map<String, long[]> byKind = new TreeMap<>();
    Map<String, long[]> byJvmThread = new HashMap<>();
    for (Map.Entry<Long, ThreadTime> e : b.threads().entrySet()) {
      ThreadTime end = e.getValue();
      ThreadTime start = a.threads().get(e.getKey());
      long cpu = end.cpuNanos() - (start == null ? 0 : start.cpuNanos());
      long wait = end.waitNanos() - (start == null ? 0 : start.waitNanos());
      if (cpu < 0 || wait < 0) {
        continue; // a thread id reused
      }
      String kind = end.kind().startsWith("other: ") ? "other processes" : end.kind();
      long[] k = byKind.computeIfAbsent(kind, x -> new long[2]);
      k[0] += cpu;
      k[1] += wait;
      if (end.kind().startsWith("other: ")) {
        byKind.computeIfAbsent(end.kind(), x -> new long[2])[0] += cpu;
      }
      if (kind.endsWith("JVM") || kind.endsWith("JVMs")) {
        long[] t = byJvmThread.computeIfAbsent(threadGroup(end.name()), x -> new long[2]);
        t[0] += cpu;
        t[1] += wait;
      }
    }
    long[] m = new long[8];
    for (int i = 0; i < m.length; i++) {
      m[i] = b.machine()[i] - a.machine()[i];
    }
    long ticks = 0;
    for (long t : m) {
      ticks += t;
    }
    double seconds = wallNanos / 1e9;
    double busyCores = ticks == 0 ? 0 : (ticks - m[3] - m[4]) / 100.0 / seconds;
    double stealCores = m[7] / 100.0 / seconds;
    double perJob = Math.max(1, jobs) * 1_000.0; // ns to µs per job
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT,
        "  CPU (/proc): the machine %.2f of %d cores busy (stolen by the host %.2f); per job, in µs:%n",
        busyCores, Runtime.getRuntime().availableProcessors(), stealCores));
    sb.append("    | who | on a CPU | waiting for a CPU | cores |\n");
    sb.append("    |---|---|---|---|\n");
    long total = 0;
    List<Map.Entry<String, long[]>> others = new ArrayList<>();
    for (Map.Entry<String, long[]> e : byKind.entrySet()) {
      if (e.getKey().startsWith("other: ")) {
        others.add(e);
        continue;
      }
      total += e.getValue()[0];
      sb.append(String.format(Locale.ROOT, "    | %s | %.1f | %.1f | %.2f |%n", e.getKey(),
          e.getValue()[0] / perJob, e.getValue()[1] / perJob, e.getValue()[0] / (double) wallNanos));
    }
    sb.append(String.format(Locale.ROOT, "    | all | %.1f | | %.2f |%n", total / perJob, total / (double) wallNanos));
    if (!others.isEmpty()) {
      others.sort((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0]));
      sb.append("    other processes, the top: ").append(others.stream().limit(4)
          .map(e -> String.format(Locale.ROOT, "%s %.1f", e.getKey().substring(7), e.getValue()[0] / perJob))
          .collect(Collectors.joining(", "))).append('\n');
    }
    List<Map.Entry<String, long[]>> threads = new ArrayList<>(byJvmThread.entrySet());
    threads.sort((x, y) -> Long.compare(y.getValue()[0], x.getValue()[0]));
    sb.append("    JVM threads by name (all the JVMs), on a CPU / waiting: ").append(threads.stream().limit(10)
        .map(e -> String.format(Locale.ROOT, "%s %.1f/%.1f", e.getKey(), e.getValue()[0] / perJob, e.getValue()[1] / perJob))
        .collect(Collectors.joining(", "))).append('\n');
    return sb.toString();
  }

  /** A thread's name without its number, so that a pool's threads add up ({@code GC Thread#1} to {@code GC Thread#}). */
  static String threadGroup(String name) {
    return name.replaceAll("[0-9]+$", "").replaceAll("[-#_ ]+$", "");
  }

  private static boolean isNumber(String s) {
    return !s.isEmpty() && s.chars().allMatch(Character::isDigit);
  }

  private static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
