package io.github.pgqueue;

import java.util.Objects;

/**
 * One job to enqueue in a batch: its type, payload and options. See {@link
 * JobQueue#enqueueAll(java.util.List)}.
 *
 * @param type the job type
 * @param payload the payload, not null
 * @param options the options for this job
 * @param <T> the payload type
 */
public record NewJob<T>(JobType<T> type, T payload, EnqueueOptions options) {

  /**
   * @throws NullPointerException if any component is null
   */
  public NewJob {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(payload, "payload must not be null");
    Objects.requireNonNull(options, "options");
  }

  /**
   * A job with the type's default options.
   *
   * @param type the job type
   * @param payload the payload
   * @param <T> the payload type
   * @return the new job
   */
  public static <T> NewJob<T> of(JobType<T> type, T payload) {
    return new NewJob<>(type, payload, EnqueueOptions.DEFAULTS);
  }

  /**
   * A job with its own options.
   *
   * @param type the job type
   * @param payload the payload
   * @param options the options, overriding the type's defaults field by field
   * @param <T> the payload type
   * @return the new job
   */
  public static <T> NewJob<T> of(JobType<T> type, T payload, EnqueueOptions options) {
    return new NewJob<>(type, payload, options);
  }
}
