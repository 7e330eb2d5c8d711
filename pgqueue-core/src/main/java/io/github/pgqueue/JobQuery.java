package io.github.pgqueue;

import io.github.pgqueue.internal.Identifiers;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.Objects;

/**
 * Which jobs {@link JobQueue#jobs(JobQuery)} returns, in which order, and from where: an immutable
 * query, built with {@link #builder()}, paged with {@link #after(String)} and the cursor of the
 * previous {@link JobPage}.
 *
 * <p>Every filter is optional; a job must match all that are set. The order and the column the
 * time range applies to follow the state, and so does the index that serves the query:
 *
 * <table>
 *   <caption>Order, time range and index by state</caption>
 *   <tr><th>state</th><th>ordered by</th><th>{@code from}/{@code to} apply to</th><th>served by</th></tr>
 *   <tr><td>{@link JobState#DISCARDED}</td><td>discarded_at, then id</td><td>discarded_at</td>
 *       <td>jobs_discarded_idx: a page reads about as many rows as it returns, plus the discarded
 *       rows that a queue, name or key filter skips</td></tr>
 *   <tr><td>{@link JobState#RUNNING}</td><td>locked_at, then id</td><td>locked_at</td>
 *       <td>jobs_running_idx: every page reads and sorts all running jobs, which are bounded by the
 *       fleet's total concurrency</td></tr>
 *   <tr><td>{@link JobState#AVAILABLE}</td><td>id (enqueue order)</td><td>run_at</td>
 *       <td>the primary key, or jobs_unique_idx with a name and a unique key: a page reads as many
 *       rows as it returns plus the ones the filters skip. No index orders available jobs by
 *       run_at alone (the claim index is per queue and priority first), so they are paged in
 *       enqueue order; a narrow run_at range over a large backlog reads the rows in between</td></tr>
 *   <tr><td>any (no state)</td><td>id (enqueue order)</td><td>created_at</td>
 *       <td>the primary key, filters applied as rows are read</td></tr>
 * </table>
 *
 * <p>Paging is by key (the last row's sort values), never by offset, and nothing is counted: a
 * page costs the same on page 1 and page 1,000, and a job inserted or removed between two pages
 * neither shifts nor repeats the others. A job whose sort value changes between two pages (it was
 * retried, or claimed again) may be seen twice or not at all; each page is a consistent snapshot.
 *
 * @see JobQueue#jobs(JobQuery)
 */
public final class JobQuery {

  /** The largest page size. */
  public static final int MAX_LIMIT = 1000;

  /** The page size unless set. */
  public static final int DEFAULT_LIMIT = 100;

  /** Which end of the order a page starts from. */
  public enum Order {
    /** Latest first: the most recently enqueued, claimed or discarded job first. */
    NEWEST_FIRST,
    /** Earliest first. */
    OLDEST_FIRST
  }

  private final JobState state;
  private final String queue;
  private final String name;
  private final String uniqueKey;
  private final Instant from;
  private final Instant to;
  private final Order order;
  private final int limit;
  private final Cursor cursor;

  private JobQuery(Builder b, Cursor cursor) {
    this.state = b.state;
    this.queue = b.queue;
    this.name = b.name;
    this.uniqueKey = b.uniqueKey;
    this.from = b.from;
    this.to = b.to;
    this.order = b.order;
    this.limit = b.limit;
    this.cursor = cursor;
  }

  private JobQuery(JobQuery q, Cursor cursor) {
    this.state = q.state;
    this.queue = q.queue;
    this.name = q.name;
    this.uniqueKey = q.uniqueKey;
    this.from = q.from;
    this.to = q.to;
    this.order = q.order;
    this.limit = q.limit;
    this.cursor = cursor;
  }

