package io.github.pgqueue;

/**
 * Receives {@link JobEvent}s from a {@link Worker}, for metrics and tracing.
 *
 * <p>Called on the thread that ran the job (or the worker's control thread for {@link
 * JobEvent.Kind#RESCUED}), so it must be fast and thread-safe. An outcome event is sent when the
 * handler finishes, just before the outcome is written to the database in a batch. An exception
 * thrown by a listener is logged and otherwise ignored.
 */
@FunctionalInterface
public interface JobListener {

  /**
   * One event.
   *
   * @param event what happened
   */
  void onEvent(JobEvent event);
}
