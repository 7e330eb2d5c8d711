package io.github.pgqueue;

import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.jsontype.BasicPolymorphicTypeValidator;
import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every bad input fails at once with a message naming the field and value, and writes nothing. */
@PgQueueTest
class BadInputTest {

  JobQueue queue;
  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.builder(db.dataSource()).maxPayloadBytes(1_000).build();
  }

  @AfterEach
  void nothingWasWritten() {
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isZero();
  }

  @Test
  void jobNames() {
    rejects(() -> JobType.of("", String.class), "job name", "\"\"");
    rejects(() -> JobType.of("   ", String.class), "job name", "\"   \"");
    rejects(() -> JobType.of(null, String.class), "job name", "null");
    rejects(() -> JobType.of("x".repeat(201), String.class), "job name", "xxxx");
    rejects(() -> JobType.of("tab\there", String.class), "control characters", "tab\\u0009here");
    rejects(() -> JobType.of(" padded", String.class), "whitespace", "\" padded\"");
  }

  @Test
  void queueNames() {
    for (String bad : new String[] {"", "has space", "semi;colon", "quote'", "ü", "q".repeat(101)}) {
      rejects(() -> EnqueueOptions.builder().queue(bad), "queue must be", bad.isEmpty() ? "\"\"" : bad.substring(0, 1));
    }
    rejects(() -> EnqueueOptions.builder().queue(null), "queue must be", "null");
  }

  @Test
  void optionRanges() {
    rejects(() -> EnqueueOptions.builder().priority(40_000), "priority", "40000");
    rejects(() -> EnqueueOptions.builder().priority(-40_000), "priority", "-40000");
    rejects(() -> EnqueueOptions.builder().maxAttempts(0), "maxAttempts", "0");
    rejects(() -> EnqueueOptions.builder().maxAttempts(1001), "maxAttempts", "1001");
    rejects(() -> EnqueueOptions.builder().delay(Duration.ofSeconds(-1)), "delay", "PT-1S");
    rejects(() -> EnqueueOptions.builder().uniqueKey(" "), "uniqueKey", "\" \"");
    rejects(() -> EnqueueOptions.builder().uniqueKey("k".repeat(501)), "uniqueKey", "kkk");
    rejects(() -> EnqueueOptions.builder().uniqueKey("a\0b"), "uniqueKey", "NUL");
    rejects(() -> EnqueueOptions.builder().context("c".repeat(1001)), "context", "1001");
    rejects(
        () -> new EnqueueOptions(null, null, null, java.time.Instant.now(), Duration.ZERO, null, null),
        "runAt and delay are exclusive", "delay=PT0S");
    rejects(
        () -> SEND_EMAIL.withDefaults(EnqueueOptions.builder().uniqueKey("k").build()),
        "may not set uniqueKey", "send_email");
  }

  @Test
  void payloads() throws Exception {
    rejects(() -> queue.enqueue(SEND_EMAIL, null), "payload must not be null", "send_email");
    rejects(
        () -> queue.enqueue(SEND_EMAIL, new SendEmail("a", "x".repeat(2_000))),
        "over the limit of 1000 (maxPayloadBytes)", "send_email");
    rejects(
        () -> queue.enqueue(SEND_EMAIL, new SendEmail("nul\0inside", "s")),
        "NUL character", "send_email");
    rejects(
        () -> queue.enqueue(JobType.of("unencodable", Unencodable.class), new Unencodable()),
        "cannot be encoded as JSON", "unencodable");
    // A bad item anywhere in a batch rejects the whole batch, naming its index.
    rejects(
        () ->
            queue.enqueueAll(
                SEND_EMAIL, Arrays.asList(new SendEmail("a", "b"), null)),
        "payloads[1] must not be null", "send_email");
    rejects(
        () ->
            queue.enqueueAll(
                List.of(NewJob.of(SEND_EMAIL, new SendEmail("a", "b")),
                    NewJob.of(SEND_EMAIL, new SendEmail("a", "x".repeat(5_000))))),
        "jobs[1]", "maxPayloadBytes");
    try (Connection c = db.dataSource().getConnection()) {
      rejects(() -> queue.enqueue(c, SEND_EMAIL, new SendEmail("nul\0", "s")), "NUL", "send_email");
    }
  }

  @Test
  void anEscapedBackslashBeforeU0000IsNotANul() {
    assertThat(CheckedCodec.hasEscapedNul("{\"a\":\"\\\\u0000\"}")).isFalse();
    assertThat(CheckedCodec.hasEscapedNul("{\"a\":\"\\\\\\u0000\"}")).isTrue();
  }

  @Test
  void builderSettings() {
    rejects(() -> JobQueue.builder(db.dataSource()).maxPayloadBytes(0), "maxPayloadBytes", "0");
    rejects(
        () -> JobQueue.builder(db.dataSource()).maxPayloadBytes(JobQueue.MAX_MAX_PAYLOAD_BYTES + 1),
        "maxPayloadBytes", Integer.toString(JobQueue.MAX_MAX_PAYLOAD_BYTES + 1));
    rejects(() -> JobQueue.builder(db.dataSource()).schema("x;drop"), "schema", "x;drop");
  }

  @Test
  void aMapperWithDefaultTypingIsRefused() {
    ObjectMapper typed =
        new ObjectMapper()
            .activateDefaultTyping(
                BasicPolymorphicTypeValidator.builder().allowIfBaseType(Object.class).build(),
                ObjectMapper.DefaultTyping.NON_FINAL);
    rejects(() -> JobQueue.builder(db.dataSource()).objectMapper(typed), "default typing", "objectMapper");
    ObjectMapper everything =
        new ObjectMapper()
            .activateDefaultTyping(
                BasicPolymorphicTypeValidator.builder().allowIfBaseType(Object.class).build(),
                ObjectMapper.DefaultTyping.JAVA_LANG_OBJECT);
    rejects(() -> JobQueue.builder(db.dataSource()).objectMapper(everything), "default typing", "objectMapper");
  }

  private static void rejects(ThrowingCallable call, String... messageParts) {
    assertThatThrownBy(call).isInstanceOf(IllegalArgumentException.class).message().contains(messageParts);
  }

  /** Jackson fails on this: the getter throws. */
  static final class Unencodable {
    public String getValue() {
      throw new IllegalStateException("no value");
    }
  }
}
