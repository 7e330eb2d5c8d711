package io.github.pgqueue.dashboard;

import java.security.Principal;
import java.util.function.Function;

/**
 * Decides, per request, who may read the dashboard and who may act on jobs and queues. The host
 * application fills it from its own authentication (the adapter passes the request's principal
 * and headers). Called on the request's thread for every request; it must be thread-safe and
 * quick.
 *
 * <p>When a dashboard is built without one, {@link #readOnly()} applies: anyone who reaches the
 * mount may read, nobody may act.
 */
@FunctionalInterface
public interface DashboardAuthorizer {

  /** What a request may do. */
  enum Access {
    /** Nothing: every page answers 403. */
    NONE,
    /** The pages and the JSON reads; every action answers 403. */
    READ,
    /** Reads and actions (retry, run now, cancel, delete, pause, resume). */
    ACT
  }

  /**
   * The access of one request.
   *
   * @param principal the authenticated user as the server or container reports it, or null
   * @param header the request's headers by name (case-insensitive), returning null when absent
   * @return the access; null counts as {@link Access#NONE}
   */
  Access access(Principal principal, Function<String, String> header);

  /**
   * Everyone may read, nobody may act: the default.
   *
   * @return the authorizer
   */
  static DashboardAuthorizer readOnly() {
    return (principal, header) -> Access.READ;
  }

  /**
   * Any authenticated request (one with a principal) may read and act; others get nothing. For a
   * mount that the server already protects with its own authentication.
   *
   * @return the authorizer
   */
  static DashboardAuthorizer authenticated() {
    return (principal, header) -> principal == null ? Access.NONE : Access.ACT;
  }
}
