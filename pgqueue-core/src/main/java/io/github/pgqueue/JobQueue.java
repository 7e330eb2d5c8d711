package io.github.pgqueue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.internal.Borrowed;
import io.github.pgqueue.internal.Identifiers;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Enqueues jobs and inspects them. The producer side of pgqueue: what a web process uses.
 *
 * <p>Every write has two forms. The plain form borrows a connection from the {@link DataSource}
 * and commits before it returns: when the call returns, the job is durable and visible to workers.
 * The form that takes a {@link Connection} runs in the caller's transaction and never commits,
 * rolls back or closes it: the job exists exactly when the caller's transaction commits, so a
 * signup and its welcome email are written together or not at all (the transactional outbox).
 * With a {@link ConnectionSource} that joins a transaction managed elsewhere (a Spring
 * transaction), the plain form also runs in that transaction and never commits it.
 *
 * <p>When a job may run at once, the enqueue sends a NOTIFY in the same transaction so an idle
 * worker wakes within milliseconds. Because a NOTIFY serialises commits cluster-wide, at most one
 * is sent per queue per millisecond by this instance; workers poll fast after a wake-up, so a skipped
 * one costs milliseconds. {@link Builder#notify(boolean)} turns NOTIFY off (workers then rely on
 * polling).
 *
 * <p>An enqueue this queue commits itself (the plain forms, on a connection it owns) also wakes,
 * right after its commit and before it returns, the started {@link Worker}s of this JVM that serve
 * the job's queue on the same {@link DataSource} object and schema, without waiting for the NOTIFY,
 * whether NOTIFY is on or not. The forms that take a {@link Connection}, and a joined transaction,
 * rely on the NOTIFY sent at the caller's commit. Jobs due later wake nobody. See docs/worker.md,
 * "Wake-up".
 *
 * <p>Construction does not touch the database and does not migrate. The first operation checks
 * that the schema is installed at the version this code needs and throws {@link
 * SchemaVersionException} (naming {@link Migrator}) if not; the check is remembered once it passes.
 *
 * <p>Bad arguments throw {@link IllegalArgumentException} naming the field and value before
 * anything is written. Database failures throw {@link PgQueueException}.
 *
 * <p>Instances are thread-safe; create one per application and share it.
 */
public final class JobQueue {

  /** The largest payload limit that can be configured (PostgreSQL's jsonb tops out near 255 MB). */
  public static final int MAX_MAX_PAYLOAD_BYTES = 64 << 20;

  /** How often a batch is retried after a deadlock or serialization failure (own transaction only). */
  private static final int TRANSIENT_RETRIES = 5;

  private static final Logger log = LoggerFactory.getLogger(JobQueue.class);

  private final ConnectionSource source;
  /** The application's pool; a worker built from this queue claims from it (never a joined source). */
  private final DataSource dataSource;
  private final String schema;
  private final CheckedCodec codec;
  private final List<EnqueueInterceptor> enqueueInterceptors;
  private final JobStore store;
  private final boolean notify;
  private final NotifyThrottle throttle;
  private volatile boolean schemaChecked;
  /**
   * Whether an enqueue this queue commits itself wakes this JVM's workers of the job's queue at
   * once ({@link LocalWake}). Always on but for the benchmark's comparison (BenchAccess).
   */
  volatile boolean localWake = true;

  private JobQueue(Builder b) {
    this.dataSource = b.dataSource;
    this.source = b.connectionSource != null ? b.connectionSource : ConnectionSource.of(b.dataSource);
    this.schema = b.schema;
    this.codec = new CheckedCodec(b.codec != null ? b.codec : JacksonCodec.create(), b.maxPayloadBytes);
    this.enqueueInterceptors = List.copyOf(b.enqueueInterceptors);
    this.store = new JobStore(new Sql(b.schema));
    this.notify = b.notify;
    this.throttle = new NotifyThrottle(NotifyThrottle.DEFAULT_INTERVAL_NANOS);
  }

  /**
   * A queue with every default: schema {@value Migrator#DEFAULT_SCHEMA}, the default Jackson
   * mapper, NOTIFY on, payloads up to 1 MiB.
   *
   * @param dataSource where to connect, typically a connection pool
   * @return the queue
   */
  public static JobQueue create(DataSource dataSource) {
    return builder(dataSource).build();
  }

  /**
   * A builder for a configured queue.
   *
   * @param dataSource where to connect, typically a connection pool
   * @return the builder
   */
  public static Builder builder(DataSource dataSource) {
    return new Builder(dataSource);
  }

  /**
   * A new instance of the Jackson mapper pgqueue uses unless given another: java.time support,
   * ISO-8601 dates, unknown properties ignored on decode, no default typing. Start from it to add
   * your own modules, and pass the result to {@link Builder#objectMapper}; a worker built from the
   * queue ({@link Worker#builder(JobQueue)}) decodes with the same mapper.
   *
   * @return a new mapper
   */
  public static ObjectMapper defaultObjectMapper() {
    return JacksonCodec.defaultMapper();
  }

  /**
   * The codec workers built from this queue decode with: the configured one, wrapped in pgqueue's
   * checks (a null decode result is refused, so the job is discarded as undecodable).
   */
  PayloadCodec codec() {
    return codec;
  }

  /**
   * The schema this queue writes to.
   *
   * @return the schema name
   */
  public String schema() {
    return schema;
  }

  /** Where this queue connects; a worker built from this queue claims from it too. */
  DataSource dataSource() {
    return dataSource;
  }

  // ---- enqueue, own transaction ---------------------------------------------------------------

  /**
   * Enqueues one job with the type's default options and commits.
   *
   * @param type the job type
   * @param payload the payload, encoded as JSON
   * @param <T> the payload type
   * @return the new job's id
   * @throws IllegalArgumentException if the payload is null, cannot be encoded, is over the size
   *     limit or contains a NUL character
   * @throws SchemaVersionException if the schema is missing or too old
   * @throws PgQueueException if the database write fails: nothing was written, unless the
   *     connection broke while the commit was in flight, when the outcome is unknown and the
   *     message says so
   */
  public <T> EnqueueResult enqueue(JobType<T> type, T payload) {
    return enqueue(type, payload, EnqueueOptions.DEFAULTS);
  }

  /**
   * Enqueues one job and commits. With a unique key, returns the existing job's id (flagged
   * {@link EnqueueResult#duplicate()}) when one with the same name and key is available or
   * running, and writes nothing.
   *
   * @param type the job type
   * @param payload the payload, encoded as JSON
   * @param options options for this job, overriding the type's defaults field by field
   * @param <T> the payload type
   * @return the new (or, for a duplicate, the existing) job's id
   * @throws IllegalArgumentException if the payload is null, cannot be encoded, is over the size
   *     limit or contains a NUL character
   * @throws SchemaVersionException if the schema is missing or too old
   * @throws PgQueueException if the database write fails: nothing was written, unless the
   *     connection broke while the commit was in flight, when the outcome is unknown and the
   *     message says so
   */
  public <T> EnqueueResult enqueue(JobType<T> type, T payload, EnqueueOptions options) {
    JobStore.Row row = row(type, payload, options);
    if (enqueueInterceptors.isEmpty()) {
      return insertOne(type, row);
    }
    return intercepted(List.of(row), rows -> List.of(insertOne(type, rows.get(0)))).get(0);
  }

