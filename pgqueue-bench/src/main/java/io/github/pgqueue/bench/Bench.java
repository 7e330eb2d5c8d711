package io.github.pgqueue.bench;

import io.github.pgqueue.testing.postgres.TestPostgres;
import io.github.pgqueue.testsupport.PgBouncer;
import java.net.URI;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Runs the shared benchmark workload (the contract is in {@code docs/performance.md}, "The workload") against pgqueue and
 * prints a markdown table (median and min-max of the repeats, and each run) plus one JSON line.
 * Each repeat runs on a freshly created database. Without {@code --url} it starts an embedded
 * PostgreSQL. Asserts nothing; it measures.
 *
 * <pre>
 * --url JDBC_URL        a database the user may CREATE DATABASE from (default: embedded)
 * --repeats N           runs, each on a fresh database (default 3)
 * --n N                 jobs per phase (default 20000)
 * --concurrency A,B     the two processing phases (default 10,20)
 * --samples N           pickup latency samples (default 200)
 * --worker-processes N  worker processes in every processing phase, EACH at the phase's
 *                       concurrency (so 2 processes at c10 run 20 slots; splitting a fixed total
 *                       would shrink each claim and confound the result); the others are
 *                       separate JVMs, started and built before the clock starts (default 1)
 * --process-scaling A,B also process the first phase's concurrency again with A, B, ... worker
 *                       processes, each at that concurrency, each on a fresh backlog of --n jobs,
 *                       reported as process_cC_xA, process_cC_xB beside the first count's figure
 *                       and the ceiling; prints a profile of each (pg_stat_activity wait events
 *                       sampled every 25 ms, WAL per job, and the top statements when the server
 *                       loads pg_stat_statements: PGQUEUE_BENCH_STATEMENTS=on
 *                       scripts/bench-postgres.sh). A count may repeat (1,2,4,4,2,1 evens out
 *                       the order); its later phases are reported as process_cC_xA_r2, ...
 * --scaling-n N         jobs per process-scaling phase (default: --n)
 * --scaling-in-one-jvm  the process-scaling phases run their workers in the driver's JVM instead
 *                       of separate processes (each with its own pool and dedicated connection):
 *                       the database sees the same clients without the other JVMs' CPU
 * --child-warm-up N     jobs each other worker process runs before it reports ready, on a schema
 *                       of its own that it then drops, so that its JIT has compiled the claim,
 *                       dispatch and completion paths as the driver's JVM has (default 0: they
 *                       start cold; 30000 measured the same, docs/scaling.md)
 * --scaling-warm-up N   each process-scaling phase first runs N jobs through all its workers
 *                       together, on the phase's own table and unmeasured; the phase's jobs are
 *                       then enqueued to become due at one instant, when its clock starts, so the
 *                       phase measures processes whose JIT has seen the phase's own paths
 * --notify on|off       enqueue NOTIFY (default on)
 * --buffer-factor N     the worker's bufferFactor (default: the library default)
 * --global-limit N      also process the last phase again with a global concurrency limit of N
 *                       on the queue (docs/flow-control.md), reported as process_cC_limitN
 * --rollup-compare      also process the last phase twice more in one process, with the worker's
 *                       throughput rollup off then on, reported as process_cC_rollup_off and
 *                       process_cC_rollup_on (docs/performance.md)
 * --key-scale KEYS     also time the keyed claim at scale (docs/flow-control.md): KEYS distinct
 *                       keys with one due job each, behind one saturated key (limit 1 per key, one
 *                       job running) with KEYS / 10 due jobs ahead of all others; prints the keyed
 *                       claim (fair and ordinary order) beside the unkeyed claim on the same backlog;
 *                       and process the last phase again with keyed jobs (1,000 keys, limit 2 per
 *                       key, fairness on), reported as process_cC_keyed
 * --partitioning        instead of the workload: the partitioning experiment (PartitionBench,
 *                       docs/scaling.md): pgqueue's claim-then-delete loop and VACUUM on the jobs
 *                       table and on a copy list-partitioned by state, each holding --discarded N
 *                       discarded jobs (default 200000), over --rounds R rounds (default 5) of --n
 *                       available jobs each
 * --backlog N           instead of the workload: claim and single-insert cost on big, old tables
 *                       (BacklogBench): an otherwise small table, then with N due jobs of an
 *                       unhandled name ahead, 50 N discarded jobs, 10 N due jobs over 100 queues
 *                       and 200 names (medians of 30 in ms); then a worker's claim-and-delete
 *                       rounds while a transaction stays open and while 50 N discarded jobs are
 *                       pruned (at most a minute), each for --backlog-seconds S (default 30) beside the same span
 *                       undisturbed (a worker's own pruning in three spans alternating with three
 *                       undisturbed ones)
 * --bulk-methods        instead of the workload: time the ways of inserting a batch (BulkMethods:
 *                       unnest, multi-row VALUES, binary COPY with and without ids, the function
 *                       enqueue_all_v1) on 1,000- and 10,000-job batches, keyed and unkeyed, over
 *                       --rounds R alternating rounds (default 5); medians in jobs/s
 * --claim-forms         instead of the workload: time THE CLAIM as the prepared statement and as
 *                       the function claim_v2 (what a worker calls), claims of 50 alternating on
 *                       one connection, on queues of 500, 20,000 and 200,000 due jobs, 100 claims
 *                       of each form per --rounds R (default 5) (ClaimForms); medians in ms
 * --latency-breakdown   the pickup phase takes --samples samples twice, alternating: with the
 *                       in-process wake-up (the default: the enqueuing JobQueue's commit wakes this
 *                       JVM's worker) and with NOTIFY alone (reported as latency_notify_only_*);
 *                       and prints where each sample's milliseconds went, segment by segment
 * --prepare-threshold N also run the workload (and its ceiling) with pgjdbc's prepareThreshold=N
 *                       on every connection, on a fresh database after the default run, reported
 *                       as ptN_...; N = 0 is what a transaction-mode pooler without prepared
 *                       statements needs (docs/performance.md)
 * --pgbouncer           also run the workload (and its ceiling) through a real PgBouncer in
 *                       transaction mode (/usr/sbin/pgbouncer, started here) with prepareThreshold=0,
 *                       the worker's LISTEN connection going to PostgreSQL directly, reported as
 *                       pgbouncer_...
 * Each variant's figures are printed beside the same run's default figures and its ceiling.
 * --no-ceiling          skip the raw-SQL ceiling
 * --ceiling-batches A,B claim sizes of the raw claim-then-delete loop (default 10,20,50,100)
 * --dashboard           instead of the workload: load 1,000,000 available and 200,000 discarded
 *                       jobs and print the time of each dashboard page and JSON call (DashboardBench)
 * </pre>
 */
public final class Bench {

  static final class Options {
    String url;
    int repeats = 3;
    int n = 20_000;
    List<Integer> concurrency = List.of(10, 20);
    int samples = 200;
    int workerProcesses = 1;
    boolean notify = true;
    Integer bufferFactor;
    Integer globalLimit;
    boolean rollupCompare;
    Integer keyScale;
    List<Integer> processScaling;
    Integer scalingN;
    boolean scalingInOneJvm;
    int childWarmUp;
    int scalingWarmUp;
    boolean partitioning;
    boolean bulkMethods;
    boolean claimForms;
    Integer backlog;
    int backlogSeconds = 30;
    int discarded = 200_000;
    int rounds = 5;
    boolean latencyBreakdown;
    boolean ceiling = true;
    List<Integer> ceilingBatches = List.of(10, 20, 50, 100);
    Integer prepareThreshold;
    boolean pgbouncer;

    /** The variants after the default run, as (key prefix, label). */
    List<String[]> variants() {
      List<String[]> v = new ArrayList<>();
      if (prepareThreshold != null) {
        v.add(new String[] {"pt" + prepareThreshold + "_", "prepareThreshold=" + prepareThreshold});
      }
      if (pgbouncer) {
        v.add(new String[] {"pgbouncer_", "PgBouncer (transaction), prepareThreshold=0"});
      }
      return v;
    }

    Map<String, Object> describe() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("n", n);
      m.put("repeats", repeats);
      m.put("concurrency", concurrency);
      m.put("worker_processes", workerProcesses);
      m.put("notify", notify);
      m.put("buffer_factor", bufferFactor == null ? "default" : bufferFactor);
      if (globalLimit != null) {
        m.put("global_limit", globalLimit);
      }
      if (rollupCompare) {
        m.put("rollup_compare", true);
      }
      if (keyScale != null) {
        m.put("key_scale", keyScale);
      }
      if (workerProcesses > 1 || processScaling != null) {
        m.put("child_warm_up", childWarmUp);
      }
      if (processScaling != null) {
        m.put("process_scaling", processScaling);
        if (scalingWarmUp > 0) {
          m.put("scaling_warm_up", scalingWarmUp);
        }
        if (scalingInOneJvm) {
          m.put("scaling_in_one_jvm", true);
        }
      }
      if (latencyBreakdown) {
        m.put("latency_breakdown", true);
      }
      if (prepareThreshold != null) {
        m.put("prepare_threshold", prepareThreshold);
      }
      if (pgbouncer) {
        m.put("pgbouncer", "transaction");
      }
      return m;
    }
  }

  /** One experiment's run on a database of its own: (url, {user, password}) to its figures. */
  interface Experiment {
    Map<String, Object> run(String url, String[] credentials) throws Exception;
  }

  /**
   * Runs an experiment that replaces the workload ({@code --backlog}, {@code --bulk-methods}, {@code --claim-forms},
   * {@code --partitioning}) on a fresh database of the server, dropped afterwards; prints the
   * server and load, its table ({@code table}), and its JSON line.
   */
  private static void experiment(String adminUrl, String version, String dbPrefix, String what,
      Experiment experiment, java.util.function.Consumer<Map<String, Object>> table) throws Exception {
    String db = dbPrefix + System.currentTimeMillis();
    try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + db);
    }
    try {
      double load = Workload.loadAverage();
      Map<String, Object> r = experiment.run(withDatabase(adminUrl, db), credentials(adminUrl));
      System.out.println("PostgreSQL " + version + ", " + Runtime.getRuntime().availableProcessors()
          + " cores, load before " + load + " (1 min), after " + Workload.loadAverage()
          + (what == null ? "" : "; " + what));
      table.accept(r);
      System.out.println("JSON " + toJson(r));
    } finally {
      try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
        st.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
      }
    }
  }

  public static void main(String[] args) throws Exception {
    if (java.util.Arrays.asList(args).contains("--dashboard")) {
      java.util.List<String> rest = new ArrayList<>(java.util.Arrays.asList(args));
      rest.remove("--dashboard");
      int u = rest.indexOf("--url");
      DashboardBench.main(u >= 0 && u + 1 < rest.size() ? rest.get(u + 1) : null);
      return;
    }
    Options o = parse(args);
    TestPostgres embedded = null;
    String adminUrl = o.url;
    if (adminUrl == null) {
      embedded = TestPostgres.startEmbedded();
      adminUrl = embedded.jdbcUrl("postgres") + "?user=" + embedded.user();
    }
    try {
      String version;
      try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SHOW server_version")) {
        rs.next();
        version = rs.getString(1);
      }
      if (o.backlog != null) {
        experiment(adminUrl, version, "pgqueue_backlog_", "N = " + o.backlog + "; medians of 30, ms",
            (url, cred) -> BacklogBench.run(url, cred[0], cred[1], o.backlog, o.backlogSeconds), r -> {
              System.out.println("\n| table | claim of 20 | share of empty | claim by name | share of empty | single insert | share of empty |"
                  + "\n|---|---|---|---|---|---|---|");
              double c0 = (Double) r.get("backlog_empty_claim_ms");
              double i0 = (Double) r.get("backlog_empty_insert_ms");
              for (String k : new String[] {"empty", "unhandled", "discarded", "many_queues"}) {
                double cl = (Double) r.get("backlog_" + k + "_claim_ms");
                double bn = (Double) r.get("backlog_" + k + "_by_name_ms");
                double in = (Double) r.get("backlog_" + k + "_insert_ms");
                System.out.printf("| %s | %.2f | %.0f%% | %.2f | %.0f%% | %.2f | %.0f%% |%n", k, cl, 100 * cl / c0, bn,
                    100 * bn / (Double) r.get("backlog_empty_by_name_ms"), in, 100 * in / i0);
              }
              System.out.printf("%nclaim and delete of 20 from a churning queue's head, %s s each (%s rounds held), ms:%n"
                  + "| | first tenth | last tenth |%n|---|---|---|%n| undisturbed | %s | %s |%n"
                  + "| a transaction open throughout | %s | %s |%n",
                  r.get("backlog_hold_seconds"), r.get("backlog_hold_rounds"),
                  r.get("backlog_nohold_first_ms"), r.get("backlog_nohold_last_ms"),
                  r.get("backlog_hold_first_ms"), r.get("backlog_hold_last_ms"));
              System.out.printf("held, last tenth: mean %s ms, p99 %s ms; claims that started at a cursor: %s held,"
                  + " %s undisturbed%n",
                  r.get("backlog_hold_last_mean_ms"), r.get("backlog_hold_last_p99_ms"),
                  r.get("backlog_hold_claims_after_cursor"), r.get("backlog_nohold_claims_after_cursor"));
              System.out.printf("%n| | p50 | p99 |%n|---|---|---|%n| beside 50 N discarded | %s | %s |%n"
                  + "| while a worker's maintenance prunes them (%s pruned, %s/s) | %s | %s |%n"
                  + "| while they are pruned as fast as one session can (%s pruned, %s/s) | %s | %s |%n",
                  r.get("backlog_before_pruning_p50_ms"), r.get("backlog_before_pruning_p99_ms"),
                  r.get("backlog_paced_pruning_pruned"), r.get("backlog_paced_pruning_per_s"),
                  r.get("backlog_paced_pruning_p50_ms"), r.get("backlog_paced_pruning_p99_ms"),
                  r.get("backlog_pruning_pruned"), r.get("backlog_pruning_per_s"),
                  r.get("backlog_pruning_p50_ms"), r.get("backlog_pruning_p99_ms"));
            });
        return;
      }
      if (o.bulkMethods) {
        experiment(adminUrl, version, "pgqueue_bulk_", "medians of " + o.rounds + " rounds, jobs/s",
            (url, cred) -> BulkMethods.run(url, cred[0], cred[1], o.rounds), r -> {
              System.out.println("\n| method | 1,000 | 1,000 keyed | 10,000 | 10,000 keyed |\n|---|---|---|---|---|");
              for (String m : BulkMethods.METHODS) {
                System.out.println("| " + m + " | " + r.getOrDefault("bulk_" + m + "_1000", "-") + " | "
                    + r.getOrDefault("bulk_" + m + "_1000_keyed", "-") + " | " + r.getOrDefault("bulk_" + m + "_10000", "-")
                    + " | " + r.getOrDefault("bulk_" + m + "_10000_keyed", "-") + " |");
              }
            });
        return;
      }
      if (o.claimForms) {
        experiment(adminUrl, version, "pgqueue_claim_forms_", "claims of 50, medians of " + (100 * o.rounds) + " per form, ms",
            (url, cred) -> ClaimForms.run(url, cred[0], cred[1], o.rounds), r -> {
              System.out.println("\n| queue | the statement, prepared | claim_v2 | statement / claim_v2 |\n|---|---|---|---|");
              for (int size : ClaimForms.SIZES) {
                double st = (Double) r.get("claim_statement_" + size + "_ms");
                double fn = (Double) r.get("claim_function_" + size + "_ms");
                System.out.printf(Locale.ROOT, "| %d | %.3f | %.3f | %.0f%% |%n", size, st, fn, 100 * st / fn);
              }
            });
        return;
      }
      if (o.partitioning) {
        experiment(adminUrl, version, "pgqueue_partition_", null,
            (url, cred) -> PartitionBench.run(url, cred[0], cred[1], o.discarded, o.n, o.rounds), r -> { });
        return;
      }
      List<Map<String, Object>> runs = new ArrayList<>();
      String admin = adminUrl;
      PgBouncer bouncer = null;
      try {
        if (o.pgbouncer) {
          URI u = URI.create(adminUrl.substring("jdbc:".length()));
          // 20 server connections: above the workload's 16 client connections, so clients never
          // queue in PgBouncer for a server connection.
          bouncer = PgBouncer.start(u.getHost(), u.getPort() > 0 ? u.getPort() : 5432, credentials(adminUrl)[0],
              "transaction", 20);
          System.err.println("PgBouncer (transaction mode) on port " + bouncer.port);
        }
        for (int i = 0; i < o.repeats; i++) {
          Map<String, Object> run = runOnFreshDatabase(o, admin, i, "", db -> withDatabase(admin, db), null);
          if (o.prepareThreshold != null) {
            run.putAll(runOnFreshDatabase(o, admin, i, "pt" + o.prepareThreshold + "_",
                db -> withParameter(withDatabase(admin, db), "prepareThreshold=" + o.prepareThreshold), null));
          }
          if (bouncer != null) {
            PgBouncer b = bouncer;
            String[] cred = credentials(admin);
            run.putAll(runOnFreshDatabase(o, admin, i, "pgbouncer_",
                db -> b.jdbcUrl(db, "prepareThreshold=0" + (cred[0] == null ? "" : "&user=" + cred[0])
                    + (cred[1] == null ? "" : "&password=" + cred[1])),
                db -> withDatabase(admin, db)));
          }
          runs.add(run);
        }
      } finally {
        if (bouncer != null) {
          bouncer.close();
        }
      }
      print(o, version, embedded != null ? "embedded" : "given", runs);
    } finally {
      if (embedded != null) {
        embedded.close();
      }
    }
  }

  /**
   * One workload run on a database created for it and dropped after: pgqueue's connections (and the
   * ceiling's) use {@code url(db)}, the worker's LISTEN connection {@code listenUrl(db)} (the same
   * when null). Keys get {@code prefix}.
   */
  private static Map<String, Object> runOnFreshDatabase(Options o, String adminUrl, int repeat, String prefix,
      java.util.function.Function<String, String> url, java.util.function.Function<String, String> listenUrl)
      throws Exception {
    String db = "pgqueue_bench_" + System.currentTimeMillis();
    try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + db);
    }
    try {
      String[] cred = credentials(adminUrl);
      System.err.printf("run %d/%d%s on %s%n", repeat + 1, o.repeats, prefix.isEmpty() ? "" : " (" + prefix + ")", db);
      // The workload's limit: a whole run is killed after 900 s.
      Thread killer = new Thread(() -> {
        try {
          Thread.sleep(900_000);
          System.err.println("run exceeded 900 s: killed, as the workload prescribes");
          Runtime.getRuntime().halt(3);
        } catch (InterruptedException e) {
          // the run finished in time
        }
      }, "run-deadline");
      killer.setDaemon(true);
      killer.start();
      String u = url.apply(db);
      Map<String, Object> r = new Workload(o, u, listenUrl == null ? u : listenUrl.apply(db), cred[0], cred[1]).run();
      killer.interrupt();
      Map<String, Object> out = new LinkedHashMap<>();
      r.forEach((k, v) -> out.put(prefix + k, v));
      return out;
    } finally {
      try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
        st.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
      }
    }
  }

  static String withParameter(String url, String parameter) {
    return url + (url.contains("?") ? "&" : "?") + parameter;
  }

  private static void print(Options o, String version, String server, List<Map<String, Object>> runs) {
    LinkedHashSet<String> keys = new LinkedHashSet<>();
    runs.forEach(r -> keys.addAll(r.keySet()));
    StringBuilder sb = new StringBuilder();
    sb.append("\n## pgqueue on the shared workload\n\n");
    sb.append("PostgreSQL ").append(version).append(" (").append(server).append("), ")
        .append(Runtime.getRuntime().availableProcessors()).append(" cores, Java ")
        .append(System.getProperty("java.version")).append(", settings ").append(o.describe()).append("\n\n");
    sb.append("| metric | median | min-max |");
    for (int i = 0; i < runs.size(); i++) {
      sb.append(" run ").append(i + 1).append(" |");
    }
    sb.append("\n|---|---|---|").append("---|".repeat(runs.size())).append('\n');
    Map<String, Object> medians = new LinkedHashMap<>();
    for (String k : keys) {
      double[] vs = runs.stream().map(r -> r.get(k)).filter(v -> v instanceof Number)
          .mapToDouble(v -> ((Number) v).doubleValue()).sorted().toArray();
      if (vs.length == 0) {
        continue;
      }
      double median = vs[vs.length / 2];
      medians.put(k, median);
      sb.append("| ").append(k).append(" | ").append(fmt(median)).append(" | ")
          .append(fmt(vs[0])).append("-").append(fmt(vs[vs.length - 1])).append(" |");
      for (Map<String, Object> r : runs) {
        sb.append(' ').append(r.containsKey(k) ? fmt(((Number) r.get(k)).doubleValue()) : "").append(" |");
      }
      sb.append('\n');
    }
    sb.append("\nShare of the raw-SQL ceiling (median pgqueue / median raw):\n\n");
    share(sb, medians, "enqueue_single", "raw_enqueue_single");
    share(sb, medians, "enqueue_bulk", "raw_enqueue_bulk");
    for (int c : o.concurrency) {
      Object mean = medians.get("process_c" + c + "_mean_claim");
      if (mean != null) {
        int b = nearestBatch(o.ceilingBatches, ((Number) mean).doubleValue());
        share(sb, medians, "process_c" + c, "raw_process_b" + b);
        share(sb, medians, "process_c" + c, "raw_process_1rt_b" + b);
      }
    }
    if (o.globalLimit != null) {
      int c = o.concurrency.get(o.concurrency.size() - 1);
      if (medians.get("process_c" + c + "_limit" + o.globalLimit) instanceof Number a
          && medians.get("process_c" + c) instanceof Number b && b.doubleValue() > 0) {
        sb.append("- process_c").append(c).append("_limit").append(o.globalLimit).append(": ")
            .append(Math.round(100 * a.doubleValue() / b.doubleValue()))
            .append("% of process_c").append(c).append(" without a limit (same run)\n");
      }
    }
    if (o.processScaling != null) {
      int c = o.concurrency.get(0);
      String one = scalingPhase(c, o.processScaling.get(0), 1);
      Map<Integer, Integer> seen = new java.util.HashMap<>();
      for (int k : o.processScaling) {
        String name = scalingPhase(c, k, seen.merge(k, 1, Integer::sum));
        if (medians.get(name) instanceof Number a) {
          List<String> parts = new ArrayList<>();
          if (!name.equals(one) && medians.get(one) instanceof Number b && b.doubleValue() > 0) {
            parts.add(Math.round(100 * a.doubleValue() / b.doubleValue()) + "% of " + one + " (same run)");
          }
          Object mean = medians.get(name + "_mean_claim");
          if (mean != null) {
            String raw = "raw_process_b" + nearestBatch(o.ceilingBatches, ((Number) mean).doubleValue());
            if (medians.get(raw) instanceof Number b && b.doubleValue() > 0) {
              parts.add(Math.round(100 * a.doubleValue() / b.doubleValue()) + "% of " + raw + " (one connection)");
            }
          }
          if (!parts.isEmpty()) {
            sb.append("- ").append(name).append(": ").append(String.join("; ", parts)).append('\n');
          }
        }
      }
    }
    if (o.rollupCompare) {
      int c = o.concurrency.get(o.concurrency.size() - 1);
      if (medians.get("process_c" + c + "_rollup_on") instanceof Number on
          && medians.get("process_c" + c + "_rollup_off") instanceof Number off && off.doubleValue() > 0) {
        sb.append("- process_c").append(c).append("_rollup_on: ")
            .append(Math.round(100 * on.doubleValue() / off.doubleValue()))
            .append("% of process_c").append(c).append("_rollup_off (same run)\n");
      }
    }
    if (!o.variants().isEmpty()) {
      compare(sb, o, medians);
    }
    System.out.println(sb);
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("system", "pgqueue");
    json.put("postgres", version);
    json.put("settings", o.describe());
    json.put("median", medians);
    json.put("runs", runs);
    System.out.println("JSON " + toJson(json));
  }

  /** The name of a process-scaling phase: the second run of the same count gets {@code _r2}, and so on. */
  static String scalingPhase(int concurrency, int processes, int occurrence) {
    return "process_c" + concurrency + "_x" + processes + (occurrence == 1 ? "" : "_r" + occurrence);
  }

  /**
   * Each variant's figures beside the same run's default figures (share in %, higher is better for
   * rates; for latencies the variant's value over the default's) and the default run's ceiling.
   */
  static void compare(StringBuilder sb, Options o, Map<String, Object> medians) {
    sb.append("\nWithout server-side prepared statements, beside the same run's default (medians):\n\n");
    sb.append("| metric | default |");
    for (String[] v : o.variants()) {
      sb.append(' ').append(v[1]).append(" | share |");
    }
    sb.append(" ceiling (default) |\n|---|---|").append("---|---|".repeat(o.variants().size())).append("---|\n");
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"enqueue_single", "raw_enqueue_single"});
    rows.add(new String[] {"enqueue_bulk", "raw_enqueue_bulk"});
    for (int c : o.concurrency) {
      Object mean = medians.get("process_c" + c + "_mean_claim");
      String raw = mean instanceof Number n ? "raw_process_b" + nearestBatch(o.ceilingBatches, n.doubleValue()) : null;
      rows.add(new String[] {"process_c" + c, raw});
    }
    if (o.globalLimit != null) {
      int c = o.concurrency.get(o.concurrency.size() - 1);
      rows.add(new String[] {"process_c" + c + "_limit" + o.globalLimit, "process_c" + c});
    }
    rows.add(new String[] {"latency_p50_ms", null});
    rows.add(new String[] {"latency_p99_ms", null});
    for (String[] row : rows) {
      if (!(medians.get(row[0]) instanceof Number base)) {
        continue;
      }
      sb.append("| ").append(row[0]).append(" | ").append(fmt(base.doubleValue())).append(" |");
      for (String[] v : o.variants()) {
        Object x = medians.get(v[0] + row[0]);
        if (x instanceof Number n && base.doubleValue() > 0) {
          sb.append(' ').append(fmt(n.doubleValue())).append(" | ")
              .append(Math.round(100 * n.doubleValue() / base.doubleValue())).append("% |");
        } else {
          sb.append(" | |");
        }
      }
      Object ceiling = row[1] == null ? null : medians.get(row[1]);
      sb.append(' ').append(ceiling instanceof Number n ? fmt(n.doubleValue()) + " (" + row[1] + ")" : "").append(" |\n");
    }
  }

  private static void share(StringBuilder sb, Map<String, Object> m, String ours, String raw) {
    if (m.get(ours) instanceof Number a && m.get(raw) instanceof Number b && b.doubleValue() > 0) {
      sb.append(String.format(Locale.ROOT, "- %s: %.0f%% of %s%n", ours, 100 * a.doubleValue() / b.doubleValue(), raw));
    }
  }

  private static int nearestBatch(List<Integer> batches, double mean) {
    return batches.stream().min((a, b) -> Double.compare(Math.abs(a - mean), Math.abs(b - mean))).orElse(10);
  }

  private static String fmt(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.2f", v);
  }

  @SuppressWarnings("unchecked")
  static String toJson(Object v) {
    if (v instanceof Map<?, ?> m) {
      return m.entrySet().stream().map(e -> "\"" + e.getKey() + "\":" + toJson(e.getValue()))
          .collect(Collectors.joining(",", "{", "}"));
    }
    if (v instanceof List<?> l) {
      return l.stream().map(Bench::toJson).collect(Collectors.joining(",", "[", "]"));
    }
    if (v instanceof Number || v instanceof Boolean) {
      return v.toString().equals("NaN") ? "null" : v.toString();
    }
    return "\"" + String.valueOf(v).replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  static String withDatabase(String url, String db) {
    URI u = URI.create(url.substring("jdbc:".length()));
    String query = u.getRawQuery() == null ? "" : "?" + u.getRawQuery();
    return "jdbc:postgresql://" + u.getHost() + ":" + (u.getPort() > 0 ? u.getPort() : 5432) + "/" + db + query;
  }

  /** user and password from the URL's parameters (the driver reads them from the URL too). */
  static String[] credentials(String url) {
    String user = null;
    String password = null;
    URI u = URI.create(url.substring("jdbc:".length()));
    if (u.getRawQuery() != null) {
      for (String kv : u.getRawQuery().split("&")) {
        String[] p = kv.split("=", 2);
        if (p[0].equals("user")) {
          user = p.length > 1 ? p[1] : "";
        } else if (p[0].equals("password")) {
          password = p.length > 1 ? p[1] : "";
        }
      }
    }
    return new String[] {user, password};
  }

  static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String v = i + 1 < args.length ? args[i + 1] : null;
      switch (a) {
        case "--url" -> { o.url = v; i++; }
        case "--repeats" -> { o.repeats = Integer.parseInt(v); i++; }
        case "--n" -> { o.n = Integer.parseInt(v); i++; }
        case "--concurrency" -> { o.concurrency = ints(v); i++; }
        case "--samples" -> { o.samples = Integer.parseInt(v); i++; }
        case "--worker-processes" -> { o.workerProcesses = Integer.parseInt(v); i++; }
        case "--notify" -> { o.notify = v.equals("on"); i++; }
        case "--buffer-factor" -> { o.bufferFactor = Integer.parseInt(v); i++; }
        case "--global-limit" -> { o.globalLimit = Integer.parseInt(v); i++; }
        case "--rollup-compare" -> o.rollupCompare = true;
        case "--key-scale" -> { o.keyScale = Integer.parseInt(v); i++; }
        case "--process-scaling" -> { o.processScaling = ints(v); i++; }
        case "--scaling-n" -> { o.scalingN = Integer.parseInt(v); i++; }
        case "--scaling-in-one-jvm" -> o.scalingInOneJvm = true;
        case "--child-warm-up" -> { o.childWarmUp = Integer.parseInt(v); i++; }
        case "--scaling-warm-up" -> { o.scalingWarmUp = Integer.parseInt(v); i++; }
        case "--partitioning" -> o.partitioning = true;
        case "--bulk-methods" -> o.bulkMethods = true;
        case "--claim-forms" -> o.claimForms = true;
        case "--backlog" -> { o.backlog = Integer.parseInt(v); i++; }
        case "--backlog-seconds" -> { o.backlogSeconds = Integer.parseInt(v); i++; }
        case "--discarded" -> { o.discarded = Integer.parseInt(v); i++; }
        case "--rounds" -> { o.rounds = Integer.parseInt(v); i++; }
        case "--latency-breakdown" -> o.latencyBreakdown = true;
        case "--no-ceiling" -> o.ceiling = false;
        case "--ceiling-batches" -> { o.ceilingBatches = ints(v); i++; }
        case "--prepare-threshold" -> { o.prepareThreshold = Integer.parseInt(v); i++; }
        case "--pgbouncer" -> o.pgbouncer = true;
        default -> throw new IllegalArgumentException("unknown option " + a + " (see the Bench javadoc)");
      }
    }
    if (o.rollupCompare && o.concurrency.size() < 2) {
      // With one phase the bulk enqueue is never processed, and the compare phases would start
      // with its jobs still queued: their rates would count twice the work.
      throw new IllegalArgumentException("--rollup-compare needs at least two --concurrency phases, got "
          + o.concurrency);
    }
    if (o.childWarmUp < 0) {
      throw new IllegalArgumentException("--child-warm-up must be 0 or more jobs, got " + o.childWarmUp);
    }
    if (o.scalingWarmUp < 0 || (o.scalingWarmUp > 0 && o.processScaling == null)) {
      throw new IllegalArgumentException("--scaling-warm-up must be 0 or more jobs, with --process-scaling, got "
          + o.scalingWarmUp + (o.processScaling == null ? " without --process-scaling" : ""));
    }
    if (o.workerProcesses < 1) {
      throw new IllegalArgumentException("--worker-processes must be at least 1, got " + o.workerProcesses);
    }
    if (o.processScaling != null && (o.processScaling.isEmpty() || o.processScaling.stream().anyMatch(k -> k < 1))) {
      throw new IllegalArgumentException("--process-scaling must list process counts of at least 1, got "
          + o.processScaling);
    }
    if (o.scalingN != null && (o.scalingN % 1_000 != 0 || o.scalingN <= 0)) {
      throw new IllegalArgumentException("--scaling-n must be a positive multiple of 1000, got " + o.scalingN);
    }
    if (o.n % 1_000 != 0 || o.n <= 0) {
      throw new IllegalArgumentException("--n must be a positive multiple of 1000, got " + o.n);
    }
    return o;
  }

  private static List<Integer> ints(String csv) {
    return Arrays.stream(csv.split(",")).map(String::trim).map(Integer::parseInt).toList();
  }
}
