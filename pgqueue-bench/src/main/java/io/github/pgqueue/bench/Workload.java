package io.github.pgqueue.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.Worker;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * One run of the shared workload (docs/performance.md, "The workload") against one fresh database: setup, warm-up,
 * enqueue_single, process_c10, enqueue_bulk, process_c20, pickup_latency; then, on the same
 * database, the raw-SQL ceiling of the same statements.
 */
final class Workload {

  /** The job of the workload: name "noop", payload {"n": i}. */
  record Noop(long n) {}

  static final JobType<Noop> NOOP = JobType.of("noop", Noop.class);

  private final Bench.Options o;
  private final String url;
  private final String user;
  private final String password;

  // The driver's hook: a monotonic timestamp and a counter per handler call.
  private final AtomicLong handled = new AtomicLong();
  private final AtomicLong firstNanos = new AtomicLong();
  private final AtomicLong lastNanos = new AtomicLong();
  private volatile CountDownLatch sampleLatch;
  private volatile long sampleStartNanos;
  /** The breakdown's probe during the pickup phase with --latency-breakdown, else null. */
  private volatile PickupTrace trace;

  /** The worker's dedicated connection (LISTEN): PostgreSQL itself, even when url is a pooler. */
  private final String listenUrl;

  Workload(Bench.Options o, String url, String user, String password) {
    this(o, url, url, user, password);
  }

  Workload(Bench.Options o, String url, String listenUrl, String user, String password) {
    this.o = o;
    this.url = url;
    this.listenUrl = listenUrl;
    this.user = user;
    this.password = password;
  }

  void onJob(long n) {
    long now = System.nanoTime();
    if (handled.incrementAndGet() == 1) {
      firstNanos.set(now);
    }
    lastNanos.set(now);
    CountDownLatch l = sampleLatch;
    if (l != null) {
      sampleStartNanos = now;
      PickupTrace t = trace;
      if (t != null) {
        t.handler(now);
      }
      l.countDown();
    }
  }