  private <T> EnqueueResult insertOne(JobType<T> type, JobStore.Row row) {
    checkSchema();
    boolean notifyNow = shouldNotify(row);
    try {
      // One write: the insert (a keyed one may add a read-only lookup of the key's holder).
      return transaction(true, 0, c -> store.insert(c, row, notifyNow), result -> {
        if (!result.duplicate() && dueNow(row)) {
          wakeLocal(row.queue());
        }
      });
    } catch (SQLException e) {
      throw failed("enqueue of \"" + type.name() + "\"", "the job", e);
    }
  }

  /**
   * Enqueues a batch of jobs of one type with the same options, in one transaction and a few
   * statements whatever the batch size.
   *
   * @param type the job type
   * @param payloads the payloads, none null
   * @param <T> the payload type
   * @return one result per payload, in order
   * @throws IllegalArgumentException if any payload is invalid; nothing is written
   * @throws PgQueueException if the database write fails: nothing was written, unless the
   *     connection broke while the commit was in flight, when the outcome is unknown and the
   *     message says so
   */
  public <T> List<EnqueueResult> enqueueAll(JobType<T> type, Collection<? extends T> payloads) {
    return enqueueAll(type, payloads, EnqueueOptions.DEFAULTS);
  }

  /**
   * Enqueues a batch of jobs of one type with the same options. If the options carry a unique
   * key, the first payload is enqueued and the others are reported as its duplicates.
   *
   * @param type the job type
   * @param payloads the payloads, none null
   * @param options options for every job of the batch
   * @param <T> the payload type
   * @return one result per payload, in order
   * @throws IllegalArgumentException if any payload is invalid; nothing is written
   * @throws PgQueueException if the database write fails: nothing was written, unless the
   *     connection broke while the commit was in flight, when the outcome is unknown and the
   *     message says so
   */
  public <T> List<EnqueueResult> enqueueAll(
      JobType<T> type, Collection<? extends T> payloads, EnqueueOptions options) {
    return enqueueRows(rows(type, payloads, options));
  }

  /**
   * Enqueues a batch of jobs, possibly of several types, in one transaction: all or nothing.
   * Unkeyed jobs go in one multi-row insert; keyed jobs are deduplicated within the batch (the
   * first occurrence of a name and key wins, the later ones are reported as its duplicates) and
   * written in key order, so concurrent batches with overlapping keys cannot deadlock. A
   * deadlock or serialization failure from elsewhere is retried a few times.
   *
   * @param jobs the jobs
   * @return one result per job, in order: the new id, or the id of the job that already holds the
   *     name and key
   * @throws IllegalArgumentException if any job is invalid; nothing is written
   * @throws PgQueueException if the database write fails: nothing was written, unless the
   *     connection broke while the commit was in flight, when the outcome is unknown and the
   *     message says so
   */
  public List<EnqueueResult> enqueueAll(List<? extends NewJob<?>> jobs) {
    return enqueueRows(rows(jobs));
  }

  private List<EnqueueResult> enqueueRows(List<JobStore.Row> rows) {
    if (rows.isEmpty()) {
      return List.of();
    }
    return enqueueInterceptors.isEmpty() ? insertAll(rows) : intercepted(rows, this::insertAll);
  }

  private List<EnqueueResult> insertAll(List<JobStore.Row> rows) {
    checkSchema();
    Set<String> notifyQueues = notifyQueues(rows);
    // Without keyed rows the batch is one statement, atomic on its own: one round trip.
    boolean single = JobStore.singleStatement(rows);
    try {
      return transaction(single, TRANSIENT_RETRIES, c -> store.insertAll(c, rows, notifyQueues), results -> {
        Set<String> due = new LinkedHashSet<>();
        for (int i = 0; i < rows.size() && i < results.size(); i++) {
          if (!results.get(i).duplicate() && dueNow(rows.get(i))) {
            due.add(rows.get(i).queue());
          }
        }
        if (!due.isEmpty()) {
          PickupProbe.at(PickupProbe.Point.COMMITTED, 0);
          if (localWake) {
            LocalWake.wake(dataSource, schema, due);
          }
        }
      });
    } catch (SQLException e) {
      throw failed("bulk enqueue of " + rows.size() + " jobs", "the jobs", e);
    }
  }

  // ---- enqueue, caller's transaction ----------------------------------------------------------

  /**
   * Enqueues one job with the type's default options in the caller's transaction. Never commits,
   * rolls back or closes {@code connection}: if the caller rolls back, the job never existed; once
   * the caller commits, it is visible to workers.
   *
   * @param connection the caller's connection, in the transaction the job belongs to
   * @param type the job type
   * @param payload the payload
   * @param <T> the payload type
   * @return the new job's id
   * @throws IllegalArgumentException if the payload is invalid; nothing is written
   * @throws PgQueueException if the statement fails; the caller's transaction is then aborted and
   *     must be rolled back
   */
  public <T> EnqueueResult enqueue(Connection connection, JobType<T> type, T payload) {
    return enqueue(connection, type, payload, EnqueueOptions.DEFAULTS);
  }

  /**
   * Enqueues one job in the caller's transaction; see {@link #enqueue(Connection, JobType,
   * Object)} for the transaction contract and {@link #enqueue(JobType, Object, EnqueueOptions)}
   * for unique keys.
   *
   * @param connection the caller's connection
   * @param type the job type
   * @param payload the payload
   * @param options options for this job
   * @param <T> the payload type
   * @return the new (or, for a duplicate, the existing) job's id
   * @throws IllegalArgumentException if the payload is invalid; nothing is written
   * @throws PgQueueException if the statement fails; the caller's transaction is then aborted
   */
  public <T> EnqueueResult enqueue(
      Connection connection, JobType<T> type, T payload, EnqueueOptions options) {
    Objects.requireNonNull(connection, "connection");
    JobStore.Row row = row(type, payload, options);
    if (enqueueInterceptors.isEmpty()) {
      return insertOne(connection, type, row);
    }
    return intercepted(List.of(row), rows -> List.of(insertOne(connection, type, rows.get(0)))).get(0);
  }

  private <T> EnqueueResult insertOne(Connection connection, JobType<T> type, JobStore.Row row) {
    checkSchema();
    try {
      return store.insert(connection, row, shouldNotify(row));
    } catch (SQLException e) {
      throw new PgQueueException("enqueue of \"" + type.name() + "\" failed", e);
    }
  }

  /**
   * Enqueues a batch of one type in the caller's transaction; see {@link #enqueueAll(List)}.
   *
   * @param connection the caller's connection
   * @param type the job type
   * @param payloads the payloads
   * @param <T> the payload type
   * @return one result per payload, in order
   * @throws IllegalArgumentException if any payload is invalid; nothing is written
   * @throws PgQueueException if a statement fails; the caller's transaction is then aborted
   */
  public <T> List<EnqueueResult> enqueueAll(
      Connection connection, JobType<T> type, Collection<? extends T> payloads) {
    Objects.requireNonNull(connection, "connection");
    return enqueueRows(connection, rows(type, payloads, EnqueueOptions.DEFAULTS));
  }

