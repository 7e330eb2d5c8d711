package io.github.pgqueue;

import io.github.pgqueue.internal.Identifiers;
import java.time.Duration;
import java.time.Instant;

/**
 * How one job is enqueued. Every field is optional: {@code null} means "not set here", and the
 * value comes from the job type's defaults ({@link JobType#withDefaults}), then from the library
 * default named on each builder method.
 *
 * <p>Build with {@link #builder()}; each setter rejects a bad value at once with an {@link
 * IllegalArgumentException} naming the setting and the value.
 *
 * @param queue the queue; defaults to {@value #DEFAULT_QUEUE}
 * @param priority higher runs first; defaults to {@value #DEFAULT_PRIORITY}
 * @param maxAttempts attempts before the job is discarded; defaults to {@value
 *     #DEFAULT_MAX_ATTEMPTS}
 * @param runAt the earliest time the job may run; defaults to now (the database clock)
 * @param delay run no earlier than this long after the enqueue (the database clock); exclusive
 *     with {@code runAt}
 * @param uniqueKey a key that deduplicates jobs of the same name while one is pending or running
 * @param context free text stored with the job (where it was enqueued from, a request id)
 * @param concurrencyKey the key the job's concurrency is counted under (a tenant, an account, a
 *     remote host), for the queue's per-key limit and fairness; none by default
 */
