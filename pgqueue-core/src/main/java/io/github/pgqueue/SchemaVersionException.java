package io.github.pgqueue;

/**
 * The pgqueue schema is missing, or older than this code needs. The message says which, and how to
 * fix it with {@link Migrator}.
 */
public final class SchemaVersionException extends PgQueueException {
  private static final long serialVersionUID = 1L;

  private final String schema;
  private final int installedVersion;
  private final int requiredVersion;

  SchemaVersionException(String schema, int installedVersion, int requiredVersion) {
    super(message(schema, installedVersion, requiredVersion));
    this.schema = schema;
    this.installedVersion = installedVersion;
    this.requiredVersion = requiredVersion;
  }

  private static String message(String schema, int installed, int required) {
    String fix =
        "run Migrator.create(dataSource"
            + (schema.equals(Migrator.DEFAULT_SCHEMA) ? "" : ", \"" + schema + "\"")
            + ").migrate() (for example as your release command), or apply Migrator.script(\""
            + schema + "\", " + installed + ") with your own migration tool";
    if (installed == 0) {
      return "pgqueue schema \"" + schema + "\" is not installed in this database: " + fix;
    }
    return "pgqueue schema \"" + schema + "\" is at version " + installed
        + " but this pgqueue needs version " + required + ": " + fix;
  }

  /**
   * The schema that was checked.
   *
   * @return the schema name
   */
  public String schema() {
    return schema;
  }

  /**
   * The version found in the database; 0 when pgqueue is not installed there.
   *
   * @return the installed version
   */
  public int installedVersion() {
    return installedVersion;
  }

  /**
   * The version this code needs.
   *
   * @return the required version
   */
  public int requiredVersion() {
    return requiredVersion;
  }
}
