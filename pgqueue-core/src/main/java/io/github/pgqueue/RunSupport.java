package io.github.pgqueue;

import javax.sql.DataSource;

/**
 * What an attempt needs from its worker beyond the job itself: the data source and statements for
 * a transactional handler's own transaction and for the lookups that settle it.
 *
 * @param dataSource where a transactional handler's connection is borrowed
 * @param store the statements
 * @param progressNanos least time between two progress writes of one attempt
 */
record RunSupport(DataSource dataSource, JobStore store, long progressNanos) {}
