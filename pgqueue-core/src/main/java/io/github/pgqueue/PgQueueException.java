package io.github.pgqueue;

/**
 * A database operation of pgqueue failed. The cause is usually the driver's {@link
 * java.sql.SQLException}, whose SQL state tells what happened. Bad arguments are reported with
 * {@link IllegalArgumentException} instead, before anything is written.
 */
public class PgQueueException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * @param message what pgqueue was doing
   * @param cause the underlying failure
   */
  public PgQueueException(String message, Throwable cause) {
    super(message, cause);
  }

  /**
   * @param message what went wrong
   */
  public PgQueueException(String message) {
    super(message);
  }
}
