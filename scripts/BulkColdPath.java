import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.github.pgqueue.JacksonCodec;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobType;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.PayloadCodec;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

/**
 * The bulk enqueue in a JVM that has not run it before, as the shared workload's enqueue_bulk
 * phase meets it: 20,500 single enqueues first (the warm-up and enqueue_single phases, 4
 * producers, so the JSON encoding has run that often), then blocks of 20 batches of 1,000,
 * alternating {@code enqueueAll} (NOTIFY on) with core's own bulk insert of pre-built JSON text
 * without NOTIFY (BenchAccess.Raw.insertAll, the workload's raw_enqueue_bulk): lib, raw, lib, raw,
 * lib. For each block it prints the rate, the calling thread's CPU per batch, and, for enqueueAll,
 * the time in the payload codec per batch (the codec is the default Jackson one, wrapped in a
 * timer). The table is emptied and vacuumed (untimed) between blocks. Not part of the build; a
 * single-file program on the bench module's class path:
 *
 * <pre>
 * java -cp "$(cat cp.txt)" scripts/BulkColdPath.java JDBC_URL   # cp.txt: dependency:build-classpath of pgqueue-bench, plus its jars
 * </pre>
 *
 * Run it several times: each run is one fresh JVM, which is the point. It ends with the encode
 * alone in a loop once compiled (see {@link #steadyEncode}).
 *
 * <p>With {@code interleaved ROUNDS} after the URL it measures a warm JVM instead: per round, 5
 * batches of 1,000 each through {@code enqueueAll} with its NOTIFY, {@code enqueueAll} of a queue
 * built with {@code notify(false)}, and core's bare insert, rotating which goes first, the table
 * emptied and vacuumed (untimed) after each round; it prints the medians over the rounds (150
 * rounds take about half a minute). With {@code ramp} instead of a URL it needs no database: the
 * codec alone encodes 400,000 payloads in a fresh JVM, 1,000 at a time, printing the time of every
 * twentieth thousand (try it with -XX:+UseParallelGC or -Xms1g -Xmx1g -XX:+AlwaysPreTouch).
 */
public class BulkColdPath {
  public record Noop(long n) {}

  static long encodeNanos;

  public static void main(String[] args) throws Exception {
    if (args[0].equals("ramp")) {
      ramp();
      return;
    }
    HikariConfig hc = new HikariConfig();
    hc.setJdbcUrl(args[0]);
    hc.setMaximumPoolSize(10);
    JacksonCodec jackson = JacksonCodec.create();
    PayloadCodec timed = new PayloadCodec() {
      @Override
      public <T> String encode(JobType<T> type, T payload) throws Exception {
        long t = System.nanoTime();
        String s = jackson.encode(type, payload);
        if (Thread.currentThread().getName().equals("main")) {
          encodeNanos += System.nanoTime() - t;
        }
        return s;
      }

      @Override
      public <T> T decode(JobType<T> type, String json) throws Exception {
        return jackson.decode(type, json);
      }
    };
    if (args.length > 2 && args[1].equals("interleaved")) {
      interleaved(hc, Integer.parseInt(args[2]));
      return;
    }
    try (HikariDataSource ds = new HikariDataSource(hc)) {
      Migrator.create(ds).migrate();
      sql(ds, "TRUNCATE pgqueue.jobs");
      JobQueue queue = JobQueue.builder(ds).codec(timed).build();
      BenchAccess.Raw raw = SharedSecrets.benchAccess().raw(queue.schema());
      JobType<Noop> noop = JobType.of("noop", Noop.class);
      AtomicInteger next = new AtomicInteger();
      ExecutorService producers = Executors.newFixedThreadPool(4);
      List<Future<?>> fs = new ArrayList<>();
      for (int p = 0; p < 4; p++) {
        fs.add(producers.submit(() -> {
          int i;
          while ((i = next.getAndIncrement()) < 20_500) {
            queue.enqueue(noop, new Noop(i));
          }
          return null;
        }));
      }
      for (Future<?> f : fs) {
        f.get();
      }
      producers.shutdown();
      sql(ds, "DELETE FROM pgqueue.jobs", "VACUUM ANALYZE pgqueue.jobs");
      ThreadMXBean mx = ManagementFactory.getThreadMXBean();
      int from = 1_000_000;
      for (String block : new String[] {"enqueueAll", "raw", "enqueueAll", "raw", "enqueueAll"}) {
        encodeNanos = 0;
        long t0 = System.nanoTime();
        long c0 = mx.getCurrentThreadCpuTime();
        for (int b = 0; b < 20; b++, from += 1_000) {
          int f = from;
          if (block.equals("raw")) {
            try (Connection c = ds.getConnection()) {
              raw.insertAll(c, "noop", f, 1_000);
            }
          } else {
            queue.enqueueAll(noop, IntStream.range(f, f + 1_000).mapToObj(Noop::new).toList());
          }
        }
        System.out.printf("%-10s %,8.0f jobs/s  thread CPU %.2f ms a batch  codec %.2f ms a batch%n", block,
            20_000 * 1e9 / (System.nanoTime() - t0), (mx.getCurrentThreadCpuTime() - c0) / 20e6, encodeNanos / 20e6);
        sql(ds, "DELETE FROM pgqueue.jobs", "VACUUM ANALYZE pgqueue.jobs");
      }
    }
    steadyEncode(jackson);
  }

