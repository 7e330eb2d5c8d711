package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.pgqueue.testing.postgres.TestDatabase;
import io.github.pgqueue.testing.postgres.TestPostgres;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Past one primary (docs/scaling.md): queues spread over several databases, each a {@link
 * JobQueue} and {@link Worker} on its own {@link DataSource}, served by one process. Each job runs
 * and is deleted in its own database, and one database failing does not stop the other's jobs.
 * The wiring between the markers is the snippet docs/scaling.md shows, checked here word for word.
 */
@PgQueueTest
class SeveralDatabasesTest {

  record Order(int n) {}

  record Invoice(int n) {}

  static final JobType<Order> SHIP_ORDER = JobType.of("ship_order", Order.class);
  static final JobType<Invoice> SEND_INVOICE = JobType.of("send_invoice", Invoice.class);

  /** The second database, on the same test server: in production, another primary. */
  static TestDatabase billing;

  TestDatabase orders;
  /** The worker's way to the orders database; switched off to fail that database. */
  Switchable ordersDataSource;
  Worker ordersWorker;
  Worker billingWorker;
  final Set<Integer> shipped = ConcurrentHashMap.newKeySet();
  final Set<Integer> invoiced = ConcurrentHashMap.newKeySet();

  @BeforeAll
  static void createSecondDatabase() {
    billing = TestPostgres.server().createDatabase(Migrator.DEFAULT_SCHEMA);
    Migrator.create(billing.dataSource()).migrate();
  }

  @AfterAll
  static void dropSecondDatabase() {
    billing.drop();
  }

  @BeforeEach
  void start(TestDatabase db) {
    orders = db;
    orders.truncate();
    billing.truncate();
    ordersDataSource = new Switchable(orders.dataSource());
    DataSource ordersDb = ordersDataSource;
    DataSource billingDb = billing.dataSource();

    // docs/scaling.md: begin
    // One process, two databases: each its own DataSource, JobQueue and Worker.
    JobQueue orderQueue = JobQueue.create(ordersDb);
    JobQueue billingQueue = JobQueue.create(billingDb);
    Worker ordersWorker = Worker.builder(orderQueue)
        .queue("default", 10)
        .handle(SHIP_ORDER, (order, ctx) -> ship(order))
        .build();
    Worker billingWorker = Worker.builder(billingQueue)
        .queue("default", 10)
        .handle(SEND_INVOICE, (invoice, ctx) -> send(invoice))
        .build();
    ordersWorker.start();
    billingWorker.start();
    // On shutdown, close both: ordersWorker.close(); billingWorker.close();
    // docs/scaling.md: end
    this.ordersWorker = ordersWorker;
    this.billingWorker = billingWorker;
  }

  void ship(Order order) {
    shipped.add(order.n());
  }

  void send(Invoice invoice) {
    invoiced.add(invoice.n());
  }

  @AfterEach
  void stop() {
    ordersWorker.close();
    billingWorker.close();
  }

  @Test
  void jobsOfBothDatabasesRunInOneProcessEachDeletedFromItsOwnDatabase() {
    JobQueue.create(orders.dataSource()).enqueueAll(SHIP_ORDER, IntStream.range(0, 50).mapToObj(Order::new).toList());
    JobQueue.create(billing.dataSource())
        .enqueueAll(SEND_INVOICE, IntStream.range(0, 50).mapToObj(Invoice::new).toList());

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(shipped).hasSize(50);
      assertThat(invoiced).hasSize(50);
      assertThat(orders.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
      assertThat(billing.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    });
    // Each database saw only its own worker and its own jobs' names.
    assertThat(orders.queryLong("SELECT count(*) FROM pgqueue.workers")).isEqualTo(1);
    assertThat(billing.queryLong("SELECT count(*) FROM pgqueue.workers")).isEqualTo(1);
  }

  @Test
  void oneDatabaseFailingDoesNotStopTheOthersJobsAndItsOwnRunWhenItIsBack() {
    // The orders database becomes unreachable from the worker: new connections are refused and
    // the open ones (its LISTEN connection among them) are cut.
    ordersDataSource.up = false;
    orders.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        + " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    // Written while the worker cannot reach the database (another process still can).
    JobQueue.create(orders.dataSource()).enqueueAll(SHIP_ORDER, IntStream.range(0, 5).mapToObj(Order::new).toList());

    JobQueue.create(billing.dataSource())
        .enqueueAll(SEND_INVOICE, IntStream.range(0, 50).mapToObj(Invoice::new).toList());
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(invoiced).hasSize(50);
      assertThat(billing.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    });
    assertThat(shipped).isEmpty();
    assertThat(orders.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(5);

    ordersDataSource.up = true;
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
      assertThat(shipped).containsExactlyInAnyOrder(0, 1, 2, 3, 4);
      assertThat(orders.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    });
  }

  @Test
  void theSnippetInTheScalingGuideIsThisTestsWiring() throws Exception {
    List<String> source = Files.readAllLines(
        Path.of("src/test/java/io/github/pgqueue/SeveralDatabasesTest.java"));
    int begin = source.indexOf("    // docs/scaling.md: begin");
    int end = source.indexOf("    // docs/scaling.md: end");
    String snippet = source.subList(begin + 1, end).stream()
        .map(l -> l.startsWith("    ") ? l.substring(4) : l).collect(Collectors.joining("\n"));
    String guide = Files.readString(Path.of("..", "docs", "scaling.md"));
    assertThat(begin).isPositive();
    assertThat(guide).contains("```java\n" + snippet + "\n```");
  }

  /** A data source that refuses connections while {@link #up} is false: a database gone away. */
  static final class Switchable implements DataSource {
    private final DataSource delegate;
    volatile boolean up = true;

    Switchable(DataSource delegate) {
      this.delegate = delegate;
    }

    @Override
    public Connection getConnection() throws SQLException {
      if (!up) {
        throw new SQLException("Connection refused (the orders database is down in this test)", "08001");
      }
      return delegate.getConnection();
    }

    @Override
    public Connection getConnection(String user, String password) throws SQLException {
      if (!up) {
        throw new SQLException("Connection refused (the orders database is down in this test)", "08001");
      }
      return delegate.getConnection(user, password);
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
      return delegate.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
      delegate.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
      delegate.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
      return delegate.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
      throw new SQLFeatureNotSupportedException();
    }

    @Override
    public <T> T unwrap(Class<T> type) throws SQLException {
      throw new SQLException("not a wrapper");
    }

    @Override
    public boolean isWrapperFor(Class<?> type) {
      return false;
    }
  }
}