  Map<String, Object> run() throws Exception {
    Map<String, Object> r = new LinkedHashMap<>();
    try (HikariDataSource pool = pool()) {
      Migrator.create(pool).migrate();
      JobQueue queue = JobQueue.builder(pool).notify(o.notify).build();

      // 1. warm-up: 500 single enqueues with 4 producers, processed at concurrency 10.
      enqueueSingle(queue, 500, 4, 0);
      process(pool, 10, 500, 1);
      BenchAccess.Raw raw = SharedSecrets.benchAccess().raw(queue.schema());

      // 2. enqueue_single
      long t0 = System.nanoTime();
      enqueueSingle(queue, o.n, 4, 1_000_000);
      r.put("enqueue_single", rate(o.n, System.nanoTime() - t0));

      // 3. process at the first concurrency
      checkpoint(pool);
      r.putAll(prefix("process_c" + o.concurrency.get(0), process(pool, o.concurrency.get(0), o.n, o.workerProcesses)));

      // 4. enqueue_bulk: 20 calls of 1,000
      long t1 = System.nanoTime();
      for (int call = 0; call < o.n / 1_000; call++) {
        int from = 2_000_000 + call * 1_000;
        queue.enqueueAll(NOOP, IntStream.range(from, from + 1_000).mapToObj(Noop::new).toList());
      }
      r.put("enqueue_bulk", rate(o.n, System.nanoTime() - t1));

      // 5. process at the second concurrency
      for (int k = 1; k < o.concurrency.size(); k++) {
        if (k > 1) { // more phases than the workload's two: refill with a bulk enqueue
          long base = 3_000_000L + (long) k * o.n;
          queue.enqueueAll(NOOP, IntStream.range(0, o.n).mapToObj(i -> new Noop(base + i)).toList());
        }
        checkpoint(pool);
        r.putAll(prefix("process_c" + o.concurrency.get(k), process(pool, o.concurrency.get(k), o.n, o.workerProcesses)));
      }

      // 5b. the last phase again, with a global concurrency limit above its concurrency: what the
      // controlled claim costs when the limit never binds (docs/flow-control.md).
      if (o.globalLimit != null) {
        int c = o.concurrency.get(o.concurrency.size() - 1);
        queue.enqueueAll(NOOP, IntStream.range(0, o.n).mapToObj(i -> new Noop(5_000_000L + i)).toList());
        queue.setConcurrencyLimit("default", o.globalLimit);
        checkpoint(pool);
        r.putAll(prefix("process_c" + c + "_limit" + o.globalLimit, process(pool, c, o.n, o.workerProcesses)));
        queue.removeConcurrencyLimit("default");
      }

      // 5c. the last phase twice more in one process, the throughput rollup off then on (the
      // library default is on): what counting outcomes in memory and the 10 s upsert cost.
      if (o.rollupCompare) {
        int c = o.concurrency.get(o.concurrency.size() - 1);
        for (boolean on : new boolean[] {false, true}) {
          long base = on ? 6_000_000L : 7_000_000L;
          queue.enqueueAll(NOOP, IntStream.range(0, o.n).mapToObj(i -> new Noop(base + i)).toList());
          checkpoint(pool);
          rollup = on;
          try {
            r.putAll(prefix("process_c" + c + "_rollup_" + (on ? "on" : "off"), process(pool, c, o.n, 1)));
          } finally {
            rollup = true;
          }
        }
      }

      // 5d. with --key-scale: the last phase again with keyed jobs (1,000 keys) under a per-key
      // limit of 2 and fairness on, the keyed claim end to end (it serialises the queue's claims
      // on the control row, as a global limit does).
      if (o.keyScale != null) {
        int c = o.concurrency.get(o.concurrency.size() - 1);
        queue.enqueueAll(IntStream.range(0, o.n).mapToObj(i -> io.github.pgqueue.NewJob.of(NOOP, new Noop(8_000_000L + i),
            io.github.pgqueue.EnqueueOptions.builder().concurrencyKey("k" + (i % 1_000)).build())).toList());
        queue.setKeyConcurrencyLimit("default", 2);
        queue.setKeyFairness("default", true);
        checkpoint(pool);
        r.putAll(prefix("process_c" + c + "_keyed", process(pool, c, o.n, o.workerProcesses)));
        queue.removeKeyConcurrencyLimit("default");
        queue.setKeyFairness("default", false);
      }

      // 5e. with --process-scaling: the first phase's concurrency again with 1, 2, 4, ...
      // processes, each at that concurrency, each count on a fresh backlog of n jobs, with a
      // profile of where the database spends the phase.
      if (o.processScaling != null) {
        r.putAll(processScaling(pool, queue));
      }

      // 6. pickup latency
      r.putAll(latency(pool, queue));

      // 7. the keyed claim at scale, on a backlog of its own (docs/flow-control.md).
      if (o.keyScale != null) {
        r.putAll(keyScale(pool, queue, raw, o.keyScale));
      }

      // The raw-SQL ceiling of the same statements, on the same database.
      if (o.ceiling) {
        r.putAll(ceiling(pool, raw));
      }
    }
    return r;
  }

  private HikariDataSource pool() {
    return pool(16, "bench");
  }

