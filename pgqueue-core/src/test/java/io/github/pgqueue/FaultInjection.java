package io.github.pgqueue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.postgresql.PGConnection;

/**
 * Faults injected into the connections of one worker, for {@link FaultInjectionTest}: a {@link
 * DataSource} wrapper for the worker's pool and a {@link ConnectionFactory} wrapper for its
 * dedicated (heartbeat) connection, both dynamic proxies over the real JDBC objects.
 *
 * <p>Which fault a statement gets is a pure function of (seed, worker, channel, statement class,
 * ordinal): the n-th claim of worker 2 gets the same fault in every run with the same seed,
 * whatever the threads' interleaving. Each statement class is run by one thread of the worker
 * (claims and lost-claim releases by the fetcher, outcomes by the completer, heartbeats and
 * registrations by the control loop on the dedicated connection, rescue, removal of dead workers'
 * rows and pruning by the maintenance thread on the pool), so the ordinals are deterministic;
 * timing only decides which jobs a fault hits.
 *
 * <p>The fault kinds:
 *
 * <ul>
 *   <li>{@link Kind#LOST_REPLY}: the statement (in autocommit) or the {@code commit()} (in an
 *       explicit transaction) runs for real and commits on the server; then the physical connection
 *       is aborted and the caller gets SQLState 08006 instead of the reply;
 *   <li>{@link Kind#KILLED}: the connection's backend is terminated with {@code
 *       pg_terminate_backend} from a separate, uninjected connection while a transaction is open
 *       (after the statement ran, before it committed; an autocommit statement is run inside a
 *       transaction for this), so the server rolls it back and the caller gets the driver's real
 *       error from the commit;
 *   <li>{@link Kind#CLOSE_THROWS}: {@code close()} really closes (returns the connection to the
 *       pool) and then throws;
 *   <li>{@link Kind#SLOW}: a delay of 50-500 ms before the statement is sent; also 100-400 ms
 *       before the retry of an outcome write whose reply was lost (see {@link #slowRetry});
 *   <li>{@link Kind#HEARTBEAT_STALL}: a heartbeat statement on the dedicated connection is held
 *       back 20-60% of the stale threshold (the worker stays alive to its peers), or {@link
 *       Kind#HEARTBEAT_STALL_PAST} 110-200% of it (its peers judge it dead).
 * </ul>
 *
 * <p>Faults are only injected while {@link #enabled(boolean)} is on; the test turns them off for
 * its quiet phase.
 */
final class FaultInjection {

  enum Kind {
    LOST_REPLY, KILLED, CLOSE_THROWS, SLOW, HEARTBEAT_STALL, HEARTBEAT_STALL_PAST
  }

  /**
   * What a statement does, from its SQL text (fragments of the statements in {@link Sql}); the
   * schedule is kept per class. {@link FaultInjectionTest} fails a run in which a class of {@link
   * #TARGETS} received no fault, so a change of the SQL that breaks the recognition shows.
   */
  enum StatementClass {
    CLAIM, RELEASE_LOST, COMPLETE, SETTLE, HEARTBEAT, REGISTER, RESCUE, DELETE_STALE_WORKERS, PRUNE, OTHER;

    /** Every class a worker runs while faults are on (LISTEN, the NOTIFY probe and deregistration are OTHER). */
    static final List<StatementClass> TARGETS =
        List.of(CLAIM, RELEASE_LOST, COMPLETE, SETTLE, HEARTBEAT, REGISTER, RESCUE, DELETE_STALE_WORKERS, PRUNE);

