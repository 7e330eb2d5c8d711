package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.core.type.TypeReference;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A codec other than Jackson plugs in, and pgqueue's checks hold around whatever it does. */
@PgQueueTest
class PayloadCodecTest {

  record Point(int x, int y) {}

  static final JobType<Point> POINT = JobType.of("point", Point.class);

  /** A hand-written codec for one tiny record: no Jackson anywhere. */
  static class PointCodec implements PayloadCodec {
    private static final Pattern JSON = Pattern.compile("\\{\"x\": ?(-?\\d+), ?\"y\": ?(-?\\d+)\\}");

    @Override
    public <T> String encode(JobType<T> type, T payload) {
      Point p = (Point) payload;
      return "{\"x\":" + p.x() + ",\"y\":" + p.y() + "}";
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> T decode(JobType<T> type, String json) {
      Matcher m = JSON.matcher(json);
      if (!m.matches()) {
        throw new IllegalArgumentException("not a point: " + json);
      }
      return type.payloadType() == Point.class
          ? (T) new Point(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)))
          : null;
    }
  }

  /** A codec whose encode returns fixed text, for the checks pgqueue applies to any codec. */
  record FixedText(String text) implements PayloadCodec {
    @Override
    public <T> String encode(JobType<T> type, T payload) {
      return text;
    }

    @Override
    public <T> T decode(JobType<T> type, String json) {
      throw new UnsupportedOperationException();
    }
  }

  TestDatabase db;
  final List<Worker> workers = new ArrayList<>();
  final List<JobEvent> events = new CopyOnWriteArrayList<>();

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
  }

  @AfterEach
  void stop() {
    workers.forEach(Worker::close);
  }

  Worker start(PayloadCodec codec, JobHandler<Point> handler) {
    Worker w = Worker.builder(db.dataSource()).codec(codec).pollInterval(Duration.ofMillis(50))
        .backoff(Backoff.fixed(Duration.ZERO)).listener(events::add).handle(POINT, handler).build();
    workers.add(w);
    w.start();
    return w;
  }

  long jobs() {
    return db.queryLong("SELECT count(*) FROM pgqueue.jobs");
  }

  @Test
  void aHandWrittenCodecEncodesOnEveryEnqueuePathAndTheWorkerDecodesWithIt() throws Exception {
    JobQueue queue = JobQueue.builder(db.dataSource()).codec(new PointCodec()).build();
    assertThat(((CheckedCodec) queue.codec()).delegate()).isInstanceOf(PointCodec.class);
    JobId one = queue.enqueue(POINT, new Point(1, 2)).id();
    queue.enqueueAll(POINT, List.of(new Point(3, 4)));
    try (Connection c = db.dataSource().getConnection()) {
      queue.enqueue(c, POINT, new Point(5, 6));
    }
    assertThat(queue.find(one).orElseThrow().payload()).isEqualTo("{\"x\": 1, \"y\": 2}"); // jsonb's own text

    List<Point> seen = new CopyOnWriteArrayList<>();
    start(queue.codec(), (p, ctx) -> seen.add(p));
    await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 3);
    assertThat(seen).containsExactlyInAnyOrder(new Point(1, 2), new Point(3, 4), new Point(5, 6));
  }

  @Test
  void aCodecThatThrowsOrReturnsNullIsRefusedAtEnqueueWithNothingWritten() throws Exception {
    PayloadCodec throwing = new PayloadCodec() {
      @Override
      public <T> String encode(JobType<T> type, T payload) {
        throw new IllegalStateException("codec broke");
      }

      @Override
      public <T> T decode(JobType<T> type, String json) {
        throw new UnsupportedOperationException();
      }
    };
    for (PayloadCodec codec : List.of(throwing, new FixedText(null))) {
      JobQueue queue = JobQueue.builder(db.dataSource()).codec(codec).build();
      assertThatThrownBy(() -> queue.enqueue(POINT, new Point(1, 1)))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("job \"point\"");
      assertThatThrownBy(() -> queue.enqueueAll(POINT, List.of(new Point(1, 1))))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cannot be encoded");
      try (Connection c = db.dataSource().getConnection()) {
        assertThatThrownBy(() -> queue.enqueue(c, POINT, new Point(1, 1)))
            .isInstanceOf(IllegalArgumentException.class);
      }
    }
    assertThat(jobs()).isZero();
    JobQueue queue = JobQueue.builder(db.dataSource()).codec(throwing).build();
    assertThatThrownBy(() -> queue.enqueue(POINT, new Point(1, 1))).hasRootCauseMessage("codec broke");
    assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).codec(new FixedText(null)).build()
        .enqueue(POINT, new Point(1, 1))).hasMessageContaining("returned null");
  }

  @Test
  void sizeNulAndSurrogateChecksHoldAroundAnyCodec() {
    String big = "{\"s\":\"" + "é".repeat(600) + "\"}"; // 1,208 bytes of UTF-8, 608 characters
    assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).maxPayloadBytes(1_000)
        .codec(new FixedText(big)).build().enqueue(POINT, new Point(0, 0)))
        .hasMessageContaining("is 1208 bytes of JSON, over the limit of 1000");
    for (String text : List.of("{\"s\":\"a\0b\"}", "{\"s\":\"a\\u0000b\"}")) {
      assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).codec(new FixedText(text)).build()
          .enqueue(POINT, new Point(0, 0))).hasMessageContaining("NUL");
    }
    for (String text : List.of("{\"s\":\"a\ud800b\"}", "{\"s\":\"a\\udc00b\"}")) {
      assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).codec(new FixedText(text)).build()
          .enqueue(POINT, new Point(0, 0))).hasMessageContaining("unpaired UTF-16 surrogate");
    }
    // Not JSON at all: PostgreSQL refuses it, and nothing is written.
    assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).codec(new FixedText("not json")).build()
        .enqueue(POINT, new Point(0, 0))).isInstanceOf(PgQueueException.class)
        .hasMessageContaining("nothing was written");
    assertThat(jobs()).isZero();
    // A proper pair and a multi-byte text at the limit pass.
    String pair = "{\"s\":\"\ud83d\ude00" + "é".repeat(100) + "\"}";
    JobQueue fits = JobQueue.builder(db.dataSource()).maxPayloadBytes((int) CheckedCodec.utf8Length(pair))
        .codec(new FixedText(pair)).build();
    assertThat(fits.enqueue(POINT, new Point(0, 0)).id()).isNotNull();
  }

  @Test
  void aDecodeThatThrowsOrReturnsNullDiscardsTheJobAsUndecodable() {
    JobQueue queue = JobQueue.builder(db.dataSource()).codec(new PointCodec()).build();
    JobId bad = queue.enqueueAll(POINT, List.of(new Point(1, 1))).get(0).id();
    List<Point> ran = new CopyOnWriteArrayList<>();
    PayloadCodec decodesBadly = new PointCodec() {
      @Override
      public <T> T decode(JobType<T> type, String json) {
        if (json.contains("\"x\": 1,")) {
          throw new IllegalArgumentException("cannot read x=1");
        }
        if (json.contains("\"x\": 2,")) {
          return null;
        }
        return super.decode(type, json);
      }
    };
    JobId empty = queue.enqueue(POINT, new Point(2, 2)).id();
    JobId good = queue.enqueue(POINT, new Point(3, 3)).id();
    start(new CheckedCodec(decodesBadly, Integer.MAX_VALUE), (p, ctx) -> ran.add(p));
    await().atMost(Duration.ofSeconds(10)).until(() -> events.stream()
        .filter(e -> e.kind() == JobEvent.Kind.DISCARDED || e.kind() == JobEvent.Kind.SUCCEEDED).count() == 3);
    // Listeners hear of an outcome once it is handed to the completer, not once it is written.
    await().atMost(Duration.ofSeconds(10)).until(() -> queue.find(good).isEmpty()
        && queue.find(bad).map(JobInfo::state).orElse(null) == JobState.DISCARDED
        && queue.find(empty).map(JobInfo::state).orElse(null) == JobState.DISCARDED);
    assertThat(ran).containsExactly(new Point(3, 3));
    JobInfo b = queue.find(bad).orElseThrow();
    assertThat(b.state()).isEqualTo(JobState.DISCARDED);
    assertThat(b.attempt()).as("discarded at once, not retried").isEqualTo(1);
    assertThat(b.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.UNDECODABLE);
      assertThat(e.message()).contains("cannot read x=1");
    });
    JobInfo n = queue.find(empty).orElseThrow();
    assertThat(n.state()).isEqualTo(JobState.DISCARDED);
    assertThat(n.errors()).singleElement().satisfies(e -> {
      assertThat(e.kind()).isEqualTo(JobError.Kind.UNDECODABLE);
      assertThat(e.message()).contains("decoded the payload of job \"point\" to null");
    });
  }

  @Test
  void theDefaultCodecIsJacksonAndRefusesDefaultTyping() {
    assertThat(((CheckedCodec) JobQueue.create(db.dataSource()).codec()).delegate()).isInstanceOf(JacksonCodec.class);
    var mapper = JobQueue.defaultObjectMapper();
    mapper.activateDefaultTyping(mapper.getPolymorphicTypeValidator());
    assertThatThrownBy(() -> JacksonCodec.of(mapper)).hasMessageContaining("default typing");
    assertThatThrownBy(() -> JobQueue.builder(db.dataSource()).objectMapper(mapper))
        .hasMessageContaining("default typing");
  }

  @Test
  void theDefaultCodecKeepsAWriterPerGenericTypeNotPerClass() throws Exception {
    JacksonCodec codec = JacksonCodec.create();
    JobType<List<Point>> points = JobType.of("points", new TypeReference<List<Point>>() {});
    JobType<List<String>> words = JobType.of("words", new TypeReference<List<String>>() {});
    // Both are List: a writer kept per class would write the words with the points' element
    // serializer. Each type twice, interleaved, so the second encode of each uses the kept writer.
    for (int round = 0; round < 2; round++) {
      assertThat(codec.encode(points, List.of(new Point(1, 2)))).isEqualTo("[{\"x\":1,\"y\":2}]");
      assertThat(codec.encode(words, List.of("x", "y"))).isEqualTo("[\"x\",\"y\"]");
    }
    assertThat(codec.decode(words, "[\"x\",\"y\"]")).containsExactly("x", "y");
  }
}