  /**
   * Enqueues a batch in the caller's transaction; see {@link #enqueueAll(List)}. Deadlocks are not
   * retried here (the caller's transaction is aborted by one); lock keys in a fixed order across
   * your own transactions to avoid them.
   *
   * @param connection the caller's connection
   * @param jobs the jobs
   * @return one result per job, in order
   * @throws IllegalArgumentException if any job is invalid; nothing is written
   * @throws PgQueueException if a statement fails; the caller's transaction is then aborted
   */
  public List<EnqueueResult> enqueueAll(Connection connection, List<? extends NewJob<?>> jobs) {
    Objects.requireNonNull(connection, "connection");
    return enqueueRows(connection, rows(jobs));
  }

  private List<EnqueueResult> enqueueRows(Connection connection, List<JobStore.Row> rows) {
    if (rows.isEmpty()) {
      return List.of();
    }
    return enqueueInterceptors.isEmpty() ? insertAll(connection, rows)
        : intercepted(rows, r -> insertAll(connection, r));
  }

  private List<EnqueueResult> insertAll(Connection connection, List<JobStore.Row> rows) {
    checkSchema();
    try {
      return store.insertAll(connection, rows, notifyQueues(rows));
    } catch (SQLException e) {
      throw new PgQueueException("bulk enqueue of " + rows.size() + " jobs failed", e);
    }
  }

  // ---- inspection ----------------------------------------------------------------------------

  /**
   * One job by id.
   *
   * @param id the job id
   * @return the job, or empty if no such row exists (it succeeded and was deleted, was pruned, or
   *     never existed)
   * @throws PgQueueException if the read fails
   */
  public Optional<JobInfo> find(JobId id) {
    Objects.requireNonNull(id, "id");
    checkSchema();
    try {
      return transaction(true, c -> store.find(c, id.value()));
    } catch (SQLException e) {
      throw new PgQueueException("reading job " + id + " failed", e);
    }
  }

  /**
   * How many jobs each queue holds in each state. Scheduled jobs (available with a future run
   * time) count as available. Costs a scan of the table; fine for dashboards, not for hot loops.
   *
   * @return one entry per non-empty (queue, state), sorted by queue then state
   * @throws PgQueueException if the read fails
   */
  public List<QueueCount> counts() {
    checkSchema();
    try {
      return transaction(true, store::counts);
    } catch (SQLException e) {
      throw new PgQueueException("counting jobs failed", e);
    }
  }

  /** The longest window {@link #throughput} reads: workers prune rollup rows older than 8 days. */
  public static final Duration MAX_THROUGHPUT_WINDOW = Duration.ofDays(8);

  /**
   * Job outcomes per minute over the last {@code window}, summed over workers: what charts of
   * throughput and failures read. Equivalent to {@link #throughput(Duration,
   * Duration) throughput(window, Duration.ofMinutes(1))}.
   *
   * @param window how far back, from 1 minute to {@link #MAX_THROUGHPUT_WINDOW}
   * @return one entry per non-empty (minute, queue, name, outcome), sorted by those
   * @throws IllegalArgumentException if the window is out of range
   * @throws PgQueueException if the read fails
   */
  public List<Throughput> throughput(Duration window) {
    return throughput(window, Duration.ofMinutes(1));
  }

  /**
   * Job outcomes over the last {@code window} in buckets of {@code bucket}, summed over workers,
   * read from the {@code job_rollups} table that workers write (see {@link
   * Worker.Builder#rollupInterval}); never from {@code jobs}, so it costs the same on any size of
   * queue: an index range scan of the rollup's recent rows. Buckets are aligned to the Unix epoch
   * (an hour bucket starts on the hour, UTC); the first bucket is the one that holds {@code now -
   * window}, so the result covers at least the window. Counts are those of workers whose rollup
   * is on; a worker killed without a graceful shutdown loses its last interval's counts, and a
   * count lands in the minute of the flush that wrote it (up to one flush interval late).
   *
   * @param window how far back, from 1 minute to {@link #MAX_THROUGHPUT_WINDOW}
   * @param bucket the bucket size: a whole number of minutes, from 1 minute to 1 day
   * @return one entry per non-empty (bucket, queue, name, outcome), sorted by those
   * @throws IllegalArgumentException if the window or bucket is out of range
   * @throws PgQueueException if the read fails
   */
  public List<Throughput> throughput(Duration window, Duration bucket) {
    if (window == null || window.compareTo(Duration.ofMinutes(1)) < 0
        || window.compareTo(MAX_THROUGHPUT_WINDOW) > 0) {
      throw new IllegalArgumentException(
          "window must be between PT1M and " + MAX_THROUGHPUT_WINDOW + ", got: " + window);
    }
    if (bucket == null || bucket.compareTo(Duration.ofMinutes(1)) < 0
        || bucket.compareTo(Duration.ofDays(1)) > 0 || bucket.toSeconds() % 60 != 0
        || bucket.getNano() != 0) {
      throw new IllegalArgumentException(
          "bucket must be a whole number of minutes between PT1M and PT24H, got: " + bucket);
    }
    checkSchema();
    try {
      return transaction(true, c -> store.throughput(c, window.toSeconds(), bucket.toSeconds()));
    } catch (SQLException e) {
      throw new PgQueueException("reading the throughput rollup failed", e);
    }
  }

  /**
   * Statistics for dashboards and alerts: jobs per queue and state with the age of the oldest due
   * job, due jobs no live worker handles, live workers, and the table's dead tuples, last vacuum
   * and the oldest transaction holding vacuum back. A worker counts as live when its heartbeat, by
   * the database clock, is younger than its own stale threshold (the one it registered with; {@link
   * Worker#DEFAULT_STALE_AFTER} for a worker of a release that did not record it): the same rule
   * the rescuer applies.
   *
   * @return the statistics
   * @throws PgQueueException if the read fails
   */
  public QueueStats stats() {
    checkSchema();
    try {
      // Read-only: several statements need no transaction around them.
      return transaction(true, store::stats);
    } catch (SQLException e) {
      throw new PgQueueException("reading queue statistics failed", e);
    }
  }

  /**
   * Due, scheduled and running jobs per queue, and the age of the oldest due job: the cheap part of
   * {@link #stats()}, for gauges read at an interval. One statement that reads only available and
   * running rows, each through its partial index, so its cost follows the backlog and the running
   * jobs, not the discarded rows kept for inspection (which {@link #stats()} counts). When the
   * backlog is most of the table (a million due jobs beside a few discarded ones), PostgreSQL reads
   * the table sequentially instead, because that is then the cheaper way to count the backlog.
   * Either way a read of the whole backlog: call it at an interval and cache the result, never per
   * scrape.
   *
   * @return one entry per queue that has an available or running job, sorted by queue name
   * @throws PgQueueException if the read fails
   */
  public List<QueueDepth> queueDepths() {
    checkSchema();
    try {
      return transaction(true, store::queueDepths);
    } catch (SQLException e) {
      throw new PgQueueException("reading queue depths failed", e);
    }
  }

  // ---- administration ------------------------------------------------------------------------

