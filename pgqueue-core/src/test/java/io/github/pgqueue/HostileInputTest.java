package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.fasterxml.jackson.core.type.TypeReference;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.math.BigInteger;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Hostile and malformed input, from the enqueuing side and straight from the database (a payload
 * written by another program, a tampered row): nothing in a payload can name a class to
 * instantiate, decoding is bounded, text that PostgreSQL cannot store faithfully is refused
 * before it is silently altered, and names with SQL metacharacters are only ever data. The cron
 * expression fuzzing lives with the parser: {@code pgqueue-cron}'s {@code
 * CronExpressionPropertiesTest} (seeded random expressions, each parses or fails with a clear
 * message within a time bound).
 */
@PgQueueTest
class HostileInputTest {

  /** Counts its instances: if a payload could make Jackson instantiate it, the count would show. */
  public static final class Canary {
    static final AtomicInteger CREATED = new AtomicInteger();

    public String value;

    public Canary() {
      CREATED.incrementAndGet();
    }
  }

  record Plain(String to, int n) {}

  record Holder(Object value) {}

  record Big(BigInteger value) {}

  static final JobType<Object> ANYTHING = JobType.of("hostile_object", Object.class);
  static final JobType<Map<String, Object>> A_MAP = JobType.of("hostile_map", new TypeReference<>() {});
  static final JobType<Plain> PLAIN = JobType.of("hostile_plain", Plain.class);
  static final JobType<Holder> HOLDER = JobType.of("hostile_holder", Holder.class);
  static final JobType<Big> BIG = JobType.of("hostile_big", Big.class);
  static final JobType<List<Object>> NESTED = JobType.of("hostile_nested", new TypeReference<>() {});

