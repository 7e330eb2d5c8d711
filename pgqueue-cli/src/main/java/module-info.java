/**
 * pgqueue-cli: the command line ({@link io.github.pgqueue.cli.PgQueueCli}) that prints pgqueue's
 * migration script or applies the migrations to a database.
 */
module io.github.pgqueue.cli {
  requires io.github.pgqueue;
  requires org.postgresql.jdbc;
  // PGSimpleDataSource, which the command line builds, implements javax.naming.Referenceable.
  requires java.naming;

  exports io.github.pgqueue.cli;
}
