package io.github.pgqueue;

import io.github.pgqueue.internal.Settings;
import java.time.Duration;

/**
 * Per-type settings of a handler, overriding the worker's. {@code null} means "use the worker's".
 *
 * <p>A job's maximum attempts is fixed when it is enqueued (see {@link
 * EnqueueOptions.Builder#maxAttempts} and {@link JobType#withDefaults}), so producers and
 * consumers always agree on it; the worker side sets how long an attempt may take and how long to
 * wait between attempts.
 *
 * @param timeout how long one attempt may run before it is interrupted and, after the worker's
 *     grace, abandoned and retried
 * @param backoff the wait between attempts
 */
public record HandlerOptions(Duration timeout, Backoff backoff) {

  /** Nothing overridden. */
  public static final HandlerOptions DEFAULTS = new HandlerOptions(null, null);

  /**
   * @throws IllegalArgumentException if the timeout is not positive
   */
  public HandlerOptions {
    if (timeout != null) {
      Settings.checkPositive("timeout", timeout);
    }
  }

  /**
   * A builder with nothing set.
   *
   * @return the builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds {@link HandlerOptions}; setters validate at once. */
  public static final class Builder {
    private Duration timeout;
    private Backoff backoff;

    private Builder() {}

    /**
     * How long one attempt may run. Defaults to the worker's {@code jobTimeout}.
     *
     * @param timeout positive
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder timeout(Duration timeout) {
      this.timeout = Settings.checkPositive("timeout", timeout);
      return this;
    }

    /**
     * The wait between attempts. Defaults to the worker's backoff.
     *
     * @param backoff the backoff
     * @return this builder
     */
    public Builder backoff(Backoff backoff) {
      if (backoff == null) {
        throw new IllegalArgumentException("backoff must not be null");
      }
      this.backoff = backoff;
      return this;
    }

    /**
     * The options.
     *
     * @return the options
     */
    public HandlerOptions build() {
      return new HandlerOptions(timeout, backoff);
    }
  }
}