  /**
   * Makes a discarded job available again now, with a fresh attempt budget (its errors are kept),
   * or makes a scheduled job due now. A running job cannot be retried.
   *
   * <p>The change is one statement; only when it changes nothing is a second read made, to say why
   * (see {@link AdminResult} for how that read stays truthful under concurrent changes). A job made
   * available wakes its queue's idle workers at once, as an enqueue does: by a NOTIFY that commits
   * with the change, and in this JVM directly.
   *
   * @param id the job
   * @return {@link AdminResult.Status#DONE} (state {@link JobState#AVAILABLE}) if the job was made
   *     available now; {@link AdminResult.Status#NOT_FOUND} if no such job exists; {@link
   *     AdminResult.Status#WRONG_STATE} (state {@link JobState#RUNNING}) if it is running; {@link
   *     AdminResult.Status#KEY_TAKEN} if it is discarded with a unique key that another pending or
   *     running job of its name now holds, with that job's id
   * @throws PgQueueException if the write fails
   */
  public AdminResult retry(JobId id) {
    Objects.requireNonNull(id, "id");
    for (int attempt = 1; ; attempt++) {
      try {
        String[] revived = new String[1];
        checkSchema();
        try {
          // The statement's NOTIFY wakes the queue's workers in every process at commit; this
          // JVM's own are woken at once after it.
          return transaction(true, 0, c -> store.retry(c, id.value(), revived), r -> {
            if (revived[0] != null) {
              wakeLocal(revived[0]);
            }
          });
        } catch (SQLException e) {
          throw new PgQueueException("retrying job " + id + " failed", e);
        }
      } catch (PgQueueException e) {
        // A job with the same key was enqueued while the retry ran (unique violation): the next
        // try sees it and reports KEY_TAKEN.
        if (attempt >= 3 || !(e.getCause() instanceof SQLException s) || !"23505".equals(s.getSQLState())) {
          throw e;
        }
      }
    }
  }

  /**
   * Discards an available (pending or scheduled) or running job so it does not run (again),
   * recording {@code reason} as its last error.
   *
   * <p>For a running job the cancel writes the terminal state itself, guarded: a job that finished
   * first (deleted) is reported {@link AdminResult.Status#NOT_FOUND} and stays finished; one
   * discarded first stays as it was. Once cancelled, the attempt's claim is gone, so nothing the
   * attempt reports later is written (a {@linkplain Worker.Builder#handleInTransaction
   * transactional handler}'s writes roll back). The owning worker is told by NOTIFY (within
   * milliseconds; by polling each heartbeat interval where NOTIFY is not delivered): it interrupts
   * the handler, aborts its transaction if it has one, and abandons the attempt after the timeout
   * grace if the handler ignores the interrupt. A handler can also cancel its own job through
   * {@link JobContext#cancel}.
   *
   * @param id the job
   * @param reason why, kept with the job; null records "cancelled"
   * @return {@link AdminResult.Status#DONE} (state {@link JobState#DISCARDED}) if the job was
   *     cancelled; {@link AdminResult.Status#NOT_FOUND} if no such job exists (it may have just
   *     finished); {@link AdminResult.Status#WRONG_STATE} (state {@link JobState#DISCARDED}) if it
   *     is already discarded
   * @throws IllegalArgumentException if the reason contains a NUL character or a lone surrogate
   * @throws PgQueueException if the write fails
   */
  public AdminResult cancel(JobId id, String reason) {
    Objects.requireNonNull(id, "id");
    String r = reason == null ? "cancelled" : reason;
    Identifiers.checkStorable("reason", r);
    return write("cancelling job " + id, c -> store.cancel(c, id.value(), r));
  }

  /**
   * Deletes an available or discarded job for good (a running job cannot be deleted: its worker
   * holds it). For a discarded job this is what pruning does to old ones; for a pending job, prefer
   * {@link #cancel}, which keeps a record.
   *
   * @param id the job
   * @return {@link AdminResult.Status#DONE} (state null: the row is gone) if the job was deleted;
   *     {@link AdminResult.Status#NOT_FOUND} if no such job exists (including one deleted
   *     concurrently); {@link AdminResult.Status#WRONG_STATE} (state {@link JobState#RUNNING}) if it
   *     is running
   * @throws PgQueueException if the write fails
   */
  public AdminResult delete(JobId id) {
    Objects.requireNonNull(id, "id");
    return write("deleting job " + id, c -> store.delete(c, id.value()));
  }

  /**
   * One page of jobs matching {@code query}, paged by key: pass the page's {@link
   * JobPage#nextCursor()} to {@link JobQuery#after(String)} for the next one. The order, the time
   * column and the index each shape uses are described on {@link JobQuery}; no page costs an
   * offset or a count. Each page is read in one statement, a consistent snapshot.
   *
   * @param query the filters, order, page size and cursor
   * @return the page
   * @throws PgQueueException if the read fails
   */
  public JobPage jobs(JobQuery query) {
    Objects.requireNonNull(query, "query");
    checkSchema();
    try {
      return Borrowed.transaction(dataSource, true, c -> store.jobs(c, query));
    } catch (SQLException e) {
      throw new PgQueueException("querying jobs (" + query + ") failed", e);
    }
  }

  /**
   * As {@link #jobs(JobQuery)}, on the caller's connection and in its transaction: it sees the
   * jobs that transaction enqueued and has not committed yet. Never commits, rolls back or closes
   * {@code connection}.
   *
   * @param connection the caller's connection
   * @param query the filters, order, page size and cursor
   * @return the page
   * @throws PgQueueException if the read fails; the caller's transaction is then aborted
   */
  public JobPage jobs(Connection connection, JobQuery query) {
    Objects.requireNonNull(connection, "connection");
    Objects.requireNonNull(query, "query");
    checkSchema();
    try {
      return store.jobs(connection, query);
    } catch (SQLException e) {
      throw new PgQueueException("querying jobs (" + query + ") failed", e);
    }
  }

  /**
   * The most recently discarded jobs, newest first, with their payloads and errors.
   *
   * @param name only jobs of this name, or null for all
   * @param limit at most this many, between 1 and 10,000
   * @return the jobs
   * @throws IllegalArgumentException if the limit is out of range
   * @throws PgQueueException if the read fails
   */
  public List<JobInfo> discardedJobs(String name, int limit) {
    if (limit < 1 || limit > 10_000) {
      throw new IllegalArgumentException("limit must be between 1 and 10000, got: " + limit);
    }
    checkSchema();
    try {
      return transaction(true, c -> store.listDiscarded(c, name, limit));
    } catch (SQLException e) {
      throw new PgQueueException("listing discarded jobs failed", e);
    }
  }