  TestDatabase db;
  JobQueue queue;
  final List<Object> received = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
    received.clear();
    Canary.CREATED.set(0);
  }

  Worker worker() {
    return Worker.builder(db.dataSource())
        .handle(ANYTHING, (p, ctx) -> received.add(p))
        .handle(A_MAP, (p, ctx) -> received.add(p))
        .handle(PLAIN, (p, ctx) -> received.add(p))
        .handle(HOLDER, (p, ctx) -> received.add(p))
        .handle(BIG, (p, ctx) -> received.add(p))
        .handle(NESTED, (p, ctx) -> received.add(p))
        .build();
  }

  /** Writes a job row directly, as another program (or an attacker with INSERT) could. */
  long insertRaw(String name, String payloadJson) {
    try (Connection c = db.dataSource().getConnection();
        PreparedStatement ps = c.prepareStatement(
            "INSERT INTO pgqueue.jobs (name, payload) VALUES (?, ?::jsonb) RETURNING id")) {
      ps.setString(1, name);
      ps.setString(2, payloadJson);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  // ---- polymorphic type hints ----------------------------------------------------------------

  @Test
  void typeHintsInPayloadsAreNeverInstantiated() {
    String canary = Canary.class.getName();
    String[] hostile = {
      "{\"@class\": \"" + canary + "\", \"value\": \"x\"}",
      "{\"@type\": \"" + canary + "\", \"value\": \"x\"}",
      "{\"@c\": \".HostileInputTest$Canary\", \"value\": \"x\"}",
      "[\"" + canary + "\", {\"value\": \"x\"}]",
      "{\"" + canary + "\": {\"value\": \"x\"}}",
      "[\"java.util.ArrayList\", [[\"" + canary + "\", {\"value\": \"x\"}]]]",
      "{\"@class\": \"java.lang.ProcessBuilder\", \"command\": [\"touch\", \"/tmp/pgqueue-pwned\"]}",
    };
    List<Long> ids = new ArrayList<>();
    for (String json : hostile) {
      ids.add(insertRaw(ANYTHING.name(), json));
      ids.add(insertRaw(A_MAP.name(), json));
      ids.add(insertRaw(PLAIN.name(), json));
      ids.add(insertRaw(HOLDER.name(), "{\"value\": " + json + "}"));
    }
    List<JobEvent> events = worker().drain(1_000);

    assertThat(events).hasSize(ids.size());
    assertThat(Canary.CREATED).as("no payload instantiated a class it named").hasValue(0);
    assertThat(new java.io.File("/tmp/pgqueue-pwned")).doesNotExist();
    for (Object p : received) {
      assertThat(p).isInstanceOfAny(Map.class, List.class, Plain.class, Holder.class);
      if (p instanceof Holder h) {
        assertThat(h.value()).as("an Object field decodes to plain JSON values").isInstanceOfAny(Map.class, List.class);
      }
    }
    // Array-shaped payloads cannot become a map or a record: those jobs are discarded as
    // undecodable, with the decoding error, and never reach a handler.
    assertThat(events).allMatch(e -> e.kind() == JobEvent.Kind.SUCCEEDED || e.kind() == JobEvent.Kind.DISCARDED);
    for (JobEvent e : events) {
      if (e.kind() == JobEvent.Kind.DISCARDED) {
        JobInfo job = queue.find(e.id()).orElseThrow();
        assertThat(job.errors()).singleElement().satisfies(err -> assertThat(err.kind()).isEqualTo(JobError.Kind.UNDECODABLE));
      }
    }
    assertThat(events.stream().filter(e -> e.kind() == JobEvent.Kind.DISCARDED).count())
        .as("the two array-shaped payloads, for a map and for a record").isEqualTo(4);
  }

  // ---- size and depth ------------------------------------------------------------------------

  @Test
  void deeplyNestedPayloadsAreRefusedAtEnqueueAndBoundedAtTheWorker() {
    // Enqueue: a payload nested past the codec's depth limit is refused before anything is written.
    List<Object> deep = new ArrayList<>();
    List<Object> cur = deep;
    for (int i = 0; i < JacksonCodec.MAX_NESTING_DEPTH + 10; i++) {
      List<Object> next = new ArrayList<>();
      cur.add(next);
      cur = next;
    }
    assertThatThrownBy(() -> queue.enqueue(NESTED, deep))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cannot be encoded as JSON")
        .hasMessageContaining("nesting depth");
    // A cycle is infinitely deep: refused the same way, never a StackOverflowError.
    List<Object> cycle = new ArrayList<>();
    List<Object> inner = new ArrayList<>();
    cycle.add(inner);
    inner.add(cycle);
    assertThatThrownBy(() -> queue.enqueue(NESTED, cycle)).isInstanceOf(IllegalArgumentException.class);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();

    // Worker: a deeper payload written straight into the table (jsonb itself accepts it) is
    // discarded as undecodable, quickly, without hurting the worker.
    int depth = 5_000;
    long id = insertRaw(NESTED.name(), "[".repeat(depth) + "]".repeat(depth));
    long fine = insertRaw(NESTED.name(), "[".repeat(50) + "]".repeat(50));
    List<JobEvent> events = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> worker().drain(10));
    assertThat(events).extracting(JobEvent::kind)
        .containsExactlyInAnyOrder(JobEvent.Kind.DISCARDED, JobEvent.Kind.SUCCEEDED);
    JobInfo job = queue.find(new JobId(id)).orElseThrow();
    assertThat(job.state()).isEqualTo(JobState.DISCARDED);
    assertThat(job.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.UNDECODABLE);
      assertThat(e.message()).contains("nesting depth");
    });
    assertThat(queue.find(new JobId(fine))).isEmpty();
  }

  @Test
  void hugeNumbersAndLongTokensAreBoundedAtTheWorker() {
    // jsonb refuses 1e999999999 outright; 1e100000 it stores as 100,001 digits, which the
    // worker's read constraints refuse (numbers of at most 1,000 characters) before any BigInteger is built.
    assertThatThrownBy(() -> insertRaw(BIG.name(), "{\"value\": 1e999999999}")).hasRootCauseInstanceOf(SQLException.class);
    long exponent = insertRaw(BIG.name(), "{\"value\": 1e100000}");
    long digits = insertRaw(BIG.name(), "{\"value\": " + "9".repeat(5_000) + "}");
    long ok = insertRaw(BIG.name(), "{\"value\": 123456789012345678901234567890}");
    List<JobEvent> events = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> worker().drain(10));
    assertThat(events).hasSize(3);
    for (long id : new long[] {exponent, digits}) {
      JobInfo job = queue.find(new JobId(id)).orElseThrow();
      assertThat(job.state()).isEqualTo(JobState.DISCARDED);
      assertThat(job.errors()).singleElement().satisfies(e -> assertThat(e.kind()).isEqualTo(JobError.Kind.UNDECODABLE));
    }
    assertThat(queue.find(new JobId(ok))).isEmpty();
    assertThat(received).containsExactly(new Big(new BigInteger("123456789012345678901234567890")));
  }

  @Test
  void hugePayloadsAreRefusedAtTheLimitOnEveryEnqueuePath() throws Exception {
    JobQueue small = JobQueue.builder(db.dataSource()).maxPayloadBytes(10_000).build();
    Plain huge = new Plain("x".repeat(20_000), 1);
    assertThatThrownBy(() -> small.enqueue(PLAIN, huge)).hasMessageContaining("over the limit of 10000");
    assertThatThrownBy(() -> small.enqueueAll(PLAIN, List.of(new Plain("a", 1), huge))).hasMessageContaining("over the limit");
    try (Connection c = db.dataSource().getConnection()) {
      assertThatThrownBy(() -> small.enqueue(c, PLAIN, huge)).hasMessageContaining("over the limit");
    }
    // Exactly at the limit is accepted: the bound is on bytes of UTF-8 JSON, multi-byte characters included.
    String json = JacksonCodec.defaultMapper().writeValueAsString(new Plain("", 1));
    int room = 10_000 - json.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    assertThat(small.enqueue(PLAIN, new Plain("é".repeat(room / 2), 1)).id()).isNotNull();
    assertThatThrownBy(() -> small.enqueue(PLAIN, new Plain("é".repeat(room / 2 + 1), 1))).hasMessageContaining("over the limit");
  }

  @Test
  void aPayloadAtTheLargestConfigurableLimitStillDecodes() throws Exception {
    // Jackson's default read limit for one string is 20M characters, below the largest payload
    // JobQueue accepts: such a job would be enqueued and then discarded as undecodable. The
    // default mapper pins its limits to the payload limit instead.
    CheckedCodec codec = new CheckedCodec(JacksonCodec.create(), JobQueue.MAX_MAX_PAYLOAD_BYTES);
    Plain big = new Plain("x".repeat(25_000_000), 7);
    String json = codec.encode(PLAIN, big);
    assertThat(codec.decode(PLAIN, json)).isEqualTo(big);
  }

  // ---- text PostgreSQL cannot store faithfully ----------------------------------------------

  @Test
  void nulCharactersAreRefusedWhereverTheyCouldBeStored() {
    assertThatThrownBy(() -> queue.enqueue(PLAIN, new Plain("a\0b", 1))).hasMessageContaining("NUL");
    assertThatThrownBy(() -> EnqueueOptions.builder().uniqueKey("k\0")).hasMessageContaining("NUL");
    assertThatThrownBy(() -> EnqueueOptions.builder().context("c\0")).hasMessageContaining("NUL");
    assertThatThrownBy(() -> JobType.of("name\0", Plain.class)).hasMessageContaining("control characters");
    assertThatThrownBy(() -> EnqueueOptions.builder().queue("q\0")).hasMessageContaining("queue must be");
    JobId id = queue.enqueue(PLAIN, new Plain("a", 1)).id();
    assertThatThrownBy(() -> queue.cancel(id, "why\0")).hasMessageContaining("NUL");
    assertThatThrownBy(() -> queue.retryDiscarded(PLAIN.name(), "err\0")).hasMessageContaining("NUL");
    // The database refuses it too, for a row written by another program.
    assertThatThrownBy(() -> insertRaw(PLAIN.name(), "{\"to\": \"a\\u0000b\"}"))
        .hasRootCauseInstanceOf(SQLException.class).rootCause().hasMessageContaining("\\u0000");
  }

  @Test
  void loneSurrogatesAreRefusedInsteadOfSilentlyBecomingQuestionMarks() {
    // Java strings may hold a lone surrogate; it has no UTF-8 form. The JDBC driver would send
    // '?' in its place, so two different keys would collide: refuse it instead.
    assertThatThrownBy(() -> EnqueueOptions.builder().uniqueKey("order-\uD800")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("surrogate");
    assertThatThrownBy(() -> EnqueueOptions.builder().context("ctx \uDC00")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("surrogate");
    assertThatThrownBy(() -> JobType.of("job-\uD83D", Plain.class)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("surrogate");
    assertThatThrownBy(() -> queue.enqueue(PLAIN, new Plain("to \uD800", 1))).isInstanceOf(IllegalArgumentException.class);
    JobId id = queue.enqueue(PLAIN, new Plain("a", 1)).id();
    assertThatThrownBy(() -> queue.cancel(id, "why \uDFFF")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("surrogate");
    // A proper pair (an emoji) is fine everywhere, and round-trips.
    String emoji = "\uD83D\uDE00";
    JobType<Plain> type = JobType.of("emoji " + emoji, Plain.class);
    JobId ok = queue.enqueue(type, new Plain(emoji, 2), EnqueueOptions.builder().uniqueKey(emoji).context(emoji).build()).id();
    JobInfo job = queue.find(ok).orElseThrow();
    assertThat(job.name()).isEqualTo("emoji " + emoji);
    assertThat(job.uniqueKey()).isEqualTo(emoji);
    assertThat(job.context()).isEqualTo(emoji);
    assertThat(job.payload()).contains(emoji);
    // And the database refuses a lone surrogate escape or invalid UTF-8 written by another program.
    assertThatThrownBy(() -> insertRaw(PLAIN.name(), "{\"to\": \"\\ud800\"}")).hasRootCauseInstanceOf(SQLException.class);
    assertThatThrownBy(() -> db.execute(
        "INSERT INTO pgqueue.jobs (name, payload) VALUES (convert_from('\\xc328'::bytea, 'UTF8'), '{}')"))
        .hasRootCauseInstanceOf(SQLException.class).rootCause().hasMessageContaining("invalid byte sequence");
  }

  // ---- SQL metacharacters -------------------------------------------------------------------

  @Test
  void namesWithSqlMetacharactersAreOnlyData() {
    String[] names = {
      "x'); DROP TABLE pgqueue.jobs; --",
      "\"; DELETE FROM pgqueue.workers; --",
      "$$; SELECT pg_sleep(10); $$",
      "a\\'b",
      "100% _done_",
      "send_email' OR '1'='1",
    };
    List<EnqueueResult> results = new ArrayList<>();
    Worker.Builder b = Worker.builder(db.dataSource());
    List<String> ran = new CopyOnWriteArrayList<>();
    for (String name : names) {
      JobType<Plain> type = JobType.of(name, Plain.class);
      results.add(queue.enqueue(type, new Plain(name, 1), EnqueueOptions.builder().uniqueKey(name).context(name).build()));
      b.handle(type, (p, ctx) -> ran.add(ctx.name()));
    }
    for (int i = 0; i < names.length; i++) {
      JobInfo job = queue.find(results.get(i).id()).orElseThrow();
      assertThat(job.name()).isEqualTo(names[i]);
      assertThat(job.uniqueKey()).isEqualTo(names[i]);
    }
    // A quote in a name does not widen a query: only the exact name matches.
    assertThat(queue.discardedJobs("send_email' OR '1'='1", 10)).isEmpty();
    assertThat(b.build().drain(100)).hasSize(names.length);
    assertThat(ran).containsExactlyInAnyOrder(names);
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
    assertThat(db.queryLong("SELECT count(*) FROM pg_tables WHERE schemaname = 'pgqueue' AND tablename = 'jobs'")).isEqualTo(1);

    // Queue names are restricted to a safe alphabet.
    for (String q : new String[] {"default'--", "q; DROP", "q\"", "q$1", "q/*", "q\\"}) {
      assertThatThrownBy(() -> EnqueueOptions.builder().queue(q)).hasMessageContaining("queue must be");
      assertThatThrownBy(() -> Worker.builder(db.dataSource()).queue(q, 1)).hasMessageContaining("queue must be");
    }
  }

  @Test
  void retryDiscardedMatchesErrorTextLiterallyNotAsAPattern() {
    JobId a = queue.enqueue(PLAIN, new Plain("a", 1), EnqueueOptions.builder().maxAttempts(1).build()).id();
    JobId b = queue.enqueue(PLAIN, new Plain("b", 2), EnqueueOptions.builder().maxAttempts(1).build()).id();
    Worker w = Worker.builder(db.dataSource())
        .handle(PLAIN, (p, ctx) -> { throw new IllegalStateException(p.n() == 1 ? "100% broken" : "plain failure"); })
        .build();
    assertThat(w.drain(10)).hasSize(2);
    assertThat(queue.retryDiscarded(PLAIN.name(), "%").retried()).as("only the error that contains a literal %").isEqualTo(1);
    assertThat(queue.find(a).orElseThrow().state()).isEqualTo(JobState.AVAILABLE);
    assertThat(queue.find(b).orElseThrow().state()).isEqualTo(JobState.DISCARDED);
    assertThat(queue.retryDiscarded(PLAIN.name(), "' OR '1'='1").retried()).isZero();
    assertThat(queue.retryDiscarded(PLAIN.name(), "_lain").retried()).isZero();
  }

  // ---- schema names ---------------------------------------------------------------------------

  @Test
  void schemaNamesThatTryInjectionAreRejectedAsIdentifiers() {
    String[] bad = {
      "pgqueue; DROP TABLE pgqueue.jobs", "pgqueue\"--", "public.jobs", "x y", "PgQueue", "pg_catalog",
      "pg_temp", "1abc", "", "a".repeat(49), "sch\u0435ma" /* Cyrillic e */, "x'", "x--", "x/*", "\u0000",
    };
    for (String s : bad) {
      assertThatThrownBy(() -> Migrator.create(db.dataSource(), s)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("schema must be a lowercase SQL identifier");
      assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).schema(s)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> Migrator.script(s)).isInstanceOf(IllegalArgumentException.class);
    }
    assertThatThrownBy(() -> Migrator.create(db.dataSource(), null)).isInstanceOf(IllegalArgumentException.class);
    // Nothing was created by any of them.
    assertThat(db.queryLong("SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
        + " AND nspname NOT IN ('public', 'information_schema', 'pgqueue')")).isZero();
  }
}
