package io.github.pgqueue;

import java.time.Duration;

/**
 * Recorded as the error of an attempt that ran past its timeout (its class name appears in the
 * job's errors and in listener events). Only the worker creates it.
 */
public final class JobTimeoutException extends Exception {
  private static final long serialVersionUID = 1L;

  /**
   * @param timeout the timeout that was exceeded
   * @param abandoned true if the handler did not return within the grace after its interrupt and
   *     its thread was abandoned
   */
  JobTimeoutException(Duration timeout, boolean abandoned) {
    super(
        "job ran past its timeout of " + timeout
            + (abandoned ? " and ignored the interrupt; its thread was abandoned" : " and was interrupted"));
  }
}
