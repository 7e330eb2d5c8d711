package io.github.pgqueue.bench;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.Worker;
import io.github.pgqueue.internal.SharedSecrets;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * One more worker process for the multi-process variant: same handler, same settings, at the
 * concurrency it is given (the phase's own, not a share of it). The parent talks to it over its
 * standard streams, so that JVM start-up is not timed and every process starts claiming at once:
 * the child warms up (runs {@code --child-warm-up} jobs on a schema of its own), builds its
 * worker and prints {@code ready}; on {@code start} it starts the worker; on
 * {@code mark} it prints {@code marked HANDLED STATEMENTS JOBS}, its counters so far; on
 * {@code stop} it closes the worker (running jobs finish), prints {@code claims STATEMENTS JOBS}
 * and exits. While it runs it prints {@code handled N}, its handler calls so far, whenever that
 * changes (at most every 2 ms), so the parent can end the phase on the total without polling
 * the table (a {@code count(*)} every 5 ms on a table of 100,000 rows was 40% of the database's
 * time in a first measurement).
 */
public final class WorkerChild {
  private WorkerChild() {}

  /** A started child, built and waiting for {@link #go()}. */
  static final class Handle {
    private final Process process;
    private final BufferedReader out;
    private final PrintWriter in;
    private final AtomicLong handled = new AtomicLong();
    private final CompletableFuture<long[]> claims = new CompletableFuture<>();
    private final CompletableFuture<long[]> marked = new CompletableFuture<>();

    private Handle(Process process) {
      this.process = process;
      this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      this.in = new PrintWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8), true);
    }

    /** Waits for the child's {@code ready}, then follows its reports on a thread of its own. */
    void awaitReady() throws IOException {
      String line;
      while ((line = out.readLine()) != null) {
        if (line.equals("ready")) {
          Thread reader = new Thread(this::follow, "worker-child-reader");
          reader.setDaemon(true);
          reader.start();
          return;
        }
      }
      throw new IOException("worker child exited before it was ready (exit " + exitCode() + ")");
    }

    private void follow() {
      try {
        String line;
        while ((line = out.readLine()) != null) {
          if (line.startsWith("handled ")) {
            handled.set(Long.parseLong(line.substring("handled ".length())));
          } else if (line.startsWith("marked ")) {
            String[] p = line.split(" ");
            marked.complete(new long[] {Long.parseLong(p[1]), Long.parseLong(p[2]), Long.parseLong(p[3])});
          } else if (line.startsWith("claims ")) {
            String[] p = line.split(" ");
            claims.complete(new long[] {Long.parseLong(p[1]), Long.parseLong(p[2])});
          }
        }
      } catch (IOException e) {
        // the child is gone
      } finally {
        claims.complete(new long[] {0, 0});
        marked.complete(new long[] {0, 0, 0});
      }
    }

    /**
     * The child's counters now, {handler calls, claim statements, claimed jobs}, while its worker
     * runs: the end of an unmeasured warm-up. Once per child.
     */
    long[] mark() throws Exception {
      in.println("mark");
      return marked.get(60, TimeUnit.SECONDS);
    }

    void go() {
      in.println("start");
    }

    /** Handler calls the child has reported so far (it reports every few milliseconds). */
    long handled() {
      return handled.get();
    }

    /**
     * Stops the child's worker and returns its claim counters, {statements, jobs}; {0, 0} if it
     * did not answer.
     */
    long[] stop() throws Exception {
      in.println("stop");
      long[] c;
      try {
        c = claims.get(60, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        c = new long[] {0, 0};
      }
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
      return c;
    }

    void kill() {
      process.destroyForcibly();
    }

    private String exitCode() {
      return process.isAlive() ? "none yet" : Integer.toString(process.exitValue());
    }
  }

  static Handle start(String url, String user, String password, int concurrency, Integer bufferFactor,
      boolean rollup, int warmUp) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(WorkerChild.class.getName());
    cmd.add(url);
    cmd.add(user == null ? "" : user);
    cmd.add(password == null ? "" : password);
    cmd.add(Integer.toString(concurrency));
    cmd.add(bufferFactor == null ? "" : bufferFactor.toString());
    cmd.add(Boolean.toString(rollup));
    cmd.add(Integer.toString(warmUp));
    // stdout is the protocol; the child's log goes to our stderr.
    return new Handle(new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start());
  }

  /** The worker's settings from the command line, on {@code b}; the handler counts its calls. */
  private static Worker.Builder builder(Worker.Builder b, String[] args, AtomicLong handled) {
    String url = args[0];
    String user = args[1].isEmpty() ? null : args[1];
    String password = args[2].isEmpty() ? null : args[2];
    b.queue("default", Integer.parseInt(args[3]))
        .dedicatedConnection(() -> DriverManager.getConnection(url, user, password))
        .handle(Workload.NOOP, (job, ctx) -> handled.incrementAndGet());
    if (!args[4].isEmpty()) {
      b.bufferFactor(Integer.parseInt(args[4]));
    }
    if (!Boolean.parseBoolean(args[5])) {
      b.rollupInterval(java.time.Duration.ZERO);
    }
    return b;
  }

  /**
   * Runs {@code jobs} jobs through a worker of the same settings on a schema of this process's
   * own, then drops it, so that the child's claim, dispatch and completion paths are compiled
   * before the phase as the driver's are (the driver's JVM is warm from the phases before). Four
   * processes measured the same warm and cold (docs/scaling.md). The phase's table sees none of
   * these rows.
   */
  private static void warmUp(javax.sql.DataSource pool, String[] args, int jobs) throws Exception {
    String schema = "pgqueue_warm_" + ProcessHandle.current().pid();
    Migrator.create(pool, schema).migrate();
    try {
      JobQueue queue = JobQueue.builder(pool).schema(schema).build();
      for (int from = 0; from < jobs; from += 1_000) {
        int start = from;
        queue.enqueueAll(Workload.NOOP,
            IntStream.range(start, Math.min(jobs, start + 1_000)).mapToObj(Workload.Noop::new).toList());
      }
      AtomicLong done = new AtomicLong();
      Worker worker = builder(Worker.builder(queue), args, done).build();
      worker.start();
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      try {
        while (done.get() < jobs && System.nanoTime() - deadline < 0) {
          Thread.sleep(5);
        }
      } finally {
        worker.close();
      }
      if (done.get() < jobs) {
        throw new IllegalStateException("the warm-up ran " + done.get() + " of " + jobs + " jobs in 2 minutes");
      }
    } finally {
      try (java.sql.Connection c = pool.getConnection(); java.sql.Statement st = c.createStatement()) {
        st.execute("DROP SCHEMA " + schema + " CASCADE");
      }
    }
  }

  public static void main(String[] args) throws Exception {
    AtomicLong handled = new AtomicLong();
    String url = args[0];
    String user = args[1].isEmpty() ? null : args[1];
    String password = args[2].isEmpty() ? null : args[2];
    com.zaxxer.hikari.HikariConfig hc = new com.zaxxer.hikari.HikariConfig();
    hc.setJdbcUrl(url);
    hc.setUsername(user);
    hc.setPassword(password);
    hc.setMaximumPoolSize(8);
    hc.setMinimumIdle(8);
    try (com.zaxxer.hikari.HikariDataSource pool = new com.zaxxer.hikari.HikariDataSource(hc)) {
      int warmUp = Integer.parseInt(args[6]);
      if (warmUp > 0) {
        warmUp(pool, args, warmUp);
      }
      Worker worker = builder(Worker.builder(pool), args, handled).build();
      // Handler calls, reported when they change, at most every 2 ms: the parent ends the phase
      // on the sum, as the one-process phase does on its own count, instead of polling the table.
      Thread reporter = new Thread(() -> {
        long last = -1;
        try {
          while (true) {
            long now = handled.get();
            if (now != last) {
              synchronized (System.out) {
                System.out.println("handled " + now);
                System.out.flush();
              }
              last = now;
            }
            Thread.sleep(2);
          }
        } catch (InterruptedException e) {
          // stopping
        }
      }, "handled-reporter");
      reporter.setDaemon(true);
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      System.out.println("ready");
      System.out.flush();
      String line;
      while ((line = in.readLine()) != null) {
        if (line.equals("start")) {
          worker.start();
          reporter.start();
        } else if (line.equals("mark")) {
          long[] c = SharedSecrets.benchAccess().claimCounters(worker);
          synchronized (System.out) {
            System.out.println("marked " + handled.get() + " " + c[0] + " " + c[1]);
            System.out.flush();
          }
        } else if (line.equals("stop")) {
          break;
        }
      }
      // stop, or the parent died (stdin closed): stop gracefully either way. The counters are
      // read first: a closed worker no longer has them.
      long[] c = SharedSecrets.benchAccess().claimCounters(worker);
      worker.close();
      reporter.interrupt();
      synchronized (System.out) {
        System.out.println("claims " + c[0] + " " + c[1]);
        System.out.flush();
      }
    }
  }
}