    static StatementClass of(String sql) {
      if (sql.contains("claimable") || sql.contains(".claim_v") || sql.contains(".claim_after_v")
          || sql.contains(".claim_by_name_v")) { // a claim, or one in its function (claim_v2, V016)
        return CLAIM;
      }
      if (sql.contains("lock_token = ANY(")) {
        return RELEASE_LOST;
      }
      if (sql.startsWith("DELETE FROM") && sql.contains("unnest")) {
        return COMPLETE;
      }
      if (sql.contains("SET state = d.state")) {
        return SETTLE;
      }
      if (sql.contains("SET heartbeat_at")) {
        return HEARTBEAT;
      }
      if (sql.contains(".workers (host")) {
        return REGISTER;
      }
      if (sql.contains("orphaned")) {
        return RESCUE;
      }
      if (sql.startsWith("DELETE FROM") && sql.contains(".workers w WHERE NOT")) {
        return DELETE_STALE_WORKERS;
      }
      if (sql.startsWith("DELETE FROM") && sql.contains("state = 'discarded' AND discarded_at <")) {
        return PRUNE;
      }
      return OTHER;
    }

    /**
     * Per-mille chances of a lost reply, a kill and a slow statement when a statement of this
     * class is executed on the pool; none for OTHER. Rare statements get higher chances, so that
     * each class gets faults in a CI run: a lost-claim release runs only after a claim failed, and
     * a prune once a second.
     */
    int[] poolExecPerMille() {
      return switch (this) {
        case CLAIM -> new int[] {30, 20, 25};
        case RELEASE_LOST -> new int[] {150, 100, 100};
        case COMPLETE, RESCUE, DELETE_STALE_WORKERS -> new int[] {15, 12, 25};
        case SETTLE -> new int[] {80, 20, 25};
        case PRUNE -> new int[] {60, 40, 60};
        default -> new int[] {0, 0, 0};
      };
    }
  }

  /** Where a connection comes from: the worker's pool, or its dedicated control connection. */
  enum Channel { POOL, CONTROL }

  /** Per-mille chances of each fault (pool statements: {@link StatementClass#poolExecPerMille}). */
  static final int COMMIT_LOST_PER_MILLE = 25;
  static final int COMMIT_KILLED_PER_MILLE = 25;
  static final int CLOSE_THROWS_PER_MILLE = 20;
  /** Heartbeat stalls; one in two outlasts the threshold, so the worker is judged dead and re-registers. */
  static final int STALL_PER_MILLE = 20;
  static final int HEARTBEAT_LOST_PER_MILLE = 4;
  static final int HEARTBEAT_KILLED_PER_MILLE = 4;
  /** A registration follows a heartbeat that found its row gone: rare, so mostly faulted. */
  static final int REGISTER_LOST_PER_MILLE = 250;
  static final int REGISTER_KILLED_PER_MILLE = 150;
  static final int REGISTER_SLOW_PER_MILLE = 150;

  /** One scheduled decision.*/
  record Decision(Kind kind, long delayMillis) {
    static final Decision NONE = new Decision(null, 0);
  }

  final long seed;
  final int worker;
  private final long staleMillis;
  private final DataSource admin;
  private final Consumer<Connection> evict;
  private volatile boolean enabled;
  /** See {@link #slowRetry}; touched by the completer's thread only. */
  private volatile long slowRetryMillis;
  private final AtomicLong outcomeLosses = new AtomicLong();
  private final Map<String, AtomicLong> ordinals = new ConcurrentHashMap<>();
  private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
  private final Map<StatementClass, LongAdder> classCounts = new ConcurrentHashMap<>();

  /**
   * @param seed the run's seed
   * @param worker this worker's index in the test
   * @param staleMillis the worker's stale threshold: heartbeat stalls are sized by it
   * @param admin an uninjected data source, for {@code pg_terminate_backend}
   * @param evict tells the pool a connection is broken (for HikariCP, {@code evictConnection})
   */
  FaultInjection(long seed, int worker, long staleMillis, DataSource admin, Consumer<Connection> evict) {
    this.seed = seed;
    this.worker = worker;
    this.staleMillis = staleMillis;
    this.admin = admin;
    this.evict = evict;
  }

  void enabled(boolean on) {
    enabled = on;
  }

  /** Injected faults so far, keyed "KIND class". */
  Map<String, Long> counts() {
    Map<String, Long> m = new TreeMap<>();
    counts.forEach((k, v) -> m.put(k, v.sum()));
    return m;
  }

