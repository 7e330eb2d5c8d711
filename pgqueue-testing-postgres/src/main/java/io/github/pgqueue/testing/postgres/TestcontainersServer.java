package io.github.pgqueue.testing.postgres;

import org.testcontainers.containers.PostgreSQLContainer;

/**
 * Starts a PostgreSQL container. Kept in its own class so that Testcontainers is only loaded when
 * asked for ({@code PGQUEUE_TEST_DB=testcontainers}); it is an optional dependency.
 */
final class TestcontainersServer {

  private TestcontainersServer() {}

  static TestPostgres start() {
    try {
      Class.forName("org.testcontainers.containers.PostgreSQLContainer");
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException(
          TestPostgres.DB_ENV + "=testcontainers needs org.testcontainers:postgresql on the test"
              + " classpath",
          e);
    }
    PostgreSQLContainer<?> c = new PostgreSQLContainer<>("postgres:17-alpine");
    c.start();
    return TestPostgres.ofContainer(
        c.getHost(), c.getMappedPort(5432), c.getDatabaseName(), c.getUsername(), c.getPassword(), c::stop);
  }
}
