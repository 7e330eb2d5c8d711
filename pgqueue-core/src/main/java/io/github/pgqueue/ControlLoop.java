package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker's control thread, on one dedicated connection that is never shared with job work: it
 * LISTENs for enqueue notifications and wakes the right {@link Fetcher}, and registers the worker
 * and heartbeats by the database clock. Nothing else runs on this thread or connection: rescuing
 * and pruning ({@link Maintenance}) can take long, and a heartbeat that waits behind them makes a
 * live worker look dead.
 *
 * <p>After every (re)connect it LISTENs, then proves LISTEN works: a probe NOTIFY sent from another
 * connection must arrive within {@link #PROBE_TIMEOUT_MILLIS}. If it does not (behind PgBouncer in
 * transaction mode LISTEN is accepted and silently never delivers), it warns once and the worker
 * relies on polling, which never stops anyway. Then it wakes every fetcher to claim at once.
 *
 * <p>Each heartbeat records when it was sent ({@link WorkerState#heartbeatSucceeded(long)}): claims
 * pause once the last one that went through was sent half a stale threshold ago, even while the
 * statement hangs. The connection's network timeout is about one heartbeat interval, so a hung
 * heartbeat is given up and the connection replaced soon after.
 */
final class ControlLoop implements Runnable, Service {

  static final long PROBE_TIMEOUT_MILLIS = 2_000;
  /**
   * Longest single wait for notifications. stop() then finds the thread between waits and lets it
   * close its connection normally, instead of aborting the socket under it (which a pool such as
   * HikariCP reports as a broken connection, with a stack trace, at every shutdown). Waiting costs
   * no round trip: the driver only reads the socket with a timeout.
   */
  static final long WAIT_SLICE_MILLIS = 100;
  static final String PROBE_PREFIX = "!probe:";

  private static final Logger log = LoggerFactory.getLogger(ControlLoop.class);

  private final WorkerConfig config;
  private final DataSource dataSource;
  private final JobStore store;
  private final WorkerState state;
  private final Map<String, Fetcher> fetchers;
  /** Thread-safe (its methods are synchronized); used by the control thread. */
  private final RetryLog retryLog;
  private final String host;
  private final long pid;
  private final String[] queues;
  private final String[] names;
  /** Told of each cancel NOTIFY (owner, job id, claim token); see {@link Sql#cancelJob}. */
  private final Cancels cancels;

  /** Where a cancel NOTIFY goes: the watchdog, which interrupts the attempt if it runs here. */
  @FunctionalInterface
  interface Cancels {
    void cancel(long owner, long id, long token);
  }

  /** Written once by the first stop() (any thread), read by the control thread. */
  private volatile boolean stopping;
  private final ServiceThread service = new ServiceThread(this);
  /** Written by the control thread (null between sessions), read by stop() to abort a stuck one. */
  private volatile Connection connection;
  /** Written by the control thread, read by any ({@link Worker#isListening()}). */
  private volatile boolean listening;
  /** Owned by the control thread: the no-LISTEN warning was logged and not yet taken back. */
  private boolean warnedNoListen;
  /**
   * The paused queues last recorded in this worker's row, or null when not recorded for the
   * current registration. Owned by the control thread.
   */
  private List<String> ackedPaused;
  /** The paused queues of the last read of the controls (all queues, served here or not). Owned by the control thread. */
  private List<String> seenPaused = List.of();
  /** The controls must be read again (a NOTIFY said they changed). Owned by the control thread. */
  private boolean controlsDue;
  private long nextControlsNanos; // owned by the control thread
  /** Set by the stop() that removes the registration, so only one does. */
  private final java.util.concurrent.atomic.AtomicBoolean deregistered =
      new java.util.concurrent.atomic.AtomicBoolean();

  ControlLoop(
      WorkerConfig config,
      DataSource dataSource,
      JobStore store,
      WorkerState state,
      Map<String, Fetcher> fetchers,
      String[] queues,
      String[] names,
      Cancels cancels) {
    this.cancels = cancels;
    this.config = config;
    this.dataSource = dataSource;
    this.store = store;
    this.state = state;
    this.fetchers = fetchers;
    this.queues = queues;
    this.names = names;
    // Reconnect at least once per heartbeat interval: after an outage every live worker must
    // heartbeat again well within a stale threshold, before any rescuer may judge it.
    this.retryLog = new RetryLog(log, "the worker's control connection (LISTEN, heartbeat)",
        Math.min(RetryLog.MAX_BACKOFF_MILLIS, TimeUnit.NANOSECONDS.toMillis(config.heartbeatNanos)));
    this.host = hostName();
    this.pid = ProcessHandle.current().pid();
  }

  @Override
  public void start(String threadName) {
    service.start(threadName);
  }

  /** Whether the last probe showed that NOTIFY reaches this worker. */
  boolean listening() {
    return listening;
  }

  @Override
  public void run() {
    while (!stopping) {
      try (Restoring r = connect()) {
        connection = r.c;
        session(r.c);
      } catch (SQLException | RuntimeException e) {
        state.heartbeatFailed();
        if (stopping) {
          break;
        }
        listening = false;
        long wait = retryLog.failed(e);
        try {
          Thread.sleep(wait);
        } catch (InterruptedException ie) {
          break;
        }
      } catch (InterruptedException e) {
        break;
      } finally {
        connection = null;
      }
    }
  }

  private Restoring connect() throws SQLException {
    Connection c = config.dedicatedConnection != null ? config.dedicatedConnection.connect() : dataSource.getConnection();
    Restoring r = new Restoring(c, config.dedicatedConnection == null);
    try {
      r.autoCommit = c.getAutoCommit();
      r.networkTimeout = c.getNetworkTimeout();
      c.setAutoCommit(true);
      // Bound every statement here by about one heartbeat interval: a heartbeat that hangs longer
      // is as good as lost, and the worker stops claiming at half its threshold anyway. At least
      // a second, so an ordinary slow moment on a busy server does not tear the session down.
      c.setNetworkTimeout(Runnable::run, (int) networkTimeoutMillis(config.heartbeatNanos));
      return r;
    } catch (SQLException e) {
      r.close();
      throw e;
    }
  }

  /**
   * The control connection, given back as it came when it belongs to the application's pool (no
   * dedicatedConnection factory): UNLISTEN, network timeout and autocommit restored. A pool does not
   * reset LISTEN, so a connection handed back still listening would collect notifications for
   * whoever borrows it next. If the restore fails the connection is aborted, so the pool discards
   * it instead of lending it out. A connection from the factory is pgqueue's own and just closed.
   */
  static final class Restoring implements AutoCloseable {
    final Connection c;
    private final boolean pooled;
    private Boolean autoCommit;
    private int networkTimeout = -1;

    Restoring(Connection c, boolean pooled) {
      this.c = c;
      this.pooled = pooled;
    }

    @Override
    public void close() {
      if (pooled) {
        try {
          if (!c.isClosed()) {
            try (Statement st = c.createStatement()) {
              st.execute("UNLISTEN *");
            }
            if (networkTimeout >= 0) {
              c.setNetworkTimeout(Runnable::run, networkTimeout);
            }
            if (autoCommit != null && !autoCommit) {
              c.setAutoCommit(false);
            }
          }
        } catch (SQLException | RuntimeException e) {
          log.debug("pgqueue: could not restore the control connection; aborting it so the pool discards it", e);
          try {
            c.abort(Runnable::run);
          } catch (SQLException | RuntimeException ignored) {
            // Closed below either way.
          }
        }
      }
      Borrowed.close(c);
    }
  }

  /** One connected session; returns or throws when the connection fails or the worker stops. */
  private void session(Connection c) throws SQLException, InterruptedException {
    PGConnection pg = c.unwrap(PGConnection.class);
    try (Statement st = c.createStatement()) {
      st.execute("LISTEN \"" + store.sql.channel + "\"");
    }
    // The controls before the registration: a fetcher claims only once the worker is registered,
    // so its first claim already knows whether its queue is paused or limited.
    readControls(c);
    ensureRegistered(c);
    ackPaused(c);
    retryLog.recovered();
    long nextHeartbeatNanos = System.nanoTime() + config.heartbeatNanos;
    probeListen(c, pg);
    wakeAll();

    while (!stopping) {
      long now = System.nanoTime();
      long waitMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextHeartbeatNanos - now));
      PGNotification[] notes = pg.getNotifications((int) Math.min(waitMillis, WAIT_SLICE_MILLIS));
      dispatch(notes, null);
      now = System.nanoTime();
      if (now - nextHeartbeatNanos >= 0) {
        ensureRegistered(c);
        nextHeartbeatNanos = now + config.heartbeatNanos;
      }
      if (controlsDue || now - nextControlsNanos >= 0) {
        readControls(c);
      }
      ackPaused(c);
    }
  }

  /**
   * Reads every queue's flow control and hands each fetcher its own. Polled slowly while NOTIFY
   * works (a change notifies), at the poll interval when it does not.
   */
  private void readControls(Connection c) throws SQLException {
    controlsDue = false;
    Map<String, QueueControl> all = store.controls(c);
    for (Map.Entry<String, Fetcher> f : fetchers.entrySet()) {
      f.getValue().control(all.getOrDefault(f.getKey(), QueueControl.NONE));
    }
    seenPaused = all.entrySet().stream().filter(e -> e.getValue().paused()).map(Map.Entry::getKey).sorted().toList();
    long poll = listening ? Math.max(config.pollNanos, CONTROLS_POLL_NANOS) : config.pollNanos;
    nextControlsNanos = System.nanoTime() + poll;
  }

  /** How often the controls are read again while NOTIFY works (a change also notifies). */
  static final long CONTROLS_POLL_NANOS = TimeUnit.SECONDS.toNanos(5);

  /**
   * Records in the worker's row the paused queues it has acted on: once each of its fetchers of a
   * paused queue is quiet (nothing claiming, nothing buffered, every job it handed out entered by
   * its handler), it starts nothing more from that queue. Waits a short while for them; if one is
   * not quiet yet, tries again on the next turn of the loop.
   */
  private void ackPaused(Connection c) throws SQLException, InterruptedException {
    long id = state.workerId();
    if (id == 0 || seenPaused.equals(ackedPaused)) {
      return;
    }
    for (String q : seenPaused) {
      Fetcher f = fetchers.get(q);
      if (f != null && !f.awaitQuiet(TimeUnit.MILLISECONDS.toNanos(WAIT_SLICE_MILLIS))) {
        return;
      }
    }
    List<String> acking = seenPaused;
    store.ackPaused(c, id, acking.toArray(new String[0]));
    ackedPaused = acking;
  }

  /** Heartbeats; registers (again, under a new id) when there is no row for this worker. */
  private void ensureRegistered(Connection c) throws SQLException {
    long id = state.workerId();
    long sent = System.nanoTime();
    if (id != 0 && store.heartbeat(c, id)) {
      state.heartbeatSucceeded(sent);
      return;
    }
    long newId = store.registerWorker(c, host, pid, queues, config.queueConcurrency(), names,
        TimeUnit.NANOSECONDS.toMillis(config.heartbeatNanos), TimeUnit.NANOSECONDS.toMillis(config.staleNanos));
    if (id != 0) {
      log.warn(
          "pgqueue: worker {} found its registration gone (judged dead while it could not heartbeat);"
              + " its running jobs were returned to the queue and may run twice; re-registered as worker {}",
          id, newId);
    } else {
      log.info("pgqueue: worker {} registered (host {}, pid {}, queues {})", newId, host, pid, List.of(queues));
    }
    state.workerId(newId);
    ackedPaused = null;
    state.heartbeatSucceeded(sent);
  }

  /** The control connection's network timeout: one heartbeat interval, at least a second. */
  static long networkTimeoutMillis(long heartbeatNanos) {
    return Math.max(1_000, TimeUnit.NANOSECONDS.toMillis(heartbeatNanos));
  }

  private void probeListen(Connection c, PGConnection pg) throws SQLException {
    String token = PROBE_PREFIX + UUID.randomUUID();
    // Committed (a NOTIFY is delivered at commit) whatever the pool's autocommit default.
    Borrowed.transaction(dataSource, true, other -> {
      try (PreparedStatement ps = other.prepareStatement("SELECT pg_notify(?, ?)")) {
        ps.setString(1, store.sql.channel);
        ps.setString(2, token);
        return ps.execute();
      }
    });
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(PROBE_TIMEOUT_MILLIS);
    boolean arrived = false;
    while (!arrived && !stopping) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      if (left <= 0) {
        break;
      }
      arrived = dispatch(pg.getNotifications((int) Math.min(left, WAIT_SLICE_MILLIS)), token);
    }
    listening = arrived;
    if (!arrived && !warnedNoListen) {
      warnedNoListen = true;
      log.warn(
          "pgqueue: LISTEN/NOTIFY is not delivered on this connection (a probe NOTIFY did not arrive"
              + " within {} ms; behind PgBouncer in transaction mode LISTEN silently never delivers)."
              + " The worker relies on polling every {} ms; point dedicatedConnection at PostgreSQL"
              + " directly for millisecond pickup.",
          PROBE_TIMEOUT_MILLIS, TimeUnit.NANOSECONDS.toMillis(config.pollNanos));
    } else if (arrived && warnedNoListen) {
      log.info("pgqueue: LISTEN/NOTIFY works again on the worker's control connection");
      warnedNoListen = false;
    }
  }

  /** Wakes the fetcher of each notified queue; returns true if {@code token} was among them. */
  private boolean dispatch(PGNotification[] notes, String token) {
    boolean sawToken = false;
    if (notes == null) {
      return false;
    }
    for (PGNotification n : notes) {
      String payload = n.getParameter();
      if (payload.startsWith(PROBE_PREFIX)) {
        sawToken |= payload.equals(token);
        continue;
      }
      if (payload.startsWith(Sql.CANCEL_PREFIX)) {
        cancelled(payload);
        continue;
      }
      if (payload.equals(Sql.CONTROLS_CHANGED)) {
        controlsDue = true;
        continue;
      }
      Fetcher f = fetchers.get(payload);
      if (f != null) {
        PickupProbe.at(PickupProbe.Point.WAKE_NOTIFY, 0);
        f.wake();
      }
    }
    return sawToken;
  }

  /** Parses {@code !cancel:owner:id:token}; a malformed payload (not ours) is ignored. */
  private void cancelled(String payload) {
    String[] parts = payload.substring(Sql.CANCEL_PREFIX.length()).split(":");
    if (parts.length != 3) {
      return;
    }
    try {
      long owner = Long.parseLong(parts[0]);
      if (owner == state.workerId()) {
        cancels.cancel(owner, Long.parseLong(parts[1]), Long.parseLong(parts[2]));
      }
    } catch (NumberFormatException ignored) {
      // Not a payload pgqueue sent.
    }
  }

  private void wakeAll() {
    for (Fetcher f : fetchers.values()) {
      f.wake();
    }
  }

  /**
   * Stops the loop and deregisters the worker (its row is deleted, so nothing will be rescued from
   * it). Waits up to a second, then aborts the connection of a session stuck in a statement, then
   * waits up to {@code timeoutMillis} more; the deregistration is one more statement on a pool
   * connection, done by the first call that gets there.
   */
  @Override
  public boolean stop(long timeoutMillis) {
    Thread t = service.stop(() -> stopping = true);
    if (t != null) {
      // The loop waits in short slices and exits on its own; a thread stuck in a statement is
      // aborted as a last resort (closing the socket is the only portable way).
      Connection c = connection;
      t.interrupt();
      if (!ServiceThread.join(t, Math.min(timeoutMillis, 1_000)) && c != null) {
        try {
          c.abort(Runnable::run);
        } catch (SQLException ignored) {
          // Already broken; the thread exits on its own.
        }
      }
      ServiceThread.join(t, timeoutMillis);
    }
    boolean ended = t == null || !t.isAlive();
    long id = state.workerId();
    if (id != 0 && deregistered.compareAndSet(false, true)) {
      try {
        Borrowed.transaction(dataSource, true, c -> {
          store.deregisterWorker(c, id);
          return null;
        });
      } catch (SQLException e) {
        log.warn("pgqueue: could not remove worker {}'s registration; it expires after the stale threshold", id, e);
      }
    }
    return ended;
  }

  private static String hostName() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException | SecurityException e) {
      String env = System.getenv("HOSTNAME");
      return env != null ? env : "";
    }
  }
}
