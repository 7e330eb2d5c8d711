package io.github.pgqueue.spring;

import io.github.pgqueue.Worker;

/**
 * A bean that adjusts the {@link Worker.Builder} before the worker bean is built (a listener, a
 * handler interceptor, an executor): how integrations such as metrics and tracing plug in.
 * Customizers run in {@code @Order} order, after the handlers and the settings from properties.
 */
@FunctionalInterface
public interface WorkerCustomizer {

  /**
   * Adjusts the builder.
   *
   * @param builder the worker's builder
   */
  void customize(Worker.Builder builder);
}