  /**
   * A builder with no filter, {@link Order#NEWEST_FIRST} and a page of {@value #DEFAULT_LIMIT}.
   *
   * @return the builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The same query, continuing after the last job of a previous page.
   *
   * @param cursor {@link JobPage#nextCursor()} of a page of this same query (same state and
   *     order); null to start from the first page
   * @return a new query; this one is unchanged
   * @throws IllegalArgumentException if the cursor is malformed or was made by a query with another
   *     state or order
   */
  public JobQuery after(String cursor) {
    return new JobQuery(this, cursor == null ? null : Cursor.parse(cursor, this));
  }

  /**
   * The state filter.
   *
   * @return the state, or null for jobs in any state
   */
  public JobState state() {
    return state;
  }

  /**
   * The queue filter.
   *
   * @return the queue, or null for any
   */
  public String queue() {
    return queue;
  }

  /**
   * The job name filter.
   *
   * @return the name, or null for any
   */
  public String name() {
    return name;
  }

  /**
   * The unique key filter.
   *
   * @return the key, or null for any (including unkeyed jobs)
   */
  public String uniqueKey() {
    return uniqueKey;
  }

  /**
   * The inclusive lower end of the time range, on the state's time column (see the class comment).
   *
   * @return the instant, or null for no lower end
   */
  public Instant from() {
    return from;
  }

  /**
   * The exclusive upper end of the time range, on the state's time column.
   *
   * @return the instant, or null for no upper end
   */
  public Instant to() {
    return to;
  }

  /**
   * The order.
   *
   * @return the order
   */
  public Order order() {
    return order;
  }

  /**
   * The page size.
   *
   * @return at most this many jobs per page, between 1 and {@value #MAX_LIMIT}
   */
  public int limit() {
    return limit;
  }

  /** The sort position to continue after; null for the first page. */
  Cursor cursor() {
    return cursor;
  }

  /** Whether the query is ordered by the state's timestamp column then id (else by id alone). */
  boolean timeOrdered() {
    return state == JobState.RUNNING || state == JobState.DISCARDED;
  }

  @Override
  public String toString() {
    return "JobQuery[state=" + state + ", queue=" + queue + ", name=" + name + ", uniqueKey=" + uniqueKey
        + ", from=" + from + ", to=" + to + ", order=" + order + ", limit=" + limit
        + (cursor == null ? "" : ", after=" + cursor.encode()) + "]";
  }

  /**
   * Where a page ends: the sort values of its last job, and the state and order they belong to.
   * Encoded as URL-safe base64 text so it can travel through a query string; opaque to callers.
   */
  record Cursor(JobState state, Order order, Instant time, long id) {

    private static final String VERSION = "1";

    String encode() {
      String text = String.join(":", VERSION, state == null ? "-" : state.name(), order.name(),
          time == null ? "-" : time.getEpochSecond() + "." + time.getNano(), Long.toString(id));
      return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    static Cursor parse(String encoded, JobQuery query) {
      String[] f;
      try {
        f = new String(Base64.getUrlDecoder().decode(encoded), StandardCharsets.UTF_8).split(":", -1);
      } catch (IllegalArgumentException e) {
        throw bad(encoded, "not a cursor");
      }
      if (f.length != 5 || !VERSION.equals(f[0])) {
        throw bad(encoded, "not a cursor");
      }
      JobState state;
      Order order;
      Instant time;
      long id;
      try {
        state = f[1].equals("-") ? null : JobState.valueOf(f[1]);
        order = Order.valueOf(f[2]);
        if (f[3].equals("-")) {
          time = null;
        } else {
          int dot = f[3].indexOf('.');
          time = Instant.ofEpochSecond(Long.parseLong(f[3].substring(0, dot)), Long.parseLong(f[3].substring(dot + 1)));
        }
        id = Long.parseLong(f[4]);
      } catch (RuntimeException e) {
        throw bad(encoded, "not a cursor");
      }
      if (state != query.state || order != query.order) {
        throw bad(encoded, "made by a query with state " + state + " and order " + order
            + ", not " + query.state + " and " + query.order);
      }
      if ((time == null) == query.timeOrdered()) {
        throw bad(encoded, "not a cursor");
      }
      return new Cursor(state, order, time, id);
    }

    private static IllegalArgumentException bad(String encoded, String why) {
      return new IllegalArgumentException("cursor " + Identifiers.quote(encoded) + " is " + why);
    }
  }

