package io.github.pgqueue.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.Backoff;
import io.github.pgqueue.EnqueueOptions;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.Worker;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;

/**
 * The soak run: steady enqueue and processing, with some failing jobs, on ONE long-lived jobs
 * table, for a set time. Every interval it prints throughput, pickup latency (p50/p99 from
 * {@code run_at} to the handler's start, first attempts only), the claim's cost (the claim
 * statement timed on a probe queue, and EXPLAIN ANALYZE of the claim's SELECT on the busy queue:
 * time and shared buffers touched, which grow with dead index entries), the table's and indexes'
 * size, live and dead tuples, autovacuum runs, and the JVM heap after a GC; at the end a summary
 * that says whether memory, table size and claim cost plateaued (second half against first half).
 *
 * <pre>
 * Soak [--minutes M | --seconds S] [--report-every S] [--rate JOBS_PER_S] [--fail-percent P]
 *      [--concurrency N] [--url JDBC_URL --user U --password P] [--schema S]
 * </pre>
 *
 * Without {@code --url} it starts an embedded PostgreSQL of its own (fsync off, as in the tests)
 * and drops it at the end. With {@code --url} it uses schema {@code pgqueue_soak} (migrated if
 * needed) and deletes leftover soak jobs first. scripts/soak.sh wraps it. A benchmark, not a test:
 * it asserts nothing about time; the caller judges the summary.
 */
public final class Soak {

  /** A soak job: its number, and how long the handler works. */
  public record Work(long seq, int workMillis) {}

  static final JobType<Work> SOAK = JobType.of("soak", Work.class);
  static final JobType<Work> PROBE = JobType.of("soak_probe", Work.class);
  static final String PROBE_QUEUE = "soak-probe";

  /** Settings of one run. */
  public record Options(
      Duration duration, Duration reportEvery, int rate, int failPercent, int concurrency,
      String url, String user, String password, String schema) {

    static Options parse(String... args) {
      Duration duration = Duration.ofMinutes(10);
      Duration every = null;
      int rate = 500;
      int fail = 5;
      int concurrency = 20;
      String url = null;
      String user = System.getProperty("user.name");
      String password = System.getenv("PGPASSWORD");
      String schema = "pgqueue_soak";
      for (int i = 0; i < args.length; i++) {
        String v = i + 1 < args.length ? args[i + 1] : null;
        if (v == null) {
          throw new IllegalArgumentException("missing value after " + args[i]);
        }
        switch (args[i]) {
          case "--minutes" -> duration = Duration.ofSeconds(Math.round(Double.parseDouble(v) * 60));
          case "--seconds" -> duration = Duration.ofSeconds(Long.parseLong(v));
          case "--report-every" -> every = Duration.ofSeconds(Long.parseLong(v));
          case "--rate" -> rate = Integer.parseInt(v);
          case "--fail-percent" -> fail = Integer.parseInt(v);
          case "--concurrency" -> concurrency = Integer.parseInt(v);
          case "--url" -> url = v;
          case "--user" -> user = v;
          case "--password" -> password = v;
          case "--schema" -> schema = v;
          default -> throw new IllegalArgumentException("unknown option: " + args[i]);
        }
        i++;
      }
      if (every == null) {
        // About 20 to 60 report lines, at least 5 s apart.
        every = Duration.ofSeconds(Math.max(5, Math.min(30, duration.toSeconds() / 30)));
      }
      if (rate < 10 || rate > 100_000) {
        throw new IllegalArgumentException("--rate must be between 10 and 100000, got: " + rate);
      }
      return new Options(duration, every, rate, fail, concurrency, url, user, password, schema);
    }
  }

  /** One report line. */
  public record Sample(
      double seconds, double enqueuedPerSec, double donePerSec, double retriesPerSec, long discarded,
      long depth, double pickupP50, double pickupP99, double claimMillis, double probeClaimMillis,
      long claimBuffers, long tableBytes, long indexBytes, long liveTuples, long deadTuples,
      long autovacuums, long heapBytes) {}

  /** What the run measured, and the plateau verdicts. */
  public record Summary(
      List<Sample> samples, long enqueued, long succeeded, long retried, long discarded, double pickupP99,
      boolean tablePlateaued, boolean heapPlateaued, boolean claimPlateaued, long leftOver) {}

