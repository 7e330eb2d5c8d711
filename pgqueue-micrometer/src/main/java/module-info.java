/**
 * pgqueue-micrometer: Micrometer metrics for pgqueue ({@link
 * io.github.pgqueue.micrometer.PgQueueMetrics}): job counters and timers from the worker's
 * listener and the queue's enqueue interceptor, worker gauges, and per-queue gauges read from one
 * cached query at an interval.
 */
module io.github.pgqueue.micrometer {
  // JobListener, EnqueueInterceptor, Worker and JobQueue are in this module's API.
  requires transitive io.github.pgqueue;
  // MeterRegistry, MeterBinder and Tag are in this module's API.
  requires transitive micrometer.core;
  requires org.slf4j;

  exports io.github.pgqueue.micrometer;
}
