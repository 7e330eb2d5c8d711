package io.github.pgqueue;

/**
 * Receives {@link JobEvent}s from a {@link Worker}, for metrics and tracing.
 *
 * <p>Called on the thread that ran the job (or the worker's control thread for {@link
 * JobEvent.Kind#RESCUED}), so it must be fast and thread-safe. An outcome event is sent when the
 * handler finishes, once the outcome has been handed over to be written to the database in a batch
 * (so it may arrive just before or just after the write). Whatever a listener throws ({@link
 * Error}s included) is logged and otherwise ignored: it changes no outcome and keeps no event from
 * the other listeners. A listener that blocks holds its handler's slot meanwhile.
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