  /**
   * Retries, in bulk, the discarded jobs of one name whose last error mentions {@code
   * errorContains} (case-insensitive, matched against the error's kind, class and message): after
   * fixing a bug or a downstream outage, put back exactly the jobs it discarded. Each gets a fresh
   * attempt budget.
   *
   * <p>Only one job per unique key may be pending, so of several matching jobs that share a key,
   * only the most recently discarded is retried, and none while another pending or running job
   * holds the key; the others stay discarded and are counted as skipped. Jobs without a key are
   * all retried. The retried jobs' queues' idle workers are woken at once, as by an enqueue.
   *
   * @param name the job name
   * @param errorContains text to look for in the last error; empty matches every discarded job of
   *     the name
   * @return how many jobs were made available, and how many matching jobs were left discarded
   *     because their unique key was taken
   * @throws PgQueueException if the write fails
   */
  public RetryDiscardedResult retryDiscarded(String name, String errorContains) {
    Identifiers.jobName(name);
    Objects.requireNonNull(errorContains, "errorContains");
    Identifiers.checkStorable("errorContains", errorContains);
    for (int attempt = 1; ; attempt++) {
      try {
        List<String> revived = new ArrayList<>();
        checkSchema();
        try {
          return transaction(true, 0, c -> {
            revived.clear(); // a transient failure's retry starts over
            return store.retryDiscarded(c, name, errorContains, revived);
          }, r -> revived.forEach(this::wakeLocal));
        } catch (SQLException e) {
          throw new PgQueueException("retrying discarded \"" + name + "\" jobs failed", e);
        }
      } catch (PgQueueException e) {
        // A job with one of the keys was enqueued concurrently (unique violation): the next
        // statement sees it and skips that key.
        if (attempt >= 3 || !(e.getCause() instanceof SQLException s) || !"23505".equals(s.getSQLState())) {
          throw e;
        }
      }
    }
  }

  /**
   * Deletes discarded jobs older than {@code retention}, in batches of 1,000 (one short
   * transaction each, so it never holds many locks). Workers do this on their own every few
   * minutes (see {@link Worker.Builder#discardedRetention}), at most 20 batches per heartbeat
   * interval; this method runs its batches back to back, as fast as one connection can, which
   * takes a core of the database while it lasts: on a large backlog and a busy database, call it
   * at a quiet time or leave the pruning to the workers.
   *
   * @param retention keep jobs discarded more recently than this
   * @return how many were deleted
   * @throws IllegalArgumentException if negative
   * @throws PgQueueException if a delete fails
   */
  public long pruneDiscarded(Duration retention) {
    if (retention == null || retention.isNegative()) {
      throw new IllegalArgumentException("retention must be zero or positive, got: " + retention);
    }
    long total = 0;
    int n;
    do {
      n = write("pruning discarded jobs", c -> store.pruneDiscarded(c, retention.toMillis()));
      total += n;
    } while (n > 0);
    return total;
  }

  // ---- flow control (docs/flow-control.md) -----------------------------------------------------

  /**
   * Pauses {@code queue} for the whole fleet, persistently: no worker claims from it until {@link
   * #resume}, including workers started later. Every worker hears of it by NOTIFY within
   * milliseconds (or at its next poll when NOTIFY does not reach it), releases the jobs of the queue
   * it had claimed but not started (without charging an attempt), lets the running ones finish, and
   * then records the queue in its row of the {@code workers} table ({@code paused_queues}): from
   * then on it starts no job of the queue. Enqueueing into a paused queue still works. Pausing a
   * paused queue changes nothing.
   *
   * @param queue the queue name
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void pause(String queue) {
    String q = Identifiers.queueName(queue);
    write("pausing queue \"" + q + "\"", c -> {
      store.pause(c, q);
      return null;
    });
  }

  /**
   * Resumes a paused queue: every worker that serves it claims from it at once (NOTIFY, or its next
   * poll). Resuming a queue that is not paused changes nothing.
   *
   * @param queue the queue name
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void resume(String queue) {
    String q = Identifiers.queueName(queue);
    write("resuming queue \"" + q + "\"", false, c -> {
      store.resume(c, q);
      return null;
    });
  }

  /**
   * Sets the global concurrency limit of {@code queue}: at most {@code maxRunning} of its jobs run
   * at once across every worker, whatever each worker's own concurrency for the queue. Enforced by
   * each claim in its own transaction (the queue's control row locked, the running jobs counted
   * after the lock), so it holds across processes; a job held back by the limit stays available,
   * uncharged. A worker that dies holding slots gives them back when its jobs are rescued (after
   * its stale threshold). Workers pick a change up by NOTIFY within milliseconds, or at their next
   * poll; the claims of a limited queue take a few more statements (see docs/flow-control.md).
   *
   * @param queue the queue name
   * @param maxRunning the limit, at least 1
   * @throws IllegalArgumentException if the queue name is invalid or maxRunning is below 1
   * @throws PgQueueException if the write fails
   */
  public void setConcurrencyLimit(String queue, int maxRunning) {
    String q = Identifiers.queueName(queue);
    if (maxRunning < 1) {
      throw new IllegalArgumentException("maxRunning must be at least 1, got: " + maxRunning);
    }
    write("setting the concurrency limit of queue \"" + q + "\"", false, c -> {
      store.setMaxRunning(c, q, maxRunning);
      return null;
    });
  }

  /**
   * Removes the global concurrency limit of {@code queue}; without any other control its claims
   * are the ordinary ones again. Removing a limit that is not set changes nothing.
   *
   * @param queue the queue name
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void removeConcurrencyLimit(String queue) {
    String q = Identifiers.queueName(queue);
    write("removing the concurrency limit of queue \"" + q + "\"", false, c -> {
      store.setMaxRunning(c, q, 0);
      return null;
    });
  }

  /**
   * Sets the rate limit of {@code queue}: at most {@link RateLimit#starts()} job starts per {@link
   * RateLimit#period()} across every worker, with a burst of {@link RateLimit#burst()} (see {@link
   * RateLimit}). Every start takes a token, retries included, and a token is never given back;
   * waiting jobs start as tokens come (each worker sleeps until the next token, it does not poll
   * for it). A new limit starts with a full bucket. Jobs held back stay available, uncharged.
   *
   * @param queue the queue name
   * @param limit the limit
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws NullPointerException if limit is null
   * @throws PgQueueException if the write fails
   */
  public void setRateLimit(String queue, RateLimit limit) {
    String q = Identifiers.queueName(queue);
    Objects.requireNonNull(limit, "limit");
    write("setting the rate limit of queue \"" + q + "\"", false, c -> {
      store.setRateLimit(c, q, limit);
      return null;
    });
  }

  /**
   * Removes the rate limit of {@code queue}. Removing a limit that is not set changes nothing.
   *
   * @param queue the queue name
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void removeRateLimit(String queue) {
    String q = Identifiers.queueName(queue);
    write("removing the rate limit of queue \"" + q + "\"", false, c -> {
      store.setRateLimit(c, q, null);
      return null;
    });
  }

  /**
   * Sets the rate limit per concurrency key of {@code queue}: at most {@link RateLimit#starts()}
   * starts per {@link RateLimit#period()} of jobs with the same {@link
   * EnqueueOptions.Builder#concurrencyKey concurrency key}, across every worker, with a burst of
   * {@link RateLimit#burst()} per key (the bounds of {@link RateLimit} hold for each key). Every
   * start takes a token of its key, retries included, and a token is never given back. Jobs
   * without a key are not limited by it. A key without a token never holds back another key: a
   * claim leaves its jobs and takes other keys' jobs. Jobs held back stay available, uncharged;
   * they start as their key's tokens come (a worker sleeps until the first such key gets a token,
   * it does not poll for it). A bucket is stored only while it is not full (one row per key started
   * recently), so keys need no registration. A new or changed limit starts with every bucket full.
   * Combines with a per-key concurrency limit, fairness and the queue-wide rate limit; see
   * docs/flow-control.md.
   *
   * @param queue the queue name
   * @param limit the limit per key
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws NullPointerException if limit is null
   * @throws PgQueueException if the write fails
   */
  public void setKeyRateLimit(String queue, RateLimit limit) {
    String q = Identifiers.queueName(queue);
    Objects.requireNonNull(limit, "limit");
    write("setting the per-key rate limit of queue \"" + q + "\"", false, c -> {
      store.setKeyRateLimit(c, q, limit);
      return null;
    });
  }

