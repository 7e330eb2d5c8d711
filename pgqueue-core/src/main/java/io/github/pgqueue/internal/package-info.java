/**
 * pgqueue's internals shared between its own modules: name and settings validation, the rules for
 * borrowed connections, the lifecycle of long-lived parts, and the bridge the benchmark uses.
 *
 * <p><b>Unsupported for users.</b> This package is exported only to pgqueue's own modules (see
 * {@code module-info.java}); on the class path its public types are visible, but they are not part
 * of pgqueue's API, have no compatibility guarantee, and may change or disappear in any release.
 */
package io.github.pgqueue.internal;