  private final Options o;
  private final PrintStream out;
  private final AtomicLong enqueued = new AtomicLong();
  private final AtomicLong succeeded = new AtomicLong();
  private final AtomicLong retried = new AtomicLong();
  private final AtomicLong discarded = new AtomicLong();
  private final AtomicLong seq = new AtomicLong();
  private final ConcurrentLinkedQueue<Long> pickups = new ConcurrentLinkedQueue<>();
  /**
   * Pickup latencies of the whole run, in 10 µs buckets up to 10 s (the last bucket holds the rest):
   * a fixed-size array, so the driver's own bookkeeping does not grow the heap the soak measures.
   */
  private final long[] allPickups = new long[1_000_000];

  private Soak(Options o, PrintStream out) {
    this.o = o;
    this.out = out;
  }

  public static void main(String[] args) throws Exception {
    Summary s = run(Options.parse(args), System.out);
    System.exit(s.leftOver() == 0 ? 0 : 1);
  }

  /** Runs a soak with the given options, printing to {@code out}. */
  public static Summary run(Options o, PrintStream out) throws Exception {
    TestPostgres server = null;
    TestDatabase db = null;
    String url = o.url();
    String user = o.user();
    String password = o.password();
    String schema = o.schema();
    if (url == null) {
      out.println("soak: starting an embedded PostgreSQL (fsync off) of its own");
      server = TestPostgres.startEmbedded();
      db = server.createDatabase("pgqueue");
      url = db.jdbcUrl();
      user = db.user();
      password = db.password();
      schema = Migrator.DEFAULT_SCHEMA;
    }
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(url);
    hc.setUsername(user);
    hc.setPassword(password);
    hc.setMaximumPoolSize(o.concurrency() + 6);
    hc.setConnectionTimeout(5_000);
    hc.setPoolName("soak");
    try (HikariDataSource ds = new HikariDataSource(hc)) {
      return new Soak(o, out).run(ds, schema);
    } finally {
      if (server != null) {
        server.close();
      }
    }
  }

  private Summary run(HikariDataSource ds, String schema) throws Exception {
    Migrator.create(ds, schema).migrate();
    try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
      st.executeUpdate("DELETE FROM " + schema + ".jobs WHERE name IN ('soak', 'soak_probe')");
      try (ResultSet rs = st.executeQuery("SELECT version(), current_setting('autovacuum_naptime')")) {
        rs.next();
        out.printf("soak: %s; autovacuum_naptime %s%n", rs.getString(1), rs.getString(2));
      }
    }
    out.printf("soak: %s at %d jobs/s (10%% single enqueues, 90%% in batches), %d%% of attempts fail"
            + " (3 attempts, 100 ms backoff), concurrency %d, one table %s.jobs, report every %d s%n",
        o.duration(), o.rate(), o.failPercent(), o.concurrency(), schema, o.reportEvery().toSeconds());

    JobQueue queue = JobQueue.builder(ds).schema(schema).build();
    Worker worker = Worker.builder(queue)
        .queue("default", o.concurrency())
        .backoff(Backoff.fixed(Duration.ofMillis(100)))
        .listener(e -> {
          switch (e.kind()) {
            case SUCCEEDED -> succeeded.incrementAndGet();
            case RETRIED -> retried.incrementAndGet();
            case DISCARDED -> discarded.incrementAndGet();
            default -> { }
          }
        })
        .handle(SOAK, (w, ctx) -> {
          if (ctx.attempt() == 1) {
            pickups.add(Duration.between(ctx.runAt(), Instant.now()).toNanos() / 1_000);
          }
          if (w.workMillis() > 0) {
            Thread.sleep(w.workMillis());
          }
          if (ThreadLocalRandom.current().nextInt(100) < o.failPercent()) {
            throw new IllegalStateException("planned soak failure");
          }
        })
        .build();
    worker.start();