  /**
   * Removes the rate limit per key of {@code queue}, and its keys' buckets. Removing a limit that
   * is not set changes nothing.
   *
   * @param queue the queue name
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void removeKeyRateLimit(String queue) {
    String q = Identifiers.queueName(queue);
    write("removing the per-key rate limit of queue \"" + q + "\"", false, c -> {
      store.setKeyRateLimit(c, q, null);
      return null;
    });
  }

  /**
   * Sets the per-key concurrency limit of {@code queue}: at most {@code maxRunning} jobs with the
   * same {@link EnqueueOptions.Builder#concurrencyKey concurrency key} run at once across every
   * worker (jobs without a key are not limited by it). Enforced by each claim in its own
   * transaction, under the queue's control row lock, with each key's running jobs counted from the
   * rows after the lock, so it holds across processes; a job held back by the limit stays
   * available, uncharged and not rescheduled. A worker that dies holding a key's slot gives it back
   * when its jobs are rescued (after its stale threshold). Keys need no registration and cost no
   * storage beyond the job rows (see docs/flow-control.md).
   *
   * @param queue the queue name
   * @param maxRunning the limit per key, at least 1
   * @throws IllegalArgumentException if the queue name is invalid or maxRunning is below 1
   * @throws PgQueueException if the write fails
   */
  public void setKeyConcurrencyLimit(String queue, int maxRunning) {
    String q = Identifiers.queueName(queue);
    if (maxRunning < 1) {
      throw new IllegalArgumentException("maxRunning must be at least 1, got: " + maxRunning);
    }
    write("setting the per-key concurrency limit of queue \"" + q + "\"", false, c -> {
      store.setKeyMaxRunning(c, q, maxRunning);
      return null;
    });
  }

  /**
   * Removes the per-key concurrency limit of {@code queue}. Removing a limit that is not set
   * changes nothing.
   *
   * @param queue the queue name
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void removeKeyConcurrencyLimit(String queue) {
    String q = Identifiers.queueName(queue);
    write("removing the per-key concurrency limit of queue \"" + q + "\"", false, c -> {
      store.setKeyMaxRunning(c, q, 0);
      return null;
    });
  }

  /**
   * Turns fairness between concurrency keys on or off for {@code queue}. With it on, claims take
   * turns across keys: jobs are claimed in the order of the rank each was given at enqueue (its
   * key's next rank, never lower than the queue's head), so one key's 10,000 waiting jobs do not
   * hold back another key's 10; priority and run time order jobs of equal rank. Jobs without a key
   * are claimed when no keyed job is left to claim. With it off (the default) jobs are claimed in
   * the ordinary order (priority, run time, id).
   *
   * @param queue the queue name
   * @param on whether claims take turns across keys
   * @throws IllegalArgumentException if the queue name is invalid
   * @throws PgQueueException if the write fails
   */
  public void setKeyFairness(String queue, boolean on) {
    String q = Identifiers.queueName(queue);
    write("setting fairness between keys of queue \"" + q + "\"", false, c -> {
      store.setKeyFair(c, q, on);
      return null;
    });
  }

  /** One statement on its own connection, committed. */
  private <R> R write(String what, Borrowed.Work<R> work) {
    return write(what, true, work);
  }

  /** Work on its own connection, committed; {@code single} when it is one statement. */
  private <R> R write(String what, boolean single, Borrowed.Work<R> work) {
    checkSchema();
    try {
      return transaction(single, work);
    } catch (SQLException e) {
      throw new PgQueueException(what + " failed", e);
    }
  }

  /**
   * The exception for a failed enqueue. Usually nothing was written; but when the connection broke
   * while the commit was in flight, PostgreSQL may have committed and the reply been lost, and the
   * message says the outcome is unknown.
   */
  private static PgQueueException failed(String what, String jobs, SQLException e) {
    if (e instanceof JoinedFailure) {
      return new PgQueueException(what + " failed; nothing was written, and the caller's transaction"
          + " it joined is aborted and must be rolled back", e);
    }
    if (Borrowed.outcomeUnknown(e)) {
      return new PgQueueException(what + ": the connection failed while the commit was in flight;"
          + " the outcome is unknown: " + jobs + " may or may not have been written. Enqueue with a"
          + " unique key to make a retry safe, or look the job up before retrying", e);
    }
    return new PgQueueException(what + " failed; nothing was written", e);
  }

  /**
   * Checks now that the schema is installed at the version this code needs (operations check on
   * first use anyway); handy at start-up to fail fast.
   *
   * @throws SchemaVersionException if the schema is missing or too old
   * @throws PgQueueException if the database cannot be read
   */
  public void verifySchema() {
    schemaChecked = false;
    checkSchema();
  }

  // ---- internals -----------------------------------------------------------------------------

  /** A statement failed on a joined connection: the caller's transaction is aborted. Keeps the SQL state. */
  static final class JoinedFailure extends SQLException {
    private static final long serialVersionUID = 1L;

    JoinedFailure(SQLException cause) {
      super(cause.getMessage(), cause.getSQLState(), cause.getErrorCode(), cause);
    }
  }

  private <R> R transaction(boolean singleStatement, Borrowed.Work<R> work) throws SQLException {
    return transaction(singleStatement, 0, work, null);
  }

  private <R> R transaction(boolean singleStatement, int transientRetries, Borrowed.Work<R> work)
      throws SQLException {
    return transaction(singleStatement, transientRetries, work, null);
  }

  /**
   * Runs {@code work} on a connection from the source. An owned connection gets {@link Borrowed}'s
   * rules (one READ COMMITTED transaction, committed, given back as it came) and a deadlock or
   * serialization failure is retried on a fresh connection up to {@code transientRetries} times. A
   * joined connection is only used: never committed, rolled back or reconfigured, never retried
   * (its transaction is aborted by a failure). {@code afterOwnCommit}, if not null, is given the
   * result once an owned connection's transaction committed, before the connection goes back; it
   * is not called for a joined one, whose commit is someone else's (its NOTIFY wakes the workers).
   */
  private <R> R transaction(boolean singleStatement, int transientRetries, Borrowed.Work<R> work,
      java.util.function.Consumer<R> afterOwnCommit) throws SQLException {
    for (int attempt = 0; ; attempt++) {
      Connection c = source.getConnection();
      if (c == null) {
        throw new IllegalStateException("connection source " + source + " returned no connection");
      }
      R result;
      boolean owned = false;
      try {
        if (source.joinsTransaction(c)) {
          if (c.getAutoCommit()) {
            throw new IllegalStateException("connection source " + source + " says its connection"
                + " joins a transaction, but the connection is in autocommit: there is no"
                + " transaction to join; nothing was written");
          }
          try {
            result = work.run(c);
          } catch (SQLException e) {
            throw new JoinedFailure(e);
          }
        } else {
          result = Borrowed.transaction(c, singleStatement, work);
          owned = true;
        }
      } catch (SQLException | RuntimeException | Error e) {
        releaseAfterFailure(c, e);
        if (e instanceof SQLException s && !(s instanceof JoinedFailure)
            && attempt < transientRetries && Borrowed.isTransient(s)) {
          continue;
        }
        throw e;
      }
      if (owned && afterOwnCommit != null) {
        // Committed: nothing here may turn the call into a failure.
        try {
          afterOwnCommit.accept(result);
        } catch (RuntimeException e) {
          log.warn("pgqueue: the in-process wake-up after a commit failed; workers still wake by NOTIFY or poll", e);
        }
      }
      release(c);
      return result;
    }
  }

