/**
 * pgqueue-core: durable background jobs on PostgreSQL ({@link io.github.pgqueue.JobQueue}, {@link
 * io.github.pgqueue.Worker}, {@link io.github.pgqueue.Migrator}).
 *
 * <p>Only {@code io.github.pgqueue} is pgqueue's API. {@code io.github.pgqueue.internal} is
 * exported to pgqueue's own modules alone: it is unsupported and may change in any release.
 *
 * <p>Payload classes are read and written by Jackson through reflection: a payload class in a
 * named module must be in a package that module opens to {@code com.fasterxml.jackson.databind}.
 * pgqueue's own JSON (the errors column) uses Jackson's tree model and needs no {@code opens}.
 */
module io.github.pgqueue {
  // DataSource and Connection are in the API, so users get java.sql with this module.
  requires transitive java.sql;
  requires org.postgresql.jdbc;
  // ObjectMapper is in the API (JobQueue.Builder.objectMapper, Worker.Builder.objectMapper).
  requires transitive com.fasterxml.jackson.databind;
  requires com.fasterxml.jackson.datatype.jsr310;
  requires org.slf4j;

  exports io.github.pgqueue;
  // Shared internals, for pgqueue's own modules only (the benchmark, not published, has no
  // module-info and runs on the class path; it is named here as the bridge's one user).
  exports io.github.pgqueue.internal to
      io.github.pgqueue.cron,
      io.github.pgqueue.testing,
      io.github.pgqueue.cli,
      io.github.pgqueue.dashboard,
      io.github.pgqueue.bench;
}
