package io.github.pgqueue.testing;

import io.github.pgqueue.Migrator;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The JUnit 5 extension behind {@link PgQueueTest}: creates a database per test class, migrates
 * it, resolves {@link TestDatabase} parameters, and drops the database after the class. It can
 * also be registered directly with {@code @ExtendWith(PgQueueExtension.class)}, in which case the
 * defaults of {@link PgQueueTest} apply.
 */
public final class PgQueueExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(PgQueueExtension.class);
  private static final String KEY = "database";

  /** Creates the extension; JUnit does this. */
  public PgQueueExtension() {}

  @Override
  public void beforeAll(ExtensionContext context) {
    PgQueueTest config =
        AnnotationSupport.findAnnotation(context.getRequiredTestClass(), PgQueueTest.class)
            .orElse(null);
    String schema = config != null ? config.schema() : Migrator.DEFAULT_SCHEMA;
    boolean migrate = config == null || config.migrate();
    TestDatabase db = TestPostgres.server().createDatabase(schema);
    if (migrate) {
      Migrator.create(db.dataSource(), schema).migrate();
    }
    context.getStore(NAMESPACE).put(KEY, db);
  }

  @Override
  public void afterAll(ExtensionContext context) {
    TestDatabase db = context.getStore(NAMESPACE).remove(KEY, TestDatabase.class);
    if (db != null) {
      db.drop();
    }
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext extension) {
    return parameter.getParameter().getType() == TestDatabase.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext extension) {
    // Class-level store, reachable from method contexts through the parent chain.
    TestDatabase db = extension.getStore(NAMESPACE).get(KEY, TestDatabase.class);
    if (db == null) {
      throw new ParameterResolutionException(
          "no pgqueue test database: annotate the test class with @PgQueueTest");
    }
    return db;
  }
}
