/**
 * pgqueue-spring: Spring Framework support for pgqueue (transaction joining, handler beans,
 * lifecycles). See {@link io.github.pgqueue.spring}.
 */
module io.github.pgqueue.spring {
  requires transitive io.github.pgqueue;
  requires static io.github.pgqueue.cron;
  requires transitive spring.context;
  requires spring.jdbc;
  requires spring.tx;
  requires spring.core;
  requires spring.beans;

  exports io.github.pgqueue.spring;
}