  /**
   * The same payloads encoded in a loop until the JIT has compiled it all (3,000,000 first), then
   * timed: through the codec, and straight through Jackson asking the mapper for a writer per
   * payload (what the codec did before it kept one per type) or keeping one.
   */
  private static void steadyEncode(JacksonCodec codec) throws Exception {
    JobType<Noop> noop = JobType.of("noop", Noop.class);
    com.fasterxml.jackson.databind.ObjectMapper mapper = JobQueue.defaultObjectMapper();
    com.fasterxml.jackson.databind.JavaType type = mapper.constructType(Noop.class);
    com.fasterxml.jackson.databind.ObjectWriter kept = mapper.writerFor(type);
    List<Noop> payloads = IntStream.range(0, 1_000).mapToObj(Noop::new).toList();
    long sink = 0;
    long[] nanos = new long[3];
    for (int round = 0; round < 6; round++) {
      for (int way = 0; way < 3; way++) {
        long t0 = System.nanoTime();
        for (int k = 0; k < 1_000; k++) {
          for (Noop p : payloads) {
            sink += (way == 0 ? codec.encode(noop, p)
                : way == 1 ? mapper.writerFor(type).writeValueAsString(p) : kept.writeValueAsString(p)).length();
          }
        }
        if (round >= 3) {
          nanos[way] += System.nanoTime() - t0;
        }
      }
    }
    System.out.printf("steady encode, µs per 1,000: the codec %.0f, a writer per payload %.0f, one kept writer %.0f (%d)%n",
        nanos[0] / 3e6, nanos[1] / 3e6, nanos[2] / 3e6, sink % 10);
  }

  private static void interleaved(HikariConfig hc, int rounds) throws Exception {
    try (HikariDataSource ds = new HikariDataSource(hc)) {
      Migrator.create(ds).migrate();
      sql(ds, "TRUNCATE pgqueue.jobs");
      JobQueue notifying = JobQueue.builder(ds).build();
      JobQueue silent = JobQueue.builder(ds).notify(false).build();
      BenchAccess.Raw raw = SharedSecrets.benchAccess().raw(notifying.schema());
      JobType<Noop> noop = JobType.of("noop", Noop.class);
      ThreadMXBean mx = ManagementFactory.getThreadMXBean();
      long[][] wall = new long[3][rounds];
      long[][] cpu = new long[3][rounds];
      int from = 0;
      for (int r = -1; r < rounds; r++) { // round -1: a warm-up, not kept
        for (int k = 0; k < 3; k++) {
          int way = (k + Math.max(r, 0)) % 3;
          long t0 = System.nanoTime();
          long c0 = mx.getCurrentThreadCpuTime();
          for (int b = 0; b < 5; b++, from += 1_000) {
            int f = from;
            if (way == 2) {
              try (Connection c = ds.getConnection()) {
                raw.insertAll(c, "noop", f, 1_000);
              }
            } else {
              (way == 0 ? notifying : silent).enqueueAll(noop, IntStream.range(f, f + 1_000).mapToObj(Noop::new).toList());
            }
          }
          if (r >= 0) {
            wall[way][r] = System.nanoTime() - t0;
            cpu[way][r] = mx.getCurrentThreadCpuTime() - c0;
          }
        }
        sql(ds, "DELETE FROM pgqueue.jobs", "VACUUM pgqueue.jobs");
      }
      double rawRate = 5_000 * 1e9 / median(wall[2]);
      String[] names = {"enqueueAll, NOTIFY", "enqueueAll, no NOTIFY", "core's bare insert"};
      for (int way = 0; way < 3; way++) {
        double rate = 5_000 * 1e9 / median(wall[way]);
        System.out.printf("%-22s %,8.0f jobs/s (%3.0f%% of the bare insert)  thread CPU %.2f ms a batch%n",
            names[way], rate, 100 * rate / rawRate, median(cpu[way]) / 5e6);
      }
    }
  }

  private static void ramp() throws Exception {
    JacksonCodec codec = JacksonCodec.create();
    JobType<Noop> noop = JobType.of("noop", Noop.class);
    StringBuilder out = new StringBuilder("µs per 1,000 encodes, at:");
    long sink = 0;
    for (int block = 0; block < 400; block++) {
      long t0 = System.nanoTime();
      for (int i = 0; i < 1_000; i++) {
        sink += codec.encode(noop, new Noop(block * 1_000L + i)).length();
      }
      if (block % 20 == 0) {
        out.append(String.format(" %dk %d", block, (System.nanoTime() - t0) / 1_000));
      }
    }
    System.out.println(out + " (" + sink % 10 + ")");
  }

  private static double median(long[] xs) {
    long[] s = xs.clone();
    java.util.Arrays.sort(s);
    return s[s.length / 2];
  }

  private static void sql(HikariDataSource ds, String... statements) throws Exception {
    try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
      for (String q : statements) {
        s.execute(q);
      }
    }
  }
}
