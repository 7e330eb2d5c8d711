package io.github.pgqueue.testing;

import io.github.pgqueue.Migrator;
import io.github.pgqueue.testing.postgres.DatabaseExtension;
import io.github.pgqueue.testing.postgres.TestDatabase;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The JUnit 5 extension behind {@link PgQueueTest}: a database per test class (see {@link
 * DatabaseExtension}) with the pgqueue schema migrated into it, and {@link TestDatabase}
 * parameters resolved. It can also be registered directly with {@code
 * @ExtendWith(PgQueueExtension.class)}, in which case the defaults of {@link PgQueueTest} apply.
 */
public final class PgQueueExtension extends DatabaseExtension {

  /** Creates the extension; JUnit does this. */
  public PgQueueExtension() {}

  @Override
  protected String schema(ExtensionContext context) {
    return config(context).map(PgQueueTest::schema).orElse(Migrator.DEFAULT_SCHEMA);
  }

  @Override
  protected void prepare(TestDatabase database, ExtensionContext context) {
    if (config(context).map(PgQueueTest::migrate).orElse(true)) {
      Migrator.create(database.dataSource(), database.schema()).migrate();
    }
  }

  private static java.util.Optional<PgQueueTest> config(ExtensionContext context) {
    return AnnotationSupport.findAnnotation(context.getRequiredTestClass(), PgQueueTest.class);
  }
}
