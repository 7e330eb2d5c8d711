package io.github.pgqueue;

import io.github.pgqueue.testing.postgres.DatabaseExtension;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * Core's own tests: a fresh database per test class, migrated with this module's {@link Migrator}
 * unless {@link #migrate()} is false. The same contract as pgqueue-testing's {@code @PgQueueTest},
 * which core's tests cannot use (that module depends on this one).
 */
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(PgQueueTest.Extension.class)
@interface PgQueueTest {

  /** The schema to migrate. */
  String schema() default Migrator.DEFAULT_SCHEMA;

  /** Whether to migrate the fresh database. */
  boolean migrate() default true;

  /** Creates the database (see {@link DatabaseExtension}) and migrates it. */
  final class Extension extends DatabaseExtension {
    @Override
    protected String schema(ExtensionContext context) {
      return config(context).schema();
    }

    @Override
    protected void prepare(TestDatabase database, ExtensionContext context) {
      if (config(context).migrate()) {
        Migrator.create(database.dataSource(), database.schema()).migrate();
      }
    }

    private static PgQueueTest config(ExtensionContext context) {
      return AnnotationSupport.findAnnotation(context.getRequiredTestClass(), PgQueueTest.class).orElseThrow();
    }
  }
}