    EnqueueOptions options = EnqueueOptions.builder().maxAttempts(3).build();
    ScheduledExecutorService producer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "soak-producer");
      t.setDaemon(true);
      return t;
    });
    int perTick = Math.max(1, o.rate() / 50);
    int singles = Math.max(1, perTick / 10);
    producer.scheduleAtFixedRate(() -> {
      try {
        for (int i = 0; i < singles; i++) {
          queue.enqueue(SOAK, next(), options);
        }
        queue.enqueueAll(SOAK, IntStream.range(singles, perTick).mapToObj(i -> next()).toList(), options);
        enqueued.addAndGet(perTick);
      } catch (RuntimeException e) {
        out.println("soak: enqueue failed: " + e);
      }
    }, 0, 20, TimeUnit.MILLISECONDS);

    List<Sample> samples = new ArrayList<>();
    out.println();
    out.println("    s  enq/s  done/s retry/s  disc  depth  p50ms  p99ms claimMs probeMs bufs  table_kB  index_kB    live    dead  avac heap_MB");
    long t0 = System.nanoTime();
    long end = t0 + o.duration().toNanos();
    long last = t0;
    long lastEnq = 0;
    long lastDone = 0;
    long lastRetried = 0;
    while (System.nanoTime() < end) {
      long wakeAt = Math.min(end, last + o.reportEvery().toNanos());
      TimeUnit.NANOSECONDS.sleep(Math.max(0, wakeAt - System.nanoTime()));
      long now = System.nanoTime();
      double dt = (now - last) / 1e9;
      Sample s = sample(ds, schema, (now - t0) / 1e9,
          (enqueued.get() - lastEnq) / dt, (succeeded.get() - lastDone) / dt, (retried.get() - lastRetried) / dt);
      samples.add(s);
      print(s);
      last = now;
      lastEnq = enqueued.get();
      lastDone = succeeded.get();
      lastRetried = retried.get();
    }
    producer.shutdownNow();
    producer.awaitTermination(10, TimeUnit.SECONDS);
    // Let the worker finish what is due (retries of the last failures included).
    long drainUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    long leftOver;
    while ((leftOver = count(ds, "SELECT count(*) FROM " + schema + ".jobs WHERE name = 'soak' AND state <> 'discarded'")) > 0
        && System.nanoTime() < drainUntil) {
      TimeUnit.MILLISECONDS.sleep(200);
    }
    worker.close();
    return summarize(samples, leftOver);
  }

  private Work next() {
    long n = seq.incrementAndGet();
    return new Work(n, (int) (n % 3));
  }

  private Sample sample(HikariDataSource ds, String schema, double seconds, double enqPerSec, double donePerSec,
      double retryPerSec) throws SQLException {
    List<Long> p = new ArrayList<>();
    for (Long v; (v = pickups.poll()) != null; ) {
      p.add(v);
    }
    p.sort(null);
    synchronized (allPickups) {
      for (long micros : p) {
        allPickups[(int) Math.min(allPickups.length - 1, Math.max(0, micros / 10))]++;
      }
    }
    double[] claim = explainClaim(ds, schema);
    double probe = probeClaim(ds, schema);
    long table;
    long index;
    long live;
    long dead;
    long autovacuums;
    try (Connection c = ds.getConnection(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(
            "SELECT pg_total_relation_size(relid), pg_indexes_size(relid), n_live_tup, n_dead_tup,"
                + " autovacuum_count FROM pg_stat_user_tables WHERE relid = '" + schema + ".jobs'::regclass")) {
      rs.next();
      table = rs.getLong(1);
      index = rs.getLong(2);
      live = rs.getLong(3);
      dead = rs.getLong(4);
      autovacuums = rs.getLong(5);
    }
    long depth = count(ds, "SELECT count(*) FROM " + schema + ".jobs WHERE state = 'available' AND name = 'soak'");
    System.gc();
    long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    return new Sample(seconds, enqPerSec, donePerSec, retryPerSec, discarded.get(), depth,
        percentile(p, 50) / 1000.0, percentile(p, 99) / 1000.0, claim[0], probe, (long) claim[1],
        table, index, live, dead, autovacuums, heap);
  }

  /** EXPLAIN ANALYZE of the claim's SELECT (without its row locks) on the busy queue: ms and buffers. */
  private static double[] explainClaim(HikariDataSource ds, String schema) throws SQLException {
    String sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM " + schema + ".jobs"
        + " WHERE state = 'available' AND queue = 'default' AND run_at <= now() AND name = ANY('{soak}')"
        + " ORDER BY priority DESC, run_at, id LIMIT 10";
    try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      JsonNode plan = new ObjectMapper().readTree(rs.getString(1)).get(0);
      JsonNode top = plan.get("Plan");
      return new double[] {
        plan.get("Execution Time").asDouble(),
        top.get("Shared Hit Blocks").asLong() + top.get("Shared Read Blocks").asLong()
      };
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The claim statement itself (pgqueue-core's, run through BenchAccess), timed over JDBC on a
   * probe queue no worker serves: 10 probe jobs enqueued, claimed in one statement, then deleted.
   */
  private static double probeClaim(HikariDataSource ds, String schema) throws SQLException {
    JobQueue q = JobQueue.builder(ds).schema(schema).notify(false).build();
    q.enqueueAll(PROBE, IntStream.range(0, 10).mapToObj(i -> new Work(-i, 0)).toList(),
        EnqueueOptions.builder().queue(PROBE_QUEUE).build());
    BenchAccess.Raw raw = SharedSecrets.benchAccess().raw(schema);
    try (Connection c = ds.getConnection()) {
      long owner = raw.registerWorker(c, PROBE.name());
      long t = System.nanoTime();
      List<Long> ids = raw.claim(c, PROBE_QUEUE, PROBE.name(), 10, owner);
      double ms = (System.nanoTime() - t) / 1e6;
      raw.deregisterWorker(c, owner);
      try (PreparedStatement del = c.prepareStatement("DELETE FROM " + schema + ".jobs WHERE id = ANY(?)")) {
        del.setArray(1, c.createArrayOf("int8", ids.toArray()));
        del.executeUpdate();
      }
      return ms;
    }
  }

  private static long count(HikariDataSource ds, String sql) throws SQLException {
    try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private void print(Sample s) {
    out.printf(Locale.ROOT, "%5.0f %6.0f %7.0f %7.1f %5d %6d %6.1f %6.1f %7.2f %7.2f %4d %9d %9d %7d %7d %5d %7.1f%n",
        s.seconds(), s.enqueuedPerSec(), s.donePerSec(), s.retriesPerSec(), s.discarded(), s.depth(),
        s.pickupP50(), s.pickupP99(), s.claimMillis(), s.probeClaimMillis(), s.claimBuffers(),
        s.tableBytes() / 1024, s.indexBytes() / 1024, s.liveTuples(), s.deadTuples(), s.autovacuums(),
        s.heapBytes() / 1048576.0);
    out.flush();
  }

  private Summary summarize(List<Sample> samples, long leftOver) {
    double p99;
    synchronized (allPickups) {
      p99 = histogramPercentile(allPickups, 99) * 10 / 1000.0;
    }
    int half = samples.size() / 2;
    List<Sample> first = samples.subList(0, Math.max(1, half));
    List<Sample> second = samples.subList(Math.min(half, samples.size() - 1), samples.size());
    // Plateau: the second half's worst stays within 25% (plus a little slack for small numbers)
    // of the first half's worst. Growth without bound shows as a second half well above the first.
    boolean table = plateau("table + indexes (kB)", first, second, s -> s.tableBytes() / 1024.0, 1024);
    boolean heap = plateau("JVM heap after GC (MB)", first, second, s -> s.heapBytes() / 1048576.0, 16);
    boolean claim = plateau("claim SELECT buffers", first, second, Sample::claimBuffers, 50);
    plateau("claim statement on the probe queue (ms)", first, second, Sample::probeClaimMillis, 2);
    double secs = samples.isEmpty() ? 1 : samples.get(samples.size() - 1).seconds();
    out.printf(Locale.ROOT,
        "%nsoak summary: %d enqueued, %d succeeded (%.0f/s), %d retries, %d discarded after 3 attempts;"
            + " pickup p99 over the run %.1f ms; %d soak jobs left undone after the drain%n",
        enqueued.get(), succeeded.get(), succeeded.get() / secs, retried.get(), discarded.get(), p99, leftOver);
    out.printf("soak verdict: table size %s, heap %s, claim cost %s%n",
        table ? "plateaued" : "GREW", heap ? "plateaued" : "GREW", claim ? "plateaued" : "GREW");
    return new Summary(samples, enqueued.get(), succeeded.get(), retried.get(), discarded.get(), p99,
        table, heap, claim, leftOver);
  }

  private boolean plateau(String what, List<Sample> first, List<Sample> second, ToDoubleFunction<Sample> f,
      double slack) {
    double a = first.stream().mapToDouble(f).max().orElse(0);
    double b = second.stream().mapToDouble(f).max().orElse(0);
    boolean ok = b <= a * 1.25 + slack;
    out.printf(Locale.ROOT, "soak plateau: %-40s first half max %10.1f, second half max %10.1f: %s%n",
        what, a, b, ok ? "plateaued" : "GREW");
    return ok;
  }

  /** Nearest-rank percentile of a bucket histogram: the bucket index holding that rank. */
  static long histogramPercentile(long[] buckets, int pct) {
    long total = 0;
    for (long b : buckets) {
      total += b;
    }
    if (total == 0) {
      return 0;
    }
    long rank = (long) Math.ceil(pct / 100.0 * total);
    long seen = 0;
    for (int i = 0; i < buckets.length; i++) {
      seen += buckets[i];
      if (seen >= rank) {
        return i;
      }
    }
    return buckets.length - 1;
  }

  private static double percentile(List<Long> sorted, int pct) {
    if (sorted.isEmpty()) {
      return Double.NaN;
    }
    int i = (int) Math.ceil(pct / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }

}
