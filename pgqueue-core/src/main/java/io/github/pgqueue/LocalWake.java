package io.github.pgqueue;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;

/**
 * The in-process wake-up: the fetchers of the started workers of this JVM, by the database they
 * claim from, so that a {@link JobQueue} that has just committed an enqueue wakes the local
 * fetchers of that queue at once, without waiting for the NOTIFY to travel through PostgreSQL and
 * back. The NOTIFY is still sent (other processes need it); a local fetcher woken twice claims
 * once more and finds nothing, as it does today after a NOTIFY that a fast poll beat.
 *
 * <p><b>Identity.</b> A fetcher is registered under its worker's {@link DataSource} instance (by
 * identity, never {@code equals}) and schema; an enqueue wakes the fetchers registered under its
 * queue's DataSource instance and schema that serve the job's queue. A worker built from a queue,
 * or from another queue on the same DataSource object and schema, is woken; one whose DataSource
 * is another object, even pointing at the same database, is not, and keeps the NOTIFY path alone.
 * So a mismatch can only go two ways: a fetcher of another database woken for nothing (a
 * DataSource that routes to several databases), which costs one claim that finds nothing; or a
 * fetcher not woken here, which the NOTIFY (or the poll) still wakes. Neither loses a job or a
 * wake-up that exists without this class.
 *
 * <p><b>Lifetime.</b> A worker registers its fetchers when it starts and removes them first thing
 * when it stops (also when its start fails half way), so a closed worker is never woken and holds
 * no entry here. A started worker that is never closed keeps its threads anyway; this registry adds
 * no lifetime of its own. An empty entry is removed, so the map does not keep a DataSource alive.
 *
 * <p>Thread-safe: registration and removal are atomic per key; a wake reads a copy-on-write list
 * and takes each matching fetcher's lock for a moment. It never touches the database and never
 * throws.
 */
final class LocalWake {

  private static final ConcurrentHashMap<Key, CopyOnWriteArrayList<Fetcher>> FETCHERS = new ConcurrentHashMap<>();

  private LocalWake() {}

  /** A DataSource by identity, and a schema. */
  private static final class Key {
    final DataSource dataSource;
    final String schema;

    Key(DataSource dataSource, String schema) {
      this.dataSource = dataSource;
      this.schema = schema;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.dataSource == dataSource && k.schema.equals(schema);
    }

    @Override
    public int hashCode() {
      return 31 * System.identityHashCode(dataSource) + schema.hashCode();
    }
  }

  /** Registers a starting worker's fetchers. */
  static void register(DataSource dataSource, String schema, Collection<Fetcher> fetchers) {
    FETCHERS.compute(new Key(dataSource, schema), (k, list) -> {
      CopyOnWriteArrayList<Fetcher> l = list != null ? list : new CopyOnWriteArrayList<>();
      l.addAll(fetchers);
      return l;
    });
  }

  /** Removes a stopping worker's fetchers; idempotent. */
  static void deregister(DataSource dataSource, String schema, Collection<Fetcher> fetchers) {
    FETCHERS.computeIfPresent(new Key(dataSource, schema), (k, list) -> {
      list.removeAll(fetchers);
      return list.isEmpty() ? null : list;
    });
  }

  /**
   * Wakes the registered fetchers of {@code queue} on this DataSource and schema. Called after
   * the enqueue's own commit returned, never for a transaction the caller owns.
   */
  static void wake(DataSource dataSource, String schema, String queue) {
    List<Fetcher> list = FETCHERS.get(new Key(dataSource, schema));
    if (list == null) {
      return;
    }
    for (Fetcher f : list) {
      if (f.queue.equals(queue)) {
        f.wakeLocal();
      }
    }
  }

  /** As {@link #wake(DataSource, String, String)} for each queue of a batch. */
  static void wake(DataSource dataSource, String schema, Collection<String> queues) {
    List<Fetcher> list = FETCHERS.get(new Key(dataSource, schema));
    if (list == null) {
      return;
    }
    for (Fetcher f : list) {
      if (queues.contains(f.queue)) {
        f.wakeLocal();
      }
    }
  }

  /** The fetchers registered under this DataSource and schema (tests). */
  static List<Fetcher> registered(DataSource dataSource, String schema) {
    List<Fetcher> list = FETCHERS.get(new Key(dataSource, schema));
    return list == null ? List.of() : new ArrayList<>(list);
  }
}
