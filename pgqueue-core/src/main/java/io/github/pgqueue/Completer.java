package io.github.pgqueue;

import io.github.pgqueue.internal.Borrowed;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes job outcomes in batches that span claims and queues: successes in one {@code DELETE ...
 * = ANY}, everything else in one {@code UPDATE ... FROM unnest}. A batch is flushed when it holds
 * {@value #MAX_BATCH} outcomes or {@value #LINGER_MILLIS} ms after its first outcome arrived,
 * whichever is first, or at once when it holds an outcome of a queue under a global limit
 * ({@link #writePromptly}); under load the next batch fills while the previous one is written. A failed
 * write is retried with backoff until it succeeds, so a database outage delays outcomes but never
 * drops them (if the process dies meanwhile, the rescuer returns those jobs to the queue).
 */
final class Completer implements Runnable, Service {

  static final int MAX_BATCH = 500;
  static final long LINGER_MILLIS = 2;

  private static final Logger log = LoggerFactory.getLogger(Completer.class);

  private final DataSource dataSource;
  private final JobStore store;
  /** Told of each batch once it is written (the worker wakes the fetchers whose slots it freed). */
  private final java.util.function.Consumer<List<Outcome>> written;
  /** Filled by any thread (submit), drained by the completer's thread, or after it ended by lateWrites' holder. */
  private final LinkedBlockingQueue<Outcome> pending = new LinkedBlockingQueue<>();
  /** Queues whose outcomes end the linger ({@link #writePromptly}). */
  private final java.util.Set<String> prompt = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /** Thread-safe (its methods are synchronized); used by the completer's thread. */
  private final RetryLog retryLog = new RetryLog(log, "writing job outcomes");
  /** Written once by the first stop() (any thread), with the deadline below; read by the completer's thread. */
  private volatile boolean stopping;
  /** Written once by the first stop(), before {@code stopping}; read by the completer's thread and stop(). */
  private volatile long stopDeadlineNanos = Long.MAX_VALUE;
  private final ServiceThread service = new ServiceThread(this);
  /** Set once stop() has seen the thread end: from then on submit() writes on the caller's thread. */
  private volatile boolean finished;
  /** Serialises the writes made after the thread ended. */
  private final Object lateWrites = new Object();

  Completer(DataSource dataSource, JobStore store) {
    this(dataSource, store, o -> {});
  }

  Completer(DataSource dataSource, JobStore store, java.util.function.Consumer<List<Outcome>> written) {
    this.dataSource = dataSource;
    this.store = store;
    this.written = written;
  }

  @Override
  public void start(String threadName) {
    service.start(threadName);
  }

  /**
   * Whether outcomes of {@code queue} are written without the linger: a queue under a global
   * concurrency limit, whose finished jobs count as running for other workers' claims (holding
   * slots they wait for) until they are written. Measured on the benchmark (c20, one worker, when
   * a worker's own finished jobs still counted for its claims too): with the linger, a limit of
   * 100 ran at about 45% of the unlimited rate, without it at about 60%. Any thread.
   */
  void writePromptly(String queue, boolean on) {
    if (on) {
      prompt.add(queue);
    } else {
      prompt.remove(queue);
    }
  }

  /**
   * Queues an outcome for the next batch. After {@link #stop} the thread is gone, so an outcome
   * that arrives late (a claim that was in flight at shutdown releasing its jobs) is written at
   * once on the caller's thread instead of being left in a queue nobody reads.
   */
  void submit(Outcome outcome) {
    pending.add(outcome);
    if (finished) {
      writeLate();
    }
  }

  /** Writes what is pending, once, on the calling thread; logs (does not throw) a failure. */
  private void writeLate() {
    synchronized (lateWrites) {
      List<Outcome> batch = new ArrayList<>();
      pending.drainTo(batch);
      if (batch.isEmpty()) {
        return;
      }
      try {
        write(batch);
        written.accept(batch);
        log.info("pgqueue: wrote {} job outcomes that arrived after shutdown began", batch.size());
      } catch (SQLException | RuntimeException e) {
        log.warn("pgqueue: {} job outcomes that arrived after shutdown could not be written; those jobs will be"
            + " rescued and run again", batch.size(), e);
      }
    }
  }

  /**
   * Stops after writing everything submitted so far, waiting at most {@code timeoutMillis} (the
   * first call's deadline bounds the writes), then up to a second more for an interrupted write to
   * end. Returns whether every outcome submitted so far was written.
   */
  @Override
  public boolean stop(long timeoutMillis) {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    Thread t = service.stop(() -> {
      stopDeadlineNanos = deadline;
      stopping = true;
    });
    if (t != null && !ServiceThread.join(t, timeoutMillis)) {
      t.interrupt();
      ServiceThread.join(t, 1_000);
    }
    if (t == null || !t.isAlive()) {
      // From now on submit() writes itself; write what slipped in between the thread's last look
      // and this flag.
      finished = true;
      if (System.nanoTime() - stopDeadlineNanos < 0) {
        writeLate();
      }
    }
    if (!pending.isEmpty()) {
      log.warn(
          "pgqueue: {} job outcomes could not be written before shutdown; those jobs will be rescued"
              + " and run again",
          pending.size());
      return false;
    }
    return true;
  }

  @Override
  public void run() {
    List<Outcome> batch = new ArrayList<>(MAX_BATCH);
    try {
      while (true) {
        Outcome first = pending.poll(stopping ? 0 : 50, TimeUnit.MILLISECONDS);
        if (first == null) {
          if (stopping) {
            return;
          }
          continue;
        }
        batch.add(first);
        long lingerUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LINGER_MILLIS);
        pending.drainTo(batch, MAX_BATCH - batch.size());
        int checked = 0; // outcomes before this index hold no queue written promptly
        while (batch.size() < MAX_BATCH && !stopping) {
          if (hasPrompt(batch, checked)) {
            break;
          }
          checked = batch.size();
          long left = lingerUntil - System.nanoTime();
          if (left <= 0) {
            break;
          }
          Outcome next = pending.poll(left, TimeUnit.NANOSECONDS);
          if (next == null) {
            break;
          }
          batch.add(next);
          pending.drainTo(batch, MAX_BATCH - batch.size());
        }
        writeWithRetry(batch);
        batch.clear();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      pending.addAll(batch);
    }
  }

  /** Whether the batch holds, from index {@code from}, an outcome of a queue written promptly. */
  private boolean hasPrompt(List<Outcome> batch, int from) {
    if (prompt.isEmpty()) {
      return false;
    }
    for (int i = from; i < batch.size(); i++) {
      if (prompt.contains(batch.get(i).job().queue())) {
        return true;
      }
    }
    return false;
  }

  private void writeWithRetry(List<Outcome> batch) throws InterruptedException {
    while (true) {
      try {
        write(batch);
        retryLog.recovered();
        written.accept(batch);
        return;
      } catch (SQLException | RuntimeException e) {
        long wait = retryLog.failed(e);
        if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(wait) > stopDeadlineNanos) {
          throw new InterruptedException("shutdown deadline passed");
        }
        Thread.sleep(wait);
      }
    }
  }

  /** Writes one batch, in one transaction when it holds both kinds. Package-private for drain(). */
  void write(List<Outcome> batch) throws SQLException {
    List<Outcome> successes = new ArrayList<>(batch.size());
    List<Outcome> others = new ArrayList<>();
    for (Outcome o : batch) {
      if (!o.nothingToWrite()) {
        (o.success() ? successes : others).add(o);
      }
    }
    if (successes.isEmpty() && others.isEmpty()) {
      return;
    }
    // Both kinds in one transaction; one kind alone is one statement, atomic on its own.
    boolean both = !successes.isEmpty() && !others.isEmpty();
    Borrowed.transaction(dataSource, !both, c -> {
      if (!successes.isEmpty()) {
        store.complete(c, successes);
      }
      if (!others.isEmpty()) {
        store.settle(c, others);
      }
      return null;
    });
  }
}