  /** Injected faults so far per statement class, all kinds together. */
  Map<StatementClass, Long> classCounts() {
    Map<StatementClass, Long> m = new TreeMap<>();
    classCounts.forEach((k, v) -> m.put(k, v.sum()));
    return m;
  }

  long count(Kind kind) {
    return counts.entrySet().stream()
        .filter(e -> e.getKey().startsWith(kind.name() + " "))
        .mapToLong(e -> e.getValue().sum())
        .sum();
  }

  private void counted(Kind kind, String where, StatementClass cls) {
    counts.computeIfAbsent(kind.name() + " " + where, k -> new LongAdder()).increment();
    classCounts.computeIfAbsent(cls, k -> new LongAdder()).increment();
  }

  /**
   * The fault for the next event of one class on one channel: a pure function of the seed, this
   * worker, the channel, the class, the event ("exec", "commit", "close") and its ordinal.
   */
  Decision decide(Channel channel, StatementClass cls, String event) {
    if (!enabled) {
      // Ordinals count only statements under faults: how long start-up took changes nothing.
      return Decision.NONE;
    }
    String key = channel + "/" + cls + "/" + event;
    long ordinal = ordinals.computeIfAbsent(key, k -> new AtomicLong()).getAndIncrement();
    return schedule(seed, worker, key, ordinal, staleMillis);
  }

  /** The schedule itself, pure: same arguments, same decision. */
  static Decision schedule(long seed, int worker, String key, long ordinal, long staleMillis) {
    long h = seed;
    h = h * 0x9E3779B97F4A7C15L + worker;
    h = h * 0x9E3779B97F4A7C15L + key.hashCode();
    h = h * 0x9E3779B97F4A7C15L + ordinal;
    SplittableRandom r = new SplittableRandom(h);
    int roll = r.nextInt(1000);
    String[] parts = key.split("/");
    Channel channel = Channel.valueOf(parts[0]);
    StatementClass cls = StatementClass.valueOf(parts[1]);
    String event = parts[2];
    if (channel == Channel.CONTROL) {
      if (!event.equals("exec")) {
        return Decision.NONE;
      }
      if (cls == StatementClass.HEARTBEAT) {
        if (roll < STALL_PER_MILLE) {
          // One stall in two outlasts the threshold: the worker is then dead to its peers.
          return r.nextInt(2) == 0
              ? new Decision(Kind.HEARTBEAT_STALL_PAST, staleMillis * (110 + r.nextInt(91)) / 100)
              : new Decision(Kind.HEARTBEAT_STALL, staleMillis * (20 + r.nextInt(41)) / 100);
        }
        return lostKilledSlow(roll - STALL_PER_MILLE, HEARTBEAT_LOST_PER_MILLE, HEARTBEAT_KILLED_PER_MILLE, 0, r);
      }
      if (cls == StatementClass.REGISTER) {
        return lostKilledSlow(roll, REGISTER_LOST_PER_MILLE, REGISTER_KILLED_PER_MILLE, REGISTER_SLOW_PER_MILLE, r);
      }
      return Decision.NONE;
    }
    switch (event) {
      case "exec" -> {
        int[] p = cls.poolExecPerMille();
        return lostKilledSlow(roll, p[0], p[1], p[2], r);
      }
      case "commit" -> {
        if (roll < COMMIT_LOST_PER_MILLE) {
          return new Decision(Kind.LOST_REPLY, 0);
        }
        roll -= COMMIT_LOST_PER_MILLE;
        if (roll < COMMIT_KILLED_PER_MILLE) {
          return new Decision(Kind.KILLED, 0);
        }
        return Decision.NONE;
      }
      case "close" -> {
        return roll < CLOSE_THROWS_PER_MILLE ? new Decision(Kind.CLOSE_THROWS, 0) : Decision.NONE;
      }
      default -> throw new IllegalArgumentException(event);
    }
  }

