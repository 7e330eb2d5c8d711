/**
 * pgqueue-opentelemetry: OpenTelemetry tracing for pgqueue ({@link
 * io.github.pgqueue.opentelemetry.PgQueueTracing}). Needs the OpenTelemetry API only.
 */
module io.github.pgqueue.opentelemetry {
  // EnqueueInterceptor and JobInterceptor are what PgQueueTracing hands out.
  requires transitive io.github.pgqueue;
  // OpenTelemetry is what PgQueueTracing.create takes.
  requires transitive io.opentelemetry.api;
  requires io.opentelemetry.context;

  exports io.github.pgqueue.opentelemetry;
}