public record EnqueueOptions(
    String queue,
    Integer priority,
    Integer maxAttempts,
    Instant runAt,
    Duration delay,
    String uniqueKey,
    String context,
    String concurrencyKey) {

  /** The queue a job goes to unless told otherwise. */
  public static final String DEFAULT_QUEUE = "default";
  /** The priority of a job unless told otherwise. */
  public static final int DEFAULT_PRIORITY = 0;
  /** Lowest priority accepted (the range of a PostgreSQL {@code smallint}). */
  public static final int MIN_PRIORITY = Short.MIN_VALUE;
  /** Highest priority accepted (the range of a PostgreSQL {@code smallint}). */
  public static final int MAX_PRIORITY = Short.MAX_VALUE;
  /** Attempts before a failing job is discarded, unless told otherwise. */
  public static final int DEFAULT_MAX_ATTEMPTS = 25;
  /** The largest {@code maxAttempts} accepted. */
  public static final int MAX_MAX_ATTEMPTS = 1000;
  /** The longest unique key accepted, in characters. */
  public static final int MAX_UNIQUE_KEY_LENGTH = 500;
  /** The longest concurrency key accepted, in characters. */
  public static final int MAX_CONCURRENCY_KEY_LENGTH = 500;
  /** The longest context accepted, in characters. */
  public static final int MAX_CONTEXT_LENGTH = 1000;

  /** No option set: every value comes from the type's defaults or the library defaults. */
  public static final EnqueueOptions DEFAULTS =
      new EnqueueOptions(null, null, null, null, null, null, null, null);

  /**
   * Validates every set field.
   *
   * @throws IllegalArgumentException naming the first invalid field and its value
   */
  public EnqueueOptions {
    if (queue != null) {
      Identifiers.queueName(queue);
    }
    if (priority != null) {
      checkPriority(priority);
    }
    if (maxAttempts != null) {
      checkMaxAttempts(maxAttempts);
    }
    if (runAt != null && delay != null) {
      throw new IllegalArgumentException(
          "runAt and delay are exclusive, got runAt=" + runAt + " and delay=" + delay);
    }
    if (delay != null) {
      checkDelay(delay);
    }
    if (uniqueKey != null) {
      checkUniqueKey(uniqueKey);
    }
    if (context != null) {
      checkContext(context);
    }
    if (concurrencyKey != null) {
      checkConcurrencyKey(concurrencyKey);
    }
  }

  /**
   * Options without a concurrency key (the components before {@code concurrencyKey} was added).
   *
   * @param queue see {@link #queue()}
   * @param priority see {@link #priority()}
   * @param maxAttempts see {@link #maxAttempts()}
   * @param runAt see {@link #runAt()}
   * @param delay see {@link #delay()}
   * @param uniqueKey see {@link #uniqueKey()}
   * @param context see {@link #context()}
   * @throws IllegalArgumentException naming the first invalid field and its value
   */
  public EnqueueOptions(String queue, Integer priority, Integer maxAttempts, Instant runAt, Duration delay,
      String uniqueKey, String context) {
    this(queue, priority, maxAttempts, runAt, delay, uniqueKey, context, null);
  }

  /**
   * A builder with nothing set.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A builder that starts from this instance's values.
   *
   * @return a new builder
   */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.queue = queue;
    b.priority = priority;
    b.maxAttempts = maxAttempts;
    b.runAt = runAt;
    b.delay = delay;
    b.uniqueKey = uniqueKey;
    b.context = context;
    b.concurrencyKey = concurrencyKey;
    return b;
  }

  /** Each field of {@code over} that is set wins over this one's. */
  EnqueueOptions overriddenBy(EnqueueOptions over) {
    if (over == DEFAULTS || over.equals(DEFAULTS)) {
      return this;
    }
    return new EnqueueOptions(
        over.queue != null ? over.queue : queue,
        over.priority != null ? over.priority : priority,
        over.maxAttempts != null ? over.maxAttempts : maxAttempts,
        over.runAt != null || over.delay != null ? over.runAt : runAt,
        over.runAt != null || over.delay != null ? over.delay : delay,
        over.uniqueKey != null ? over.uniqueKey : uniqueKey,
        over.context != null ? over.context : context,
        over.concurrencyKey != null ? over.concurrencyKey : concurrencyKey);
  }

  String queueOrDefault() {
    return queue != null ? queue : DEFAULT_QUEUE;
  }

  int priorityOrDefault() {
    return priority != null ? priority : DEFAULT_PRIORITY;
  }

  int maxAttemptsOrDefault() {
    return maxAttempts != null ? maxAttempts : DEFAULT_MAX_ATTEMPTS;
  }

  String contextOrDefault() {
    return context != null ? context : "";
  }

  /** True when the job may run at once, so a worker is worth waking. */
  boolean runsImmediately() {
    return runAt == null && (delay == null || delay.isZero());
  }

  private static void checkPriority(int priority) {
    if (priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
      throw new IllegalArgumentException(
          "priority must be between " + MIN_PRIORITY + " and " + MAX_PRIORITY + ", got: " + priority);
    }
  }

  private static void checkMaxAttempts(int maxAttempts) {
    if (maxAttempts < 1 || maxAttempts > MAX_MAX_ATTEMPTS) {
      throw new IllegalArgumentException(
          "maxAttempts must be between 1 and " + MAX_MAX_ATTEMPTS + ", got: " + maxAttempts);
    }
  }

  private static void checkDelay(Duration delay) {
    if (delay.isNegative()) {
      throw new IllegalArgumentException("delay must not be negative, got: " + delay);
    }
    if (delay.compareTo(Duration.ofDays(365L * 100)) > 0) {
      throw new IllegalArgumentException("delay must be at most 100 years, got: " + delay);
    }
  }

  private static void checkUniqueKey(String uniqueKey) {
    if (uniqueKey.isBlank() || uniqueKey.length() > MAX_UNIQUE_KEY_LENGTH) {
      throw new IllegalArgumentException(
          "uniqueKey must be 1 to " + MAX_UNIQUE_KEY_LENGTH + " characters and not blank, got: "
              + Identifiers.quote(uniqueKey));
    }
    Identifiers.checkStorable("uniqueKey", uniqueKey);
  }

  private static void checkConcurrencyKey(String key) {
    if (key.isBlank() || key.length() > MAX_CONCURRENCY_KEY_LENGTH) {
      throw new IllegalArgumentException(
          "concurrencyKey must be 1 to " + MAX_CONCURRENCY_KEY_LENGTH + " characters and not blank, got: "
              + Identifiers.quote(key));
    }
    Identifiers.checkStorable("concurrencyKey", key);
  }

  static void checkContext(String context) {
    if (context.length() > MAX_CONTEXT_LENGTH) {
      throw new IllegalArgumentException(
          "context must be at most " + MAX_CONTEXT_LENGTH + " characters, got "
              + context.length() + ": " + Identifiers.quote(context));
    }
    Identifiers.checkStorable("context", context);
  }

  /** Builds {@link EnqueueOptions}; every setter validates its argument at once. */
  public static final class Builder {
    private String queue;
    private Integer priority;
    private Integer maxAttempts;
    private Instant runAt;
    private Duration delay;
    private String uniqueKey;
    private String context;
    private String concurrencyKey;

    private Builder() {}

    /**
     * The queue. Defaults to {@value EnqueueOptions#DEFAULT_QUEUE}.
     *
     * @param queue 1 to 100 characters from {@code A-Z a-z 0-9 _ . : -}
     * @return this builder
     * @throws IllegalArgumentException if the name is invalid
     */
    public Builder queue(String queue) {
      this.queue = Identifiers.queueName(queue);
      return this;
    }

    /**
     * The priority: higher runs first within a queue. Defaults to {@value
     * EnqueueOptions#DEFAULT_PRIORITY}.
     *
     * @param priority between {@value EnqueueOptions#MIN_PRIORITY} and {@value
     *     EnqueueOptions#MAX_PRIORITY}
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder priority(int priority) {
      checkPriority(priority);
      this.priority = priority;
      return this;
    }

    /**
     * Attempts before a failing job is discarded. Defaults to {@value
     * EnqueueOptions#DEFAULT_MAX_ATTEMPTS}.
     *
     * @param maxAttempts between 1 and {@value EnqueueOptions#MAX_MAX_ATTEMPTS}
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder maxAttempts(int maxAttempts) {
      checkMaxAttempts(maxAttempts);
      this.maxAttempts = maxAttempts;
      return this;
    }

    /**
     * The earliest time the job may run. Defaults to now. Clears any {@link #delay}.
     *
     * @param runAt an instant; one in the past means "now"
     * @return this builder
     */
    public Builder runAt(Instant runAt) {
      if (runAt == null) {
        throw new IllegalArgumentException("runAt must not be null");
      }
      this.runAt = runAt;
      this.delay = null;
      return this;
    }

    /**
     * Run no earlier than {@code delay} after the enqueue, measured by the database clock.
     * Clears any {@link #runAt}.
     *
     * @param delay zero or positive, at most 100 years
     * @return this builder
     * @throws IllegalArgumentException if negative or too long
     */
    public Builder delay(Duration delay) {
      if (delay == null) {
        throw new IllegalArgumentException("delay must not be null");
      }
      checkDelay(delay);
      this.delay = delay;
      this.runAt = null;
      return this;
    }

    /**
     * A deduplication key. While a job with the same name and key is available or running, an
     * enqueue returns that job's id with {@link EnqueueResult#duplicate()} set and writes nothing.
     * Once that job has succeeded or been discarded, the key is free again.
     *
     * @param uniqueKey 1 to {@value EnqueueOptions#MAX_UNIQUE_KEY_LENGTH} characters, not blank
     * @return this builder
     * @throws IllegalArgumentException if blank, too long, or holding a NUL character or an
     *     unpaired UTF-16 surrogate (PostgreSQL cannot store either as given)
     */
    public Builder uniqueKey(String uniqueKey) {
      if (uniqueKey == null) {
        throw new IllegalArgumentException("uniqueKey must not be null");
      }
      checkUniqueKey(uniqueKey);
      this.uniqueKey = uniqueKey;
      return this;
    }

    /**
     * Free text stored with the job, shown in inspection and logs. Defaults to empty.
     *
     * @param context at most {@value EnqueueOptions#MAX_CONTEXT_LENGTH} characters
     * @return this builder
     * @throws IllegalArgumentException if too long, or holding a NUL character or an unpaired
     *     UTF-16 surrogate
     */
    public Builder context(String context) {
      if (context == null) {
        throw new IllegalArgumentException("context must not be null");
      }
      checkContext(context);
      this.context = context;
      return this;
    }

    /**
     * The key this job's concurrency is counted under: a tenant, an account, a remote host. In a
     * queue with a per-key limit ({@link JobQueue#setKeyConcurrencyLimit}) at most that many jobs
     * of one key run at once across every worker; in a queue with fairness on ({@link
     * JobQueue#setKeyFairness}) claims take turns across keys. The job's place in the fair order is
     * fixed here, at enqueue. A queue that sets neither ignores the key. Defaults to none.
     *
     * @param concurrencyKey 1 to {@value EnqueueOptions#MAX_CONCURRENCY_KEY_LENGTH} characters, not
     *     blank
     * @return this builder
     * @throws IllegalArgumentException if blank, too long, or holding a NUL character or an
     *     unpaired UTF-16 surrogate
     */
    public Builder concurrencyKey(String concurrencyKey) {
      if (concurrencyKey == null) {
        throw new IllegalArgumentException("concurrencyKey must not be null");
      }
      checkConcurrencyKey(concurrencyKey);
      this.concurrencyKey = concurrencyKey;
      return this;
    }

    /**
     * The options.
     *
     * @return the immutable options
     */
    public EnqueueOptions build() {
      return new EnqueueOptions(queue, priority, maxAttempts, runAt, delay, uniqueKey, context, concurrencyKey);
    }
  }
}