  /**
   * After the reply of an outcome write was lost, the completer's retry of it (the next outcome
   * statement: one thread writes them) is held back 100-400 ms. The job may meanwhile be claimed
   * again, by this worker too, and the retried write must then not act on the new run: without
   * this window the retry usually goes out within 50 ms, before any re-claim. The delay is a pure
   * function of the seed, the worker and the number of such losses.
   */
  private void slowRetry(StatementClass cls) {
    if (cls == StatementClass.COMPLETE || cls == StatementClass.SETTLE) {
      long n = outcomeLosses.getAndIncrement();
      slowRetryMillis = 100 + new SplittableRandom(seed * 0x9E3779B97F4A7C15L + worker * 1_000_003L + n).nextInt(301);
    }
  }

  private static Decision lostKilledSlow(int roll, int lost, int killed, int slow, SplittableRandom r) {
    if (roll < lost) {
      return new Decision(Kind.LOST_REPLY, 0);
    }
    roll -= lost;
    if (roll < killed) {
      return new Decision(Kind.KILLED, 0);
    }
    roll -= killed;
    if (roll < slow) {
      return new Decision(Kind.SLOW, 50 + r.nextInt(451));
    }
    return Decision.NONE;
  }

  /** The worker's pool, with faults. */
  DataSource wrap(DataSource pool) {
    return (DataSource) Proxy.newProxyInstance(FaultInjection.class.getClassLoader(),
        new Class<?>[] {DataSource.class}, (p, m, a) -> {
          Object r = invoke(m, pool, a);
          return m.getName().equals("getConnection") ? new Conn((Connection) r, Channel.POOL).proxy() : r;
        });
  }

  /** The worker's dedicated connection, with faults. */
  ConnectionFactory dedicated(ConnectionFactory real) {
    return () -> new Conn(real.connect(), Channel.CONTROL).proxy();
  }

  /** One wrapped connection: knows its channel and what ran on it since the last transaction end. */
  private final class Conn {
    final Connection real;
    final Channel channel;
    /** The class of the first statement of the open explicit transaction, or null. */
    StatementClass txClass;
    /** The class of the first statement since the connection was borrowed: names its close(). */
    StatementClass firstClass;
    Connection proxy;

    Conn(Connection real, Channel channel) {
      this.real = real;
      this.channel = channel;
    }

    Connection proxy() {
      proxy = (Connection) Proxy.newProxyInstance(FaultInjection.class.getClassLoader(),
          new Class<?>[] {Connection.class}, (p, m, a) -> {
            switch (m.getName()) {
              case "prepareStatement" -> {
                PreparedStatement ps = (PreparedStatement) invoke(m, real, a);
                return statement(ps, PreparedStatement.class, StatementClass.of((String) a[0]));
              }
              case "createStatement" -> {
                Statement st = (Statement) invoke(m, real, a);
                return statement(st, Statement.class, null);
              }
              case "commit" -> {
                return commit();
              }
              case "rollback", "setAutoCommit" -> {
                txClass = null;
                return invoke(m, real, a);
              }
              case "close" -> {
                return close();
              }
              case "equals" -> {
                return p == a[0];
              }
              case "hashCode" -> {
                return System.identityHashCode(p);
              }
              default -> {
                return invoke(m, real, a);
              }
            }
          });
      return proxy;
    }

    private <S extends Statement> S statement(S st, Class<S> type, StatementClass fixed) {
      return type.cast(Proxy.newProxyInstance(FaultInjection.class.getClassLoader(), new Class<?>[] {type},
          (p, m, a) -> {
            if (!m.getName().startsWith("execute")) {
              return m.getName().equals("getConnection") ? proxy : invoke(m, st, a);
            }
            StatementClass cls = fixed != null ? fixed
                : a != null && a.length > 0 && a[0] instanceof String sql ? StatementClass.of(sql) : StatementClass.OTHER;
            return execute(m, st, a, cls);
          }));
    }