  /** Gives a connection back after its work succeeded: a failing release is logged, not thrown. */
  private void release(Connection c) {
    try {
      source.release(c);
    } catch (SQLException | RuntimeException e) {
      log.warn("pgqueue: releasing a connection to {} failed after its work was done; carrying on", source, e);
    }
  }

  private void releaseAfterFailure(Connection c, Throwable failure) {
    try {
      source.release(c);
    } catch (SQLException | RuntimeException e) {
      failure.addSuppressed(e);
    }
  }

  /**
   * Shows the rows to every enqueue interceptor, once, writes them with the contexts they set, and
   * then tells every interceptor whose {@code beforeEnqueue} was called (even if it threw) how the
   * call ended: with the results, or with the failure of an interceptor, the schema check or the
   * write. {@code write} turns any database failure into an unchecked exception.
   */
  private List<EnqueueResult> intercepted(
      List<JobStore.Row> rows, Function<List<JobStore.Row>, List<EnqueueResult>> write) {
    List<PendingJob> pending = new ArrayList<>(rows.size());
    for (JobStore.Row r : rows) {
      pending.add(new PendingJob(r));
    }
    List<EnqueueInterceptor.Job> view = List.copyOf(pending);
    int called = 0;
    List<EnqueueResult> results;
    try {
      try {
        for (EnqueueInterceptor i : enqueueInterceptors) {
          called++;
          i.beforeEnqueue(view);
        }
      } finally {
        for (PendingJob p : pending) {
          p.open = false;
        }
      }
      List<JobStore.Row> out = new ArrayList<>(rows.size());
      for (PendingJob p : pending) {
        JobStore.Row r = p.row;
        out.add(p.context.equals(r.context()) && p.traceContext == r.traceContext() ? r
            : new JobStore.Row(r.name(), r.queue(), r.payloadJson(), r.priority(), r.runAt(),
                r.delayMicros(), r.maxAttempts(), p.context, r.uniqueKey(), p.traceContext, r.concurrencyKey()));
      }
      results = List.copyOf(write.apply(out));
    } catch (RuntimeException | Error e) {
      afterEnqueue(called, view, null, e);
      throw e;
    }
    afterEnqueue(called, view, results, null);
    return results;
  }

  /**
   * Calls {@code afterEnqueue} on the first {@code called} interceptors, last registered first (so
   * they nest like the scopes a tracer opens); what one throws is logged, never passed on.
   */
  private void afterEnqueue(int called, List<EnqueueInterceptor.Job> jobs,
      List<EnqueueResult> results, Throwable failure) {
    for (int k = called - 1; k >= 0; k--) {
      EnqueueInterceptor i = enqueueInterceptors.get(k);
      try {
        i.afterEnqueue(jobs, results, failure);
      } catch (RuntimeException | LinkageError | AssertionError e) {
        log.warn("pgqueue: enqueue interceptor {} threw from afterEnqueue; the enqueue's outcome stands", i, e);
      }
    }
  }

  /**
   * A row as an enqueue interceptor sees it; only the context and trace context can change, and
   * only during the call.
   */
  private static final class PendingJob implements EnqueueInterceptor.Job {
    final JobStore.Row row;
    // Written and read on the enqueuing thread (interceptors run on it); volatile for one that hands
    // the job to another thread anyway.
    volatile String context;
    volatile TraceContext traceContext;
    volatile boolean open = true;

    PendingJob(JobStore.Row row) {
      this.row = row;
      this.context = row.context();
      this.traceContext = row.traceContext();
    }

    @Override
    public String name() {
      return row.name();
    }

    @Override
    public String queue() {
      return row.queue();
    }

    @Override
    public int priority() {
      return row.priority();
    }

    @Override
    public String uniqueKey() {
      return row.uniqueKey();
    }

    @Override
    public String context() {
      return context;
    }

    @Override
    public void context(String context) {
      Objects.requireNonNull(context, "context");
      if (!open) {
        throw new IllegalStateException("the context of job \"" + row.name()
            + "\" can only be set while the enqueue interceptor runs");
      }
      EnqueueOptions.checkContext(context);
      this.context = context;
    }

    @Override
    public Optional<TraceContext> traceContext() {
      return Optional.ofNullable(traceContext);
    }

    @Override
    public void traceContext(TraceContext traceContext) {
      if (!open) {
        throw new IllegalStateException("the trace context of job \"" + row.name()
            + "\" can only be set while the enqueue interceptor runs");
      }
      this.traceContext = traceContext;
    }

    @Override
    public String toString() {
      return "pending job " + row.name() + " (queue " + row.queue() + ")";
    }
  }

  private void checkSchema() {
    if (schemaChecked) {
      return;
    }
    try {
      requireCurrentSchema();
    } catch (SQLException e) {
      throw new PgQueueException("reading the pgqueue schema version failed", e);
    }
    schemaChecked = true;
  }

  /**
   * The one schema check of pgqueue-core (this queue's operations, and a worker's start and drain,
   * call it): reads the installed version now, whatever was checked before.
   *
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws SQLException if the database cannot be read; each caller decides what that means
   */
  void requireCurrentSchema() throws SQLException {
    int installed = Borrowed.transaction(dataSource, true, c -> Migrator.installedVersion(c, schema));
    if (installed < Migrator.latestVersion()) {
      throw new SchemaVersionException(schema, installed, Migrator.latestVersion());
    }
  }

  /**
   * Whether a job is due once committed: no delay, and no run time in the future by this JVM's
   * clock. A run time in the past is due too (the NOTIFY is sent only for jobs without either); a
   * clock skewed against the database's costs one wake-up for nothing, or leaves the job to the
   * poll, as without the in-process wake-up.
   */
  private static boolean dueNow(JobStore.Row row) {
    return row.delayMicros() == 0 && (row.runAt() == null || !row.runAt().isAfter(java.time.Instant.now()));
  }

  /** Wakes this JVM's workers of {@code queue} on this DataSource and schema ({@link LocalWake}). */
  private void wakeLocal(String queue) {
    PickupProbe.at(PickupProbe.Point.COMMITTED, 0);
    if (localWake) {
      LocalWake.wake(dataSource, schema, queue);
    }
  }

  private boolean shouldNotify(JobStore.Row row) {
    return notify && row.immediate() && throttle.tryAcquire(row.queue());
  }