  private HikariDataSource pool(int size, String name) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(url);
    c.setUsername(user);
    c.setPassword(password);
    c.setMaximumPoolSize(size);
    c.setMinimumIdle(size);
    c.setPoolName(name);
    return new HikariDataSource(c);
  }

  private void enqueueSingle(JobQueue queue, int n, int producers, long base) throws Exception {
    AtomicInteger next = new AtomicInteger();
    ExecutorService ex = Executors.newFixedThreadPool(producers);
    try {
      List<Future<?>> fs = new ArrayList<>();
      for (int p = 0; p < producers; p++) {
        fs.add(ex.submit(() -> {
          int i;
          while ((i = next.getAndIncrement()) < n) {
            queue.enqueue(NOOP, new Noop(base + i));
          }
          return null;
        }));
      }
      for (Future<?> f : fs) {
        f.get();
      }
    } finally {
      ex.shutdown();
    }
  }

  /** Whether the next phase's worker runs the throughput rollup (the library default: on). */
  private boolean rollup = true;

  private Worker.Builder workerBuilder(HikariDataSource pool, int concurrency) {
    Worker.Builder b = Worker.builder(pool)
        .queue("default", concurrency)
        .dedicatedConnection(() -> DriverManager.getConnection(listenUrl, user, password))
        .handle(NOOP, (job, ctx) -> onJob(job.n()));
    if (o.bufferFactor != null) {
      b.bufferFactor(o.bufferFactor);
    }
    if (!rollup) {
      b.rollupInterval(java.time.Duration.ZERO);
    }
    return b;
  }

  /**
   * A processing phase: start the worker(s), wait for n handler calls, then for nothing
   * unfinished. With more than one process, every process runs at {@code concurrency} (the
   * phase's concurrency per process, not a share of it); the other processes are started and built
   * before the clock starts and released together with this one, so JVM start-up is not timed.
   */
  private Map<String, Object> process(HikariDataSource pool, int concurrency, int n, int processes) throws Exception {
    handled.set(0);
    List<WorkerChild.Handle> children = new ArrayList<>();
    // With --scaling-in-one-jvm, the scaling phases' other "processes" are workers of this JVM,
    // each with a pool and a dedicated connection of its own, as a process would have them.
    List<Worker> siblings = new ArrayList<>();
    List<HikariDataSource> siblingPools = new ArrayList<>();
    Worker worker = workerBuilder(pool, concurrency).build();
    Map<String, Object> r = new LinkedHashMap<>();
    try {
      for (int p = 1; p < processes; p++) {
        if (inOneJvm) {
          HikariDataSource own = pool(8, "sibling-" + p);
          siblingPools.add(own);
          siblings.add(workerBuilder(own, concurrency).build());
        } else {
          children.add(WorkerChild.start(url, user, password, concurrency, o.bufferFactor, rollup, o.childWarmUp));
        }
      }
      for (WorkerChild.Handle c : children) {
        c.awaitReady();
      }
      r.put("load1", loadAverage());
      // With a warm start, every worker runs the warm-up's jobs first; their counters at its end
      // are subtracted from the phase's: {handler calls, claim statements, claimed jobs}.
      long[][] base = new long[1 + siblings.size() + children.size()][3];
      Callable<Instant> load = warmLoad;
      if (load != null) {
        for (WorkerChild.Handle c : children) {
          c.go();
        }
        siblings.forEach(Worker::start);
        worker.start();
        warmUp(pool, children);
        base[0] = withHandled(0, SharedSecrets.benchAccess().claimCounters(worker));
        for (int i = 0; i < siblings.size(); i++) {
          base[1 + i] = withHandled(0, SharedSecrets.benchAccess().claimCounters(siblings.get(i)));
        }
        for (int i = 0; i < children.size(); i++) {
          base[1 + siblings.size() + i] = children.get(i).mark();
        }
        handled.set(0);
        Instant due = load.call();
        if (!awaitDatabaseClock(pool, due)) {
          r.put("late_start", true); // some of the jobs were due before the clock started
        }
      }
      if (phaseProfile != null) {
        phaseProfile.start(); // after the other JVMs' start-up, which is not the phase's
      }
      long t0 = System.nanoTime();
      if (load != null) {
        // The jobs are due now: wake every worker as an enqueue's commit does.
        try (Connection conn = pool.getConnection(); Statement st = conn.createStatement()) {
          st.execute("SELECT pg_notify('" + warmQueue.schema() + ".jobs', 'default')");
        }
      } else {
        for (WorkerChild.Handle c : children) {
          c.go();
        }
        siblings.forEach(Worker::start);
        worker.start();
      }
      long deadline = t0 + TimeUnit.SECONDS.toNanos(300);
      // The hook sees this process's calls; the other processes report theirs.
      long childBase = 0;
      for (int i = 0; i < children.size(); i++) {
        childBase += base[1 + siblings.size() + i][0];
      }
      long handlersDone;
      while (handled.get() + children.stream().mapToLong(WorkerChild.Handle::handled).sum() - childBase < n
          && System.nanoTime() < deadline) {
        Thread.sleep(1);
      }
      handlersDone = children.isEmpty() ? lastNanos.get() : System.nanoTime();
      while (pending(pool) > 0 && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      long end = System.nanoTime();
      if (phaseProfile != null) {
        phaseProfile.markEnd(); // while the other JVMs still run
      }
      if (end >= deadline) {
        r.put("timed_out", true);
      }
      r.put("rate", rate(n, end - t0));
      r.put("first_job_ms", ms(firstNanos.get() - t0));
      r.put("handlers_done_ms", ms(handlersDone - t0));
      long[] claims = SharedSecrets.benchAccess().claimCounters(worker);
      worker.close();
      long statements = claims[0] - base[0][1];
      long jobs = claims[1] - base[0][2];
      for (int i = 0; i < siblings.size(); i++) {
        long[] cc = SharedSecrets.benchAccess().claimCounters(siblings.get(i));
        siblings.get(i).close();
        statements += cc[0] - base[1 + i][1];
        jobs += cc[1] - base[1 + i][2];
      }
      for (int i = 0; i < children.size(); i++) {
        long[] cc = children.get(i).stop();
        statements += cc[0] - base[1 + siblings.size() + i][1];
        jobs += cc[1] - base[1 + siblings.size() + i][2];
      }
      children.clear();
      r.put("claims", statements);
      r.put("mean_claim", statements == 0 ? 0 : Math.round(10.0 * jobs / statements) / 10.0);
    } finally {
      worker.close();
      siblings.forEach(Worker::close);
      siblingPools.forEach(HikariDataSource::close);
      for (WorkerChild.Handle c : children) {
        c.kill();
      }
    }
    // The load figure goes last, apart from the phase's own figures.
    Object load = r.remove("load1");
    r.put("load1", load);
    return r;
  }

  /** The profile the next processing phase starts when its clock starts, if any. */
  private Profile phaseProfile;

  /** Whether the next processing phase runs its other workers in this JVM (--scaling-in-one-jvm). */
  private boolean inOneJvm;

  /**
   * With --scaling-warm-up, the next processing phase's warm start: called once the phase's
   * workers have run the warm-up, it enqueues the phase's jobs to become due together and returns
   * when (the database clock); the phase's clock starts then.
   */
  private Callable<Instant> warmLoad;

  /** The queue the warm-up enqueues on. */
  private JobQueue warmQueue;

  /** Warm-up job numbers: apart from every phase's. */
  private long warmUpBase = 90_000_000_000L;

  /**
   * Runs --scaling-warm-up jobs through the started workers of a warm start, on the phase's own
   * table (the phase's jobs are not enqueued yet), and waits until none is left.
   */
  private void warmUp(HikariDataSource pool, List<WorkerChild.Handle> children) throws Exception {
    int w = o.scalingWarmUp;
    for (int from = 0; from < w; from += 1_000) {
      long first = warmUpBase + from;
      warmQueue.enqueueAll(NOOP, IntStream.range(0, Math.min(1_000, w - from)).mapToObj(i -> new Noop(first + i)).toList());
    }
    warmUpBase += w;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
    while (handled.get() + children.stream().mapToLong(WorkerChild.Handle::handled).sum() < w
        && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    while (pending(pool) > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    if (System.nanoTime() >= deadline) {
      throw new IllegalStateException("the warm-up did not finish its " + w + " jobs in 300 s");
    }
  }

  /**
   * Enqueues a process-scaling phase's {@code n} jobs, numbered from {@code first}, due now or at
   * {@code due}, then vacuums the table and checkpoints: every count starts on a table as clean.
   */
  private static void enqueuePhase(HikariDataSource pool, JobQueue queue, int n, long first, Instant due)
      throws SQLException {
    io.github.pgqueue.EnqueueOptions options = due == null ? io.github.pgqueue.EnqueueOptions.DEFAULTS
        : io.github.pgqueue.EnqueueOptions.builder().runAt(due).build();
    for (int call = 0; call < n / 1_000; call++) {
      long from = first + call * 1_000L;
      queue.enqueueAll(NOOP, IntStream.range(0, 1_000).mapToObj(i -> new Noop(from + i)).toList(), options);
    }
    try (Connection conn = pool.getConnection(); Statement st = conn.createStatement()) {
      st.execute("VACUUM " + queue.schema() + ".jobs");
    }
    checkpoint(pool);
  }

  /** Sleeps until the database clock reaches {@code due}; false if it had already passed it. */
  private static boolean awaitDatabaseClock(HikariDataSource pool, Instant due) throws Exception {
    long waitMicros;
    try (Connection c = pool.getConnection();
        java.sql.PreparedStatement ps = c.prepareStatement("SELECT (extract(epoch FROM ?::timestamptz - clock_timestamp()) * 1e6)::bigint")) {
      ps.setObject(1, java.time.OffsetDateTime.ofInstant(due, java.time.ZoneOffset.UTC));
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        waitMicros = rs.getLong(1);
      }
    }
    if (waitMicros <= 0) {
      return false;
    }
    TimeUnit.MICROSECONDS.sleep(waitMicros);
    return true;
  }

  /** A worker's claim counters with its handler calls in front, as a child's {@code mark} has them. */
  private static long[] withHandled(long handledCalls, long[] claims) {
    return new long[] {handledCalls, claims[0], claims[1]};
  }

  /** The process-scaling phases; each prints its profile as it ends. */
  private Map<String, Object> processScaling(HikariDataSource pool, JobQueue queue) throws Exception {
    Map<String, Object> r = new LinkedHashMap<>();
    int c = o.concurrency.get(0);
    try (Profile profile = Profile.open(url, user, password)) {
      long base = 9_000_000L;
      int n = o.scalingN != null ? o.scalingN : o.n;
      Map<Integer, Integer> seen = new java.util.HashMap<>();
      for (int k : o.processScaling) {
        long phaseBase = base;
        base += n;
        if (o.scalingWarmUp > 0) {
          // Due after a margin for the enqueue, the vacuum and the checkpoint (about 3 s per
          // 100,000 jobs here); a phase whose load overran it reports late_start.
          warmQueue = queue;
          warmLoad = () -> {
            Instant due = databaseNow(pool).plusMillis(3_000 + n / 20L);
            enqueuePhase(pool, queue, n, phaseBase, due);
            return due;
          };
        } else {
          enqueuePhase(pool, queue, n, phaseBase, null);
        }
        int occurrence = seen.merge(k, 1, Integer::sum);
        String phase = Bench.scalingPhase(c, k, occurrence);
        Map<String, Object> m;
        phaseProfile = profile;
        inOneJvm = o.scalingInOneJvm;
        try {
          m = process(pool, c, n, k);
        } finally {
          phaseProfile = null;
          inOneJvm = false;
          warmLoad = null;
        }
        String unit = o.scalingInOneJvm ? (k == 1 ? " worker" : " workers in one JVM")
            : (k == 1 ? " process" : " processes");
        System.out.print(profile.stop(phase + " (" + k + unit + " at concurrency " + c
            + " each, load " + m.get("load1") + ")", n));
        r.putAll(prefix(phase, m));
      }
    }
    return r;
  }

  /** The machine's 1-minute load average before a phase (Linux), or -1 where unknown. */
  static double loadAverage() {
    try {
      String s = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg"));
      return Double.parseDouble(s.split(" ")[0]);
    } catch (Exception e) {
      return -1;
    }
  }

  private Map<String, Object> latency(HikariDataSource pool, JobQueue queue) throws Exception {
    if (pending(pool) > 0) {
      // Only when fewer processing phases ran than the workload has: drain, unmeasured.
      process(pool, 20, (int) pending(pool), 1);
    }
    checkpoint(pool);
    Worker worker = workerBuilder(pool, 10).build();
    worker.start();
    // With --latency-breakdown: samples alternate between the library default (a JobQueue's own
    // commit wakes this JVM's worker in-process) and the NOTIFY path alone, o.samples of each, and
    // core's probe timestamps every sample's way to its handler.
    boolean compare = o.latencyBreakdown;
    PickupTrace probe = compare ? new PickupTrace() : null;
    List<Double> samples = new ArrayList<>();
    List<Double> notifyOnly = new ArrayList<>();
    List<PickupTrace.Sample> localTrace = new ArrayList<>();
    List<PickupTrace.Sample> notifyTrace = new ArrayList<>();
    int timeouts = 0;
    int notifyTimeouts = 0;
    BenchAccess access = SharedSecrets.benchAccess();
    if (compare) {
      trace = probe;
      access.probe(probe);
    }
    try {
      Thread.sleep(1_000);
      Mulberry32 gaps = new Mulberry32(42);
      long phaseEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(compare ? 240 : 120);
      int total = compare ? 2 * o.samples : o.samples;
      for (int i = 0; i < total && System.nanoTime() < phaseEnd && timeouts + notifyTimeouts < 3; i++) {
        boolean local = !compare || i % 2 == 0;
        access.localWake(queue, local);
        Thread.sleep((int) Math.floor(gaps.next() * 100));
        CountDownLatch latch = new CountDownLatch(1);
        sampleLatch = latch;
        long t0 = System.nanoTime();
        PickupTrace.Sample traced = compare ? probe.begin(t0) : null;
        queue.enqueue(NOOP, new Noop(5_000_000L + i));
        if (latch.await(10, TimeUnit.SECONDS)) {
          (local ? samples : notifyOnly).add((sampleStartNanos - t0) / 1e6);
          if (compare) {
            (local ? localTrace : notifyTrace).add(traced);
          }
        } else if (local) {
          timeouts++;
        } else {
          notifyTimeouts++;
        }
        sampleLatch = null;
        if (compare) {
          probe.end();
        }
      }
    } finally {
      access.localWake(queue, true);
      if (compare) {
        access.probe(null);
        trace = null;
      }
      worker.close();
    }
    Map<String, Object> r = new LinkedHashMap<>();
    percentiles(r, "latency", samples, timeouts);
    if (compare) {
      percentiles(r, "latency_notify_only", notifyOnly, notifyTimeouts);
      Map<String, List<PickupTrace.Sample>> modes = new LinkedHashMap<>();
      modes.put("in-process wake", localTrace);
      modes.put("NOTIFY only", notifyTrace);
      System.out.println(PickupTrace.table(modes));
    }
    return r;
  }

  private static void percentiles(Map<String, Object> r, String prefix, List<Double> samples, int timeouts) {
    double[] s = samples.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    r.put(prefix + "_p50_ms", round(nearestRank(s, 50)));
    r.put(prefix + "_p90_ms", round(nearestRank(s, 90)));
    r.put(prefix + "_p99_ms", round(nearestRank(s, 99)));
    r.put(prefix + "_max_ms", round(s.length == 0 ? Double.NaN : s[s.length - 1]));
    r.put(prefix + "_mean_ms", round(Arrays.stream(s).average().orElse(Double.NaN)));
    r.put(prefix + "_n", s.length);
    r.put(prefix + "_timeouts", timeouts);
  }

  /** The same statements in tight loops over JDBC, one connection each, no library machinery. */
  /** Claims per timing in {@link #keyScale}, and how many jobs each asks for. */
  static final int KEY_SCALE_CLAIMS = 30;
  static final int KEY_SCALE_LIMIT = 50;

  /**
   * The scale case of per-key concurrency: {@code keys} keys with one due job each, and one key
   * ("hot") with keys / 10 due jobs older than all of them and one running, under a limit of 1 per
   * key. Rows are written by SQL with the ranks the enqueue gives them (the hot key enqueued first
   * into an empty queue: ranks 0, 1, 2, ...; each other key then lands at the head, rank 0), which
   * takes seconds instead of the minutes a million enqueues take. Times three claims of {@link
   * #KEY_SCALE_LIMIT} jobs, each rolled back so every claim sees the same backlog, interleaved:
   * the unkeyed claim (the ordinary statement), the keyed claim in fair order, and the keyed claim
   * in the ordinary order (which must skip the hot key's backlog). Reports the median ms of each.
   */
  private Map<String, Object> keyScale(HikariDataSource pool, JobQueue queue, BenchAccess.Raw raw, int keys)
      throws Exception {
    int hot = Math.max(1, keys / 10);
    String q = "keyscale";
    try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
      String s = queue.schema();
      st.execute("INSERT INTO " + s + ".jobs (name, queue, payload, run_at, concurrency_key, key_rank)"
          + " SELECT 'noop', '" + q + "', '{}', now() - interval '2 hours' + i * interval '1 microsecond', 'hot', i"
          + " FROM generate_series(0, " + (hot - 1) + ") i");
      st.execute("INSERT INTO " + s + ".jobs (name, queue, payload, run_at, concurrency_key, key_rank)"
          + " SELECT 'noop', '" + q + "', '{}', now() - interval '1 hour' + i * interval '1 microsecond', 'k' || i, 0"
          + " FROM generate_series(1, " + keys + ") i");
      st.execute("VACUUM ANALYZE " + s + ".jobs");
    }
    long owner;
    try (Connection c = pool.getConnection()) {
      owner = raw.registerWorker(c, "noop");
    }
    try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
      // The hot key is at its limit: one of its jobs runs.
      st.execute("UPDATE " + queue.schema() + ".jobs SET state = 'running', attempt = 1, locked_by = " + owner
          + ", lock_token = 0, locked_at = now() WHERE id = (SELECT min(id) FROM " + queue.schema()
          + ".jobs WHERE queue = '" + q + "')");
    }
    queue.setKeyConcurrencyLimit(q, 1);
    List<Double> unkeyed = new ArrayList<>();
    List<Double> fair = new ArrayList<>();
    List<Double> ordinary = new ArrayList<>();
    List<Double> controlled = new ArrayList<>();
    int keyedTook = 0;
    int hotTook = 0;
    try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
      c.setAutoCommit(false);
      for (int i = 0; i < KEY_SCALE_CLAIMS + 3; i++) {
        boolean warm = i < 3;
        long t0 = System.nanoTime();
        raw.claim(c, q, "noop", KEY_SCALE_LIMIT, owner);
        long t1 = System.nanoTime();
        c.rollback();
        queue.setKeyFairness(q, true);
        long t2 = System.nanoTime();
        List<Long> ids = raw.claimControlled(c, q, "noop", KEY_SCALE_LIMIT, owner);
        long t3 = System.nanoTime();
        keyedTook = ids.size();
        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM " + queue.schema()
            + ".jobs WHERE concurrency_key = 'hot' AND state = 'running'")) {
          rs.next();
          hotTook = rs.getInt(1);
        }
        c.rollback();
        queue.setKeyFairness(q, false);
        long t4 = System.nanoTime();
        raw.claimControlled(c, q, "noop", KEY_SCALE_LIMIT, owner);
        long t5 = System.nanoTime();
        c.rollback();
        // The controlled claim without keys (a global limit that never binds): the row lock's
        // round trip, which every controlled claim pays, apart from the per-key rule's own cost.
        queue.removeKeyConcurrencyLimit(q);
        queue.setConcurrencyLimit(q, 1_000_000);
        long t6 = System.nanoTime();
        raw.claimControlled(c, q, "noop", KEY_SCALE_LIMIT, owner);
        long t7 = System.nanoTime();
        c.rollback();
        queue.removeConcurrencyLimit(q);
        queue.setKeyConcurrencyLimit(q, 1);
        if (!warm) {
          controlled.add((t7 - t6) / 1e6);
          unkeyed.add((t1 - t0) / 1e6);
          fair.add((t3 - t2) / 1e6);
          ordinary.add((t5 - t4) / 1e6);
        }
      }
    } finally {
      queue.removeKeyConcurrencyLimit(q);
      try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
        st.execute("DELETE FROM " + queue.schema() + ".jobs WHERE queue = '" + q + "'");
        raw.deregisterWorker(c, owner);
      }
    }
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("key_scale_unkeyed_claim_ms", median(unkeyed));
    r.put("key_scale_keyed_fair_claim_ms", median(fair));
    r.put("key_scale_keyed_ordinary_claim_ms", median(ordinary));
    r.put("key_scale_controlled_unkeyed_claim_ms", median(controlled));
    System.out.printf(Locale.ROOT,
        "KEY SCALE: %d keys + hot key with %d due ahead (limit 1 per key, hot running), claims of %d, median of %d:"
            + " unkeyed %.2f ms, keyed fair %.2f ms (%.1fx), keyed ordinary order %.2f ms (%.1fx),"
            + " controlled without keys (row lock + claim) %.2f ms (%.1fx);"
            + " the keyed claim took %d jobs, %d of the hot key running%n",
        keys, hot, KEY_SCALE_LIMIT, KEY_SCALE_CLAIMS, median(unkeyed), median(fair), median(fair) / median(unkeyed),
        median(ordinary), median(ordinary) / median(unkeyed), median(controlled), median(controlled) / median(unkeyed),
        keyedTook, hotTook);
    return r;
  }

  static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    s.sort(null);
    return s.get(s.size() / 2);
  }

  private Map<String, Object> ceiling(HikariDataSource pool, BenchAccess.Raw raw) throws Exception {
    Map<String, Object> r = new LinkedHashMap<>();
    String name = "noop_raw";
    // Single inserts, 4 threads, each on its own connection, autocommit, without NOTIFY.
    for (boolean notify : new boolean[] {false, true}) {
      AtomicInteger next = new AtomicInteger();
      ExecutorService ex = Executors.newFixedThreadPool(4);
      long t0 = System.nanoTime();
      List<Future<?>> fs = new ArrayList<>();
      for (int p = 0; p < 4; p++) {
        fs.add(ex.submit(() -> {
          try (Connection c = pool.getConnection()) {
            int i;
            while ((i = next.getAndIncrement()) < o.n) {
              raw.insert(c, name, i, notify);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : fs) {
        f.get();
      }
      ex.shutdown();
      r.put(notify ? "raw_enqueue_single_notify_every" : "raw_enqueue_single", rate(o.n, System.nanoTime() - t0));
      clear(pool);
    }
    // Bulk: 20 batches of 1,000, each one statement in autocommit, as enqueueAll runs them.
    try (Connection c = pool.getConnection()) {
      long t0 = System.nanoTime();
      for (int call = 0; call < o.n / 1_000; call++) {
        raw.insertAll(c, name, call * 1_000, 1_000);
      }
      r.put("raw_enqueue_bulk", rate(o.n, System.nanoTime() - t0));
    }
    clear(pool);
    // Claim-then-delete loops at fixed batch sizes, one connection, autocommit; then the same
    // loops completing and claiming in one round trip: each statement deletes the previous batch
    // and claims the next, committing durably (it writes outcomes), where the first loop pays two
    // round trips and a durable commit for the delete only.
    for (boolean oneTrip : new boolean[] {false, true}) {
      for (int batch : o.ceilingBatches) {
        try (Connection c = pool.getConnection()) {
          c.setAutoCommit(false);
          raw.insertAll(c, name, 0, o.n);
          c.commit();
          c.setAutoCommit(true);
          analyze(c);
          long owner = raw.registerWorker(c, name);
          checkpoint(pool);
          long t0 = System.nanoTime();
          int done = 0;
          int got;
          while ((got = oneTrip ? raw.completeAndClaim(c, name, batch, owner)
              : raw.claimAndComplete(c, name, batch, owner)) > 0) {
            done += got;
          }
          long t1 = System.nanoTime();
          try (Statement st = c.createStatement(); java.sql.ResultSet rs = st.executeQuery("SELECT count(*) FROM pgqueue.jobs")) {
            rs.next();
            if (done != o.n || rs.getLong(1) != 0) {
              throw new IllegalStateException("the ceiling's loop at batch " + batch + (oneTrip ? " in one round trip" : "")
                  + " claimed " + done + " of " + o.n + " jobs and left " + rs.getLong(1) + " undeleted");
            }
          }
          r.put((oneTrip ? "raw_process_1rt_b" : "raw_process_b") + batch, rate(done, t1 - t0));
        }
        clear(pool);
      }
    }
    return r;
  }

  /** A data source on {@code url} whose database holds pgqueue's schema, migrated now. */
  static org.postgresql.ds.PGSimpleDataSource migrated(String url, String user, String password) {
    org.postgresql.ds.PGSimpleDataSource ds = new org.postgresql.ds.PGSimpleDataSource();
    ds.setUrl(url);
    ds.setUser(user);
    ds.setPassword(password);
    Migrator.create(ds, Migrator.DEFAULT_SCHEMA).migrate();
    return ds;
  }

  /**
   * Statistics of the table the loop starts on, as autovacuum would take them: the statistics of an
   * earlier phase (a drained or tiny queue) made a prepared THE CLAIM keep a plan that sorted the
   * whole queue on every claim, and the loop ran at a tenth of its rate (docs/performance.md).
   */
  private static void analyze(Connection c) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute("ANALYZE pgqueue.jobs");
    }
  }

  private static void clear(HikariDataSource pool) throws SQLException {
    try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
      st.execute("DELETE FROM pgqueue.jobs; DELETE FROM pgqueue.workers");
      st.execute("VACUUM pgqueue.jobs");
    }
  }

  private static Instant databaseNow(HikariDataSource pool) throws SQLException {
    try (Connection c = pool.getConnection(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT clock_timestamp()")) {
      rs.next();
      return rs.getObject(1, java.time.OffsetDateTime.class).toInstant();
    }
  }

  private static long pending(HikariDataSource pool) throws SQLException {
    try (Connection c = pool.getConnection(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM pgqueue.jobs")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static void checkpoint(HikariDataSource pool) throws SQLException {
    try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
      st.execute("CHECKPOINT");
    }
  }

  private static Map<String, Object> prefix(String p, Map<String, Object> m) {
    Map<String, Object> out = new LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k.equals("rate") ? p : p + "_" + k, v));
    return out;
  }

  static double nearestRank(double[] sorted, double pct) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    int rank = (int) Math.ceil(pct / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  private static long rate(long n, long nanos) {
    return Math.round(n / (nanos / 1e9));
  }

  private static long ms(long nanos) {
    return Math.round(nanos / 1e6);
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
