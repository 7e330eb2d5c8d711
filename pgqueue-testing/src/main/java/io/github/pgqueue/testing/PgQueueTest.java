package io.github.pgqueue.testing;

import io.github.pgqueue.Migrator;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gives the annotated test class a PostgreSQL database of its own, created before the class's first
 * test and dropped after its last, with the pgqueue schema migrated into it (unless {@link
 * #migrate()} is false). Test classes cannot see each other's rows.
 *
 * <p>Declare a {@link io.github.pgqueue.testing.postgres.TestDatabase} parameter on a test method, a lifecycle method or the
 * constructor to receive it:
 *
 * <pre>{@code
 * @PgQueueTest
 * class SignupTest {
 *   @Test
 *   void enqueuesWelcomeEmail(TestDatabase db) {
 *     JobQueue queue = JobQueue.create(db.dataSource());
 *     ...
 *   }
 * }
 * }</pre>
 *
 * <p>The server is chosen once per JVM; see {@link io.github.pgqueue.testing.postgres.TestPostgres}.
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(PgQueueExtension.class)
public @interface PgQueueTest {

  /**
   * The pgqueue schema to migrate. Defaults to {@value Migrator#DEFAULT_SCHEMA}.
   *
   * @return the schema name
   */
  String schema() default Migrator.DEFAULT_SCHEMA;

  /**
   * Whether to run {@link Migrator#migrate()} on the fresh database. Defaults to true; set false to
   * test against an empty database.
   *
   * @return true to migrate
   */
  boolean migrate() default true;
}