  private Set<String> notifyQueues(List<JobStore.Row> rows) {
    Set<String> queues = new LinkedHashSet<>();
    if (notify) {
      for (JobStore.Row r : rows) {
        if (r.immediate() && !queues.contains(r.queue()) && throttle.tryAcquire(r.queue())) {
          queues.add(r.queue());
        }
      }
    }
    return queues;
  }

  private <T> JobStore.Row row(JobType<T> type, T payload, EnqueueOptions options) {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(options, "options");
    EnqueueOptions o = type.defaults().overriddenBy(options);
    return row(type, payload, o, delayMicros(o));
  }

  /** A row of {@code type} with options already merged over the type's defaults. */
  private <T> JobStore.Row row(JobType<T> type, T payload, EnqueueOptions o, long delayMicros) {
    return new JobStore.Row(
        type.name(),
        o.queueOrDefault(),
        codec.encode(type, payload),
        o.priorityOrDefault(),
        o.runAt(),
        delayMicros,
        o.maxAttemptsOrDefault(),
        o.contextOrDefault(),
        o.uniqueKey(),
        null,
        o.concurrencyKey());
  }

  private List<JobStore.Row> rows(List<? extends NewJob<?>> jobs) {
    Objects.requireNonNull(jobs, "jobs");
    List<JobStore.Row> rows = new ArrayList<>(jobs.size());
    for (int i = 0; i < jobs.size(); i++) {
      NewJob<?> job = jobs.get(i);
      if (job == null) {
        throw new IllegalArgumentException("jobs[" + i + "] must not be null");
      }
      try {
        rows.add(rowOf(job));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("jobs[" + i + "]: " + e.getMessage(), e);
      }
    }
    return rows;
  }

  private <T> JobStore.Row rowOf(NewJob<T> job) {
    return row(job.type(), job.payload(), job.options());
  }

  /**
   * The rows of a batch of one type and options, in one pass over the payloads, with the options
   * merged over the type's defaults once for the batch rather than once per payload.
   */
  private <T> List<JobStore.Row> rows(
      JobType<T> type, Collection<? extends T> payloads, EnqueueOptions options) {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(payloads, "payloads");
    Objects.requireNonNull(options, "options");
    EnqueueOptions o = type.defaults().overriddenBy(options);
    long delayMicros = delayMicros(o);
    List<JobStore.Row> rows = new ArrayList<>(payloads.size());
    int i = 0;
    for (T p : payloads) {
      if (p == null) {
        throw new IllegalArgumentException(
            "payloads[" + i + "] must not be null (job \"" + type.name() + "\")");
      }
      try {
        rows.add(row(type, p, o, delayMicros));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("jobs[" + i + "]: " + e.getMessage(), e);
      }
      i++;
    }
    return rows;
  }

  private static long delayMicros(EnqueueOptions o) {
    return o.delay() == null ? 0 : micros(o.delay());
  }

  private static long micros(Duration d) {
    return Math.addExact(Math.multiplyExact(d.getSeconds(), 1_000_000L), d.getNano() / 1_000L);
  }

  /**
   * Configures a {@link JobQueue}. Each setter validates its argument and throws {@link
   * IllegalArgumentException} naming the setting and the value.
   */
  public static final class Builder {
    private final DataSource dataSource;
    private String schema = Migrator.DEFAULT_SCHEMA;
    private PayloadCodec codec;
    private ConnectionSource connectionSource;
    private final List<EnqueueInterceptor> enqueueInterceptors = new ArrayList<>();
    private boolean notify = true;
    private int maxPayloadBytes = CheckedCodec.DEFAULT_MAX_PAYLOAD_BYTES;

    private Builder(DataSource dataSource) {
      this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
    }

    /**
     * The schema holding pgqueue's tables. Defaults to {@value Migrator#DEFAULT_SCHEMA}.
     *
     * @param schema a lowercase SQL identifier (a-z, 0-9, _), at most 48 characters
     * @return this builder
     * @throws IllegalArgumentException if the name is invalid
     */
    public Builder schema(String schema) {
      this.schema = Identifiers.schema(schema);
      return this;
    }

    /**
     * The codec that turns payloads into JSON and back. Defaults to {@link JacksonCodec#create()}.
     * Whatever the codec, pgqueue still enforces the size limit and refuses text PostgreSQL cannot
     * store, a codec that throws, and one that returns null (see {@link PayloadCodec}). Replaces a
     * codec or mapper set earlier.
     *
     * @param codec the codec; workers decoding these payloads need a compatible one
     * @return this builder
     */
    public Builder codec(PayloadCodec codec) {
      this.codec = Objects.requireNonNull(codec, "codec");
      return this;
    }

    /**
     * Shortcut for {@code codec(JacksonCodec.of(objectMapper))}: the Jackson 2 mapper for payloads.
     * Defaults to a mapper with java.time support, ISO dates, and unknown properties ignored on
     * decode. A mapper with default typing active is refused.
     *
     * @param objectMapper the mapper; a worker built from this queue decodes with it
     * @return this builder
     * @throws IllegalArgumentException if default typing is active on the mapper
     */
    public Builder objectMapper(ObjectMapper objectMapper) {
      return codec(JacksonCodec.of(objectMapper));
    }

    /**
     * Where every operation of the queue gets its connection, and whether that connection joins a
     * transaction managed elsewhere (see {@link ConnectionSource}). Defaults to {@link
     * ConnectionSource#of(DataSource)} on the builder's DataSource: pgqueue commits its own work.
     *
     * @param connectionSource the source
     * @return this builder
     */
    public Builder connectionSource(ConnectionSource connectionSource) {
      this.connectionSource = Objects.requireNonNull(connectionSource, "connectionSource");
      return this;
    }

    /**
     * Adds an interceptor that sees every job before it is written (see {@link
     * EnqueueInterceptor}). Several run in the order added.
     *
     * @param interceptor the interceptor
     * @return this builder
     */
    public Builder enqueueInterceptor(EnqueueInterceptor interceptor) {
      enqueueInterceptors.add(Objects.requireNonNull(interceptor, "interceptor"));
      return this;
    }

    /**
     * Whether an enqueue of a job due now sends a (rate-limited) NOTIFY to wake workers. Defaults
     * to true. Turn it off when commit throughput matters more than pickup latency; workers then
     * find jobs by polling.
     *
     * @param notify true to notify
     * @return this builder
     */
    public Builder notify(boolean notify) {
      this.notify = notify;
      return this;
    }

    /**
     * The largest payload accepted, in bytes of UTF-8 JSON. Defaults to 1 MiB (1,048,576).
     *
     * @param maxPayloadBytes between 1 and {@value JobQueue#MAX_MAX_PAYLOAD_BYTES}
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder maxPayloadBytes(int maxPayloadBytes) {
      if (maxPayloadBytes < 1 || maxPayloadBytes > MAX_MAX_PAYLOAD_BYTES) {
        throw new IllegalArgumentException(
            "maxPayloadBytes must be between 1 and " + MAX_MAX_PAYLOAD_BYTES + ", got: "
                + maxPayloadBytes);
      }
      this.maxPayloadBytes = maxPayloadBytes;
      return this;
    }

    /**
     * The queue. Does not connect to the database.
     *
     * @return the configured queue
     */
    public JobQueue build() {
      return new JobQueue(this);
    }
  }
}