    private Object execute(Method m, Statement st, Object[] a, StatementClass cls) throws Throwable {
      if (firstClass == null) {
        firstClass = cls;
      }
      Decision d = decide(channel, cls, "exec");
      long retryDelay = slowRetryMillis;
      if (retryDelay > 0 && enabled && (cls == StatementClass.COMPLETE || cls == StatementClass.SETTLE)) {
        slowRetryMillis = 0;
        counted(Kind.SLOW, channel + " retry of " + cls, cls);
        Thread.sleep(retryDelay);
      }
      if (d.delayMillis() > 0) {
        counted(d.kind(), channel + " " + cls, cls);
        Thread.sleep(d.delayMillis());
      }
      if (!real.getAutoCommit()) {
        // In an explicit transaction nothing is committed yet: the fault is decided at commit().
        if (txClass == null) {
          txClass = cls;
        }
        return invoke(m, st, a);
      }
      if (d.kind() == Kind.LOST_REPLY) {
        Object r = invoke(m, st, a); // committed on the server (autocommit)
        loseReply();
        counted(Kind.LOST_REPLY, channel + " " + cls, cls);
        slowRetry(cls);
        throw lostReply(cls.name());
      }
      if (d.kind() == Kind.KILLED) {
        return killMidTransaction(m, st, a, cls);
      }
      return invoke(m, st, a);
    }

    /** Runs the statement in a transaction, terminates the backend, and lets the commit fail for real. */
    private Object killMidTransaction(Method m, Statement st, Object[] a, StatementClass cls) throws Throwable {
      int pid = real.unwrap(PGConnection.class).getBackendPID();
      real.setAutoCommit(false);
      Object r;
      try {
        r = invoke(m, st, a);
      } catch (Throwable e) {
        try {
          real.rollback();
          real.setAutoCommit(true);
        } catch (SQLException ignored) {
          // The statement's own error is the one to report.
        }
        throw e;
      }
      terminate(pid);
      try {
        real.commit();
      } catch (SQLException e) {
        counted(Kind.KILLED, channel + " " + cls, cls);
        throw e;
      }
      real.setAutoCommit(true); // the termination did not take: nothing injected
      return r;
    }

    private Object commit() throws Throwable {
      StatementClass cls = txClass != null ? txClass : StatementClass.OTHER;
      txClass = null;
      Decision d = channel == Channel.POOL ? decide(channel, cls, "commit") : Decision.NONE;
      if (d.kind() == Kind.LOST_REPLY) {
        real.commit();
        loseReply();
        counted(Kind.LOST_REPLY, channel + " commit of " + cls, cls);
        slowRetry(cls);
        throw lostReply("commit of " + cls);
      }
      if (d.kind() == Kind.KILLED) {
        terminate(real.unwrap(PGConnection.class).getBackendPID());
        try {
          real.commit();
        } catch (SQLException e) {
          counted(Kind.KILLED, channel + " commit of " + cls, cls);
          throw e;
        }
        return null;
      }
      real.commit();
      return null;
    }

    private Object close() throws SQLException {
      StatementClass cls = firstClass != null ? firstClass : StatementClass.OTHER;
      Decision d = channel == Channel.POOL ? decide(channel, cls, "close") : Decision.NONE;
      real.close();
      if (d.kind() == Kind.CLOSE_THROWS) {
        counted(Kind.CLOSE_THROWS, channel + " after " + cls, cls);
        throw new SQLException("injected fault: close() failed after the connection was returned", "08006");
      }
      return null;
    }

    /** The reply is lost: the socket goes away under the driver, and the pool forgets the connection. */
    private void loseReply() throws SQLException {
      ((Connection) real.unwrap(PGConnection.class)).abort(Runnable::run);
      if (channel == Channel.POOL) {
        evict.accept(real);
      }
    }
  }

  private static SQLException lostReply(String what) {
    return new SQLException(
        "injected fault: the connection broke after the server committed (" + what + "); the reply was lost", "08006");
  }

  /** Terminates a backend from an uninjected connection and waits until it is gone. */
  private void terminate(int pid) throws SQLException {
    try (Connection c = admin.getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT pg_terminate_backend(?, 5000)")) {
      ps.setInt(1, pid);
      ps.execute();
    }
  }

  private static Object invoke(Method m, Object target, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
