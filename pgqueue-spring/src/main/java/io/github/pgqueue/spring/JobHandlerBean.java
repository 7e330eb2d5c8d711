package io.github.pgqueue.spring;

import io.github.pgqueue.HandlerOptions;
import io.github.pgqueue.JobHandler;
import io.github.pgqueue.JobType;

/**
 * A job handler that is a Spring bean: the worker that {@link SpringPgQueue#worker} builds runs
 * every bean of this type for the {@link JobType} it declares. At most one bean per job name; two
 * fail the build with both bean names.
 *
 * <pre>{@code
 * @Component
 * class SendWelcomeEmail implements JobHandlerBean<Welcome> {
 *   public JobType<Welcome> jobType() { return Jobs.WELCOME; }
 *   public void handle(Welcome w, JobContext ctx) { mailer.send(w.to()); }
 * }
 * }</pre>
 *
 * @param <T> the payload type
 */
public interface JobHandlerBean<T> extends JobHandler<T> {

  /**
   * The job type this bean handles; called once, when the worker is built.
   *
   * @return the job type, never null
   */
  JobType<T> jobType();

  /**
   * Per-handler options (timeout, backoff); called once, when the worker is built.
   *
   * @return the options; {@link HandlerOptions#DEFAULTS} unless overridden
   */
  default HandlerOptions options() {
    return HandlerOptions.DEFAULTS;
  }
}
