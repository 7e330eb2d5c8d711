package io.github.pgqueue.spring;

import io.github.pgqueue.JobQueue;

/**
 * A bean that adjusts the {@link JobQueue.Builder} before the queue bean is built (an enqueue
 * interceptor, a codec): how integrations such as metrics and tracing plug in. Customizers run in
 * {@code @Order} order, after the settings from properties.
 */
@FunctionalInterface
public interface JobQueueCustomizer {

  /**
   * Adjusts the builder.
   *
   * @param builder the queue's builder
   */
  void customize(JobQueue.Builder builder);
}
