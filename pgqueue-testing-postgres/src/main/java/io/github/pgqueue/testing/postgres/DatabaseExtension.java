package io.github.pgqueue.testing.postgres;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A JUnit 5 extension that gives a test class a PostgreSQL database of its own, created on {@link
 * TestPostgres#server()} before the class's first test and dropped after its last, and resolves
 * {@link TestDatabase} parameters of test methods, lifecycle methods and constructors.
 *
 * <p>Use it directly ({@code @ExtendWith(DatabaseExtension.class)}) for an empty database, or
 * extend it and override {@link #prepare} to install a schema first; pgqueue's own
 * {@code @PgQueueTest} does that with its migrations.
 */
public class DatabaseExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(DatabaseExtension.class);
  private static final String KEY = "database";

  /** Creates the extension; JUnit does this. */
  public DatabaseExtension() {}

  /**
   * The schema name recorded in the {@link TestDatabase} (see {@link TestDatabase#schema()}).
   * Defaults to {@code pgqueue}.
   *
   * @param context the test class's context
   * @return the schema name
   */
  protected String schema(ExtensionContext context) {
    return "pgqueue";
  }

  /**
   * Prepares the fresh database before the class's first test. Does nothing by default.
   *
   * @param database the new database
   * @param context the test class's context
   */
  protected void prepare(TestDatabase database, ExtensionContext context) {}

  @Override
  public final void beforeAll(ExtensionContext context) {
    TestDatabase db = TestPostgres.server().createDatabase(schema(context));
    context.getStore(NAMESPACE).put(KEY, db);
    prepare(db, context);
  }

  @Override
  public final void afterAll(ExtensionContext context) {
    TestDatabase db = context.getStore(NAMESPACE).remove(KEY, TestDatabase.class);
    if (db != null) {
      db.drop();
    }
  }

  @Override
  public final boolean supportsParameter(ParameterContext parameter, ExtensionContext extension) {
    return parameter.getParameter().getType() == TestDatabase.class;
  }

  @Override
  public final Object resolveParameter(ParameterContext parameter, ExtensionContext extension) {
    // Class-level store, reachable from method contexts through the parent chain.
    TestDatabase db = extension.getStore(NAMESPACE).get(KEY, TestDatabase.class);
    if (db == null) {
      throw new ParameterResolutionException(
          "no test database: register " + getClass().getSimpleName() + " on the test class");
    }
    return db;
  }
}
