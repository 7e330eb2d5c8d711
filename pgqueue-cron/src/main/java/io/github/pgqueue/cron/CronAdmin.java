package io.github.pgqueue.cron;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.Migrator;
import io.github.pgqueue.PgQueueException;
import io.github.pgqueue.SchemaVersionException;
import io.github.pgqueue.internal.Borrowed;
import io.github.pgqueue.internal.Identifiers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * Inspects and controls the cron schedules of a pgqueue schema from any process that has a
 * {@link DataSource}: a dashboard, an admin endpoint, a script. It needs no {@link CronScheduler}
 * and no cron job code: it reads and writes the {@code cron_schedules} rows that the schedulers
 * register and claim firings in (see {@code docs/cron.md}, "Administration").
 *
 * <ul>
 *   <li>{@link #schedules()}: every schedule ever registered, with its definition, zone, catch-up
 *       policy, the job it enqueues, its last and next firings, and its admin state.
 *   <li>{@link #disable(String)} / {@link #enable(String)}: fleet-wide and persistent. A disabled
 *       schedule is skipped by every cron process from the next firing on: the claim of a firing
 *       requires the flag, so there is no delay and no race. Firings due while it was disabled are
 *       not caught up when it is enabled again; it fires from then on.
 *   <li>{@link #triggerNow(String)}: asks the cron processes to enqueue the schedule's job once,
 *       now. The admin process cannot build the job itself (the payload is computed by the cron
 *       job's code in the cron process), so it records a request in the schedule's row; a cron
 *       process running that schedule serves it within its {@link CronScheduler.Builder#pollInterval
 *       poll interval} (5 seconds by default), taking the request and enqueueing the job in one
 *       transaction, so exactly one process enqueues it, exactly once.
 * </ul>
 *
 * <p>Thread-safe; each call borrows a connection for one short transaction. Needs migration 7
 * (every call checks the schema version once). Privileges: {@code SELECT, UPDATE} on {@code
 * cron_schedules} (see {@code docs/security.md}).
 */
public final class CronAdmin {

  private final JobQueue queue;
  private final DataSource dataSource;
  private final CronSql sql;
  private volatile boolean schemaChecked;

  private CronAdmin(DataSource dataSource, String schema) {
    // The queue gives the one schema check of pgqueue-core; nothing is enqueued through it.
    this.queue = JobQueue.builder(dataSource).schema(schema).build();
    this.dataSource = dataSource;
    this.sql = new CronSql(queue.schema());
  }

  /**
   * An admin for the default schema ({@value Migrator#DEFAULT_SCHEMA}).
   *
   * @param dataSource where to read and write the schedules
   * @return the admin
   * @throws NullPointerException if {@code dataSource} is null
   */
  public static CronAdmin create(DataSource dataSource) {
    return create(dataSource, Migrator.DEFAULT_SCHEMA);
  }

  /**
   * An admin for another schema.
   *
   * @param dataSource where to read and write the schedules
   * @param schema the pgqueue schema: a lowercase identifier of up to 48 characters
   * @return the admin
   * @throws NullPointerException if {@code dataSource} is null
   * @throws IllegalArgumentException if the schema name is invalid
   */
  public static CronAdmin create(DataSource dataSource, String schema) {
    Objects.requireNonNull(dataSource, "dataSource");
    return new CronAdmin(dataSource, Identifiers.schema(schema));
  }

  /**
   * Every schedule registered in the schema, sorted by name: also schedules no process runs any
   * more (their rows stay; see {@code docs/cron.md}).
   *
   * @return the schedules
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws PgQueueException if the read fails
   */
  public List<ScheduleInfo> schedules() {
    return run("listing the cron schedules", c -> {
      List<ScheduleInfo> out = new ArrayList<>();
      try (PreparedStatement ps = prepare(c, sql.adminList); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(info(rs));
        }
      }
      return out;
    });
  }

  /**
   * One schedule.
   *
   * @param name the schedule name
   * @return the schedule, or empty if no schedule of that name was ever registered
   * @throws IllegalArgumentException if the name is not a valid schedule name
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws PgQueueException if the read fails
   */
  public Optional<ScheduleInfo> schedule(String name) {
    checkName(name);
    return run("reading cron schedule \"" + name + "\"", c -> {
      try (PreparedStatement ps = prepare(c, sql.adminOne)) {
        ps.setString(1, name);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(info(rs)) : Optional.<ScheduleInfo>empty();
        }
      }
    });
  }

  /**
   * Asks the cron processes to enqueue the schedule's job once, now, as a firing at the instant of
   * the request would (same job type, options and unique key; the payload function receives the
   * request's instant, database clock). A cron process that runs this schedule with the stored
   * definition serves the request at its next poll, in the transaction that enqueues the job, so
   * the job is enqueued exactly once however many cron processes run. While one request is
   * pending, another is refused ({@link TriggerResult#ALREADY_PENDING}), so a double click
   * enqueues one job. A trigger is an extra run: it does not move the schedule's firings, and it
   * is served even while the schedule is disabled. If no cron process runs the schedule, the
   * request stays pending ({@link ScheduleInfo#triggerRequestedAt()}) until one does.
   *
   * @param name the schedule name
   * @return whether a request was recorded
   * @throws IllegalArgumentException if the name is not a valid schedule name
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws PgQueueException if the write fails
   */
  public TriggerResult triggerNow(String name) {
    checkName(name);
    return run("requesting a trigger of cron schedule \"" + name + "\"", c -> {
      try (PreparedStatement ps = prepare(c, sql.adminTrigger)) {
        ps.setString(1, name);
        ps.setString(2, name);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          if (rs.getLong(1) == 1) {
            return TriggerResult.REQUESTED;
          }
          return rs.getBoolean(2) ? TriggerResult.ALREADY_PENDING : TriggerResult.UNKNOWN_SCHEDULE;
        }
      }
    });
  }

  /**
   * Disables the schedule for every cron process, persistently: from the next firing on no
   * process enqueues anything for it (each firing's claim checks the flag, so the change takes
   * effect at once, with no poll delay). Idempotent. A cron process of a release before this one
   * does not check the flag and would still fire it.
   *
   * @param name the schedule name
   * @return true if the schedule exists (it is now disabled); false if no schedule has that name
   * @throws IllegalArgumentException if the name is not a valid schedule name
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws PgQueueException if the write fails
   */
  public boolean disable(String name) {
    checkName(name);
    return update("disabling", sql.adminDisable, name);
  }

  /**
   * Enables a disabled schedule. It restarts from now: firings that fell due while it was disabled
   * are not caught up. Cron processes notice within their poll interval. Idempotent: enabling an
   * enabled schedule changes nothing.
   *
   * @param name the schedule name
   * @return true if the schedule exists (it is now enabled); false if no schedule has that name
   * @throws IllegalArgumentException if the name is not a valid schedule name
   * @throws SchemaVersionException if the schema is missing or older than this code
   * @throws PgQueueException if the write fails
   */
  public boolean enable(String name) {
    checkName(name);
    return update("enabling", sql.adminEnable, name);
  }

  @Override
  public String toString() {
    return "CronAdmin[schema " + queue.schema() + "]";
  }

  /** What {@link #triggerNow(String)} did. */
  public enum TriggerResult {
    /** A request was recorded; a cron process running the schedule will enqueue the job once. */
    REQUESTED,
    /** A request was already pending and not served yet; nothing was added. */
    ALREADY_PENDING,
    /** No schedule of that name was ever registered. */
    UNKNOWN_SCHEDULE
  }

  /**
   * One schedule as stored.
   *
   * @param name the schedule name
   * @param definition the canonical definition, e.g. {@code cron 0 3 * * * Europe/Berlin} or
   *     {@code every PT1M}
   * @param schedule the definition parsed; null if this release cannot parse it (written by a
   *     newer one)
   * @param zone the time zone of a cron schedule; null for an interval schedule (or one that
   *     cannot be parsed)
   * @param catchUp the catch-up policy of the process that registered it last; null if not
   *     recorded (registered by a release before migration 7, and not since)
   * @param jobName the name of the job each firing enqueues; null if not recorded
   * @param jobQueue the queue of that job; null if not recorded
   * @param enabled false if disabled with {@link CronAdmin#disable(String)}
   * @param lastFired the last firing claimed (a scheduled instant, or the registration or
   *     enabling time, database clock)
   * @param nextFiring the next scheduled instant after {@code lastFired}; null when disabled or
   *     not parsable. It lies in the past when no cron process runs the schedule or it is late;
   *     the schedule's catch-up policy then decides what a cron process does with it
   * @param triggerRequestedAt when a pending {@link CronAdmin#triggerNow(String)} request was made;
   *     null if none is pending
   * @param lastTriggeredAt when the last trigger request was served; null if never
   * @param updatedAt database time of the row's last write
   */
  public record ScheduleInfo(
      String name,
      String definition,
      Schedule schedule,
      ZoneId zone,
      CatchUp catchUp,
      String jobName,
      String jobQueue,
      boolean enabled,
      Instant lastFired,
      Instant nextFiring,
      Instant triggerRequestedAt,
      Instant lastTriggeredAt,
      Instant updatedAt) {

    /**
     * @throws NullPointerException if name, definition, lastFired or updatedAt is null
     */
    public ScheduleInfo {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(definition, "definition");
      Objects.requireNonNull(lastFired, "lastFired");
      Objects.requireNonNull(updatedAt, "updatedAt");
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  private boolean update(String what, String statement, String name) {
    return run(what + " cron schedule \"" + name + "\"", c -> {
      try (PreparedStatement ps = prepare(c, statement)) {
        ps.setString(1, name);
        return ps.executeUpdate() == 1;
      }
    });
  }

  private <R> R run(String what, Borrowed.Work<R> work) {
    if (!schemaChecked) {
      queue.verifySchema();
      schemaChecked = true;
    }
    try {
      return Borrowed.transaction(dataSource, true, work);
    } catch (SQLException e) {
      throw new PgQueueException(what + " failed", e);
    }
  }

  private static PreparedStatement prepare(Connection c, String statement) throws SQLException {
    PreparedStatement ps = c.prepareStatement(statement);
    ps.setQueryTimeout(ScheduleStore.QUERY_TIMEOUT_SECONDS);
    return ps;
  }

  private static void checkName(String name) {
    Identifiers.name("cron schedule name", name);
  }

  /** Columns of {@link CronSql#adminList}, in order. */
  private static ScheduleInfo info(ResultSet rs) throws SQLException {
    String name = rs.getString(1);
    String definition = rs.getString(2);
    Instant origin = instant(rs, 3);
    Instant lastFired = instant(rs, 4);
    boolean enabled = rs.getBoolean(5);
    Schedule schedule = parseDefinition(definition);
    ZoneId zone = schedule instanceof Schedule.Cron cron ? cron.zone() : null;
    Instant next = null;
    if (enabled && schedule != null) {
      next = Firings.nextAfter(schedule, origin, lastFired);
    }
    return new ScheduleInfo(name, definition, schedule, zone, parseCatchUp(rs.getString(6)),
        rs.getString(7), rs.getString(8), enabled, lastFired, next, instant(rs, 9), instant(rs, 10),
        instant(rs, 11));
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
    return t == null ? null : t.toInstant();
  }

  /** The inverse of {@link Schedule#definition()}; null if the text is not one this release writes. */
  static Schedule parseDefinition(String definition) {
    try {
      if (definition.startsWith("every ")) {
        return Schedule.every(Duration.parse(definition.substring("every ".length())));
      }
      if (definition.startsWith("cron ")) {
        String rest = definition.substring("cron ".length());
        int space = rest.lastIndexOf(' ');
        if (space < 0) {
          return null;
        }
        String zone = rest.substring(space + 1);
        return Schedule.cron(rest.substring(0, space),
            zone.equals("UTC") ? ZoneOffset.UTC : ZoneId.of(zone));
      }
    } catch (RuntimeException e) {
      // A definition of another release, or edited by hand: shown as text only.
    }
    return null;
  }

  /** The inverse of {@link CronRunner#catchUpText}; null for null or unknown text. */
  static CatchUp parseCatchUp(String text) {
    if (text == null) {
      return null;
    }
    try {
      if (text.equals("one")) {
        return CatchUp.one();
      }
      if (text.equals("skip")) {
        return CatchUp.skip();
      }
      if (text.startsWith("all(") && text.endsWith(")")) {
        return CatchUp.all(Integer.parseInt(text.substring(4, text.length() - 1)));
      }
    } catch (RuntimeException e) {
      // Unknown to this release: reported as not recorded.
    }
    return null;
  }
}