  /**
   * Configures a {@link JobQuery}. Each setter validates its argument and throws {@link
   * IllegalArgumentException} naming the setting and the value.
   */
  public static final class Builder {
    private JobState state;
    private String queue;
    private String name;
    private String uniqueKey;
    private Instant from;
    private Instant to;
    private Order order = Order.NEWEST_FIRST;
    private int limit = DEFAULT_LIMIT;

    private Builder() {}

    /**
     * Only jobs in this state; it also picks the order and the time column (see {@link JobQuery}).
     *
     * @param state the state, or null for any
     * @return this builder
     */
    public Builder state(JobState state) {
      this.state = state;
      return this;
    }

    /**
     * Only jobs of this queue.
     *
     * @param queue a valid queue name, or null for any
     * @return this builder
     * @throws IllegalArgumentException if the name is not a valid queue name
     */
    public Builder queue(String queue) {
      this.queue = queue == null ? null : Identifiers.queueName(queue);
      return this;
    }

    /**
     * Only jobs of this name.
     *
     * @param name a valid job name, or null for any
     * @return this builder
     * @throws IllegalArgumentException if the name is not a valid job name
     */
    public Builder name(String name) {
      this.name = name == null ? null : Identifiers.jobName(name);
      return this;
    }

    /**
     * Only jobs with this unique key. With a name and state {@link JobState#AVAILABLE} or {@link
     * JobState#RUNNING}, the lookup is served by the unique index.
     *
     * @param uniqueKey the key, or null for any
     * @return this builder
     * @throws IllegalArgumentException if the key is empty, too long or not storable
     */
    public Builder uniqueKey(String uniqueKey) {
      if (uniqueKey != null) {
        if (uniqueKey.isEmpty() || uniqueKey.length() > EnqueueOptions.MAX_UNIQUE_KEY_LENGTH) {
          throw new IllegalArgumentException("uniqueKey must be 1 to " + EnqueueOptions.MAX_UNIQUE_KEY_LENGTH
              + " characters, got " + uniqueKey.length());
        }
        Identifiers.checkStorable("uniqueKey", uniqueKey);
      }
      this.uniqueKey = uniqueKey;
      return this;
    }

    /**
     * Only jobs whose time column (see {@link JobQuery}) is at or after this instant.
     *
     * @param from the inclusive lower end, or null for none
     * @return this builder
     */
    public Builder from(Instant from) {
      this.from = from;
      return this;
    }

    /**
     * Only jobs whose time column is before this instant.
     *
     * @param to the exclusive upper end, or null for none
     * @return this builder
     */
    public Builder to(Instant to) {
      this.to = to;
      return this;
    }

    /**
     * The order. Defaults to {@link Order#NEWEST_FIRST}.
     *
     * @param order the order
     * @return this builder
     * @throws IllegalArgumentException if null
     */
    public Builder order(Order order) {
      if (order == null) {
        throw new IllegalArgumentException("order must not be null");
      }
      this.order = order;
      return this;
    }

    /**
     * The page size. Defaults to {@value JobQuery#DEFAULT_LIMIT}.
     *
     * @param limit between 1 and {@value JobQuery#MAX_LIMIT}
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder limit(int limit) {
      if (limit < 1 || limit > MAX_LIMIT) {
        throw new IllegalArgumentException("limit must be between 1 and " + MAX_LIMIT + ", got: " + limit);
      }
      this.limit = limit;
      return this;
    }

    /**
     * The query, for its first page.
     *
     * @return the query
     * @throws IllegalArgumentException if {@code from} is not before {@code to}
     */
    public JobQuery build() {
      if (from != null && to != null && !from.isBefore(to)) {
        throw new IllegalArgumentException("from must be before to, got: from=" + from + ", to=" + to);
      }
      return new JobQuery(this, null);
    }
  }
}
