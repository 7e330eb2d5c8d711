package io.github.pgqueue;

import static io.github.pgqueue.Payloads.PLACE_ORDER;
import static io.github.pgqueue.Payloads.SEND_EMAIL;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.type.TypeReference;
import io.github.pgqueue.Payloads.Line;
import io.github.pgqueue.Payloads.Order;
import io.github.pgqueue.Payloads.SendEmail;
import io.github.pgqueue.testing.postgres.TestDatabase;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class EnqueueTest {

  JobQueue queue;
  TestDatabase db;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  @Test
  void enqueuedJobIsAvailableWithDefaults() {
    Instant before = Instant.now().minusSeconds(5);
    EnqueueResult r = queue.enqueue(SEND_EMAIL, new SendEmail("a@b.c", "hi"));

    assertThat(r.duplicate()).isFalse();
    JobInfo job = queue.find(r.id()).orElseThrow();
    assertThat(job.name()).isEqualTo("send_email");
    assertThat(job.queue()).isEqualTo("default");
    assertThat(job.state()).isEqualTo(JobState.AVAILABLE);
    assertThat(job.priority()).isZero();
    assertThat(job.attempt()).isZero();
    assertThat(job.maxAttempts()).isEqualTo(25);
    assertThat(job.runAt()).isAfter(before).isBefore(Instant.now().plusSeconds(5));
    assertThat(job.createdAt()).isEqualTo(job.runAt());
    assertThat(job.lockedAt()).isNull();
    assertThat(job.lockedBy()).isNull();
    assertThat(job.uniqueKey()).isNull();
    assertThat(job.concurrencyKey()).isNull();
    assertThat(job.context()).isEmpty();
    assertThat(job.errors()).isEmpty();
    assertThat(job.discardedAt()).isNull();
    assertThat(job.payload()).isEqualTo("{\"to\": \"a@b.c\", \"subject\": \"hi\"}");
  }

  @Test
  void optionsAreStored() {
    Instant at = Instant.parse("2030-01-02T03:04:05.123456Z");
    EnqueueOptions options =
        EnqueueOptions.builder()
            .runAt(at)
            .priority(-7)
            .queue("mail")
            .maxAttempts(3)
            .uniqueKey("order-42")
            .concurrencyKey("tenant-7")
            .context("signup request 9f2")
            .build();
    JobInfo job = queue.find(queue.enqueue(SEND_EMAIL, new SendEmail("x@y.z", "s"), options).id()).orElseThrow();

    assertThat(job.runAt()).isEqualTo(at);
    assertThat(job.priority()).isEqualTo(-7);
    assertThat(job.queue()).isEqualTo("mail");
    assertThat(job.maxAttempts()).isEqualTo(3);
    assertThat(job.uniqueKey()).isEqualTo("order-42");
    assertThat(job.concurrencyKey()).isEqualTo("tenant-7");
    assertThat(job.context()).isEqualTo("signup request 9f2");
  }

  @Test
  void delayIsMeasuredByTheDatabaseClock() {
    JobInfo job =
        queue
            .find(
                queue
                    .enqueue(SEND_EMAIL, new SendEmail("x@y.z", "s"),
                        EnqueueOptions.builder().delay(Duration.ofHours(2)).build())
                    .id())
            .orElseThrow();
    assertThat(Duration.between(job.createdAt(), job.runAt())).isEqualTo(Duration.ofHours(2));
  }

  @Test
  void typeDefaultsApplyAndCallOptionsWinFieldByField() {
    JobType<SendEmail> mail =
        SEND_EMAIL.withDefaults(EnqueueOptions.builder().queue("mail").priority(5).maxAttempts(4).build());
    JobInfo plain = queue.find(queue.enqueue(mail, new SendEmail("a", "b")).id()).orElseThrow();
    assertThat(plain.queue()).isEqualTo("mail");
    assertThat(plain.priority()).isEqualTo(5);
    assertThat(plain.maxAttempts()).isEqualTo(4);

    JobInfo overridden =
        queue
            .find(queue.enqueue(mail, new SendEmail("a", "b"), EnqueueOptions.builder().priority(9).build()).id())
            .orElseThrow();
    assertThat(overridden.queue()).isEqualTo("mail");
    assertThat(overridden.priority()).isEqualTo(9);
    assertThat(overridden.maxAttempts()).isEqualTo(4);
  }

  @Test
  void recordsJavaTimeAndGenericPayloadsRoundTrip() throws Exception {
    Order order =
        new Order(
            7,
            List.of(new Line("A-1", 2), new Line("B-2", 1)),
            Instant.parse("2026-11-28T10:15:30.5Z"),
            LocalDate.of(2026, 12, 24));
    JobId id = queue.enqueue(PLACE_ORDER, order).id();
    String json = queue.find(id).orElseThrow().payload();
    assertThat(json).contains("\"placedAt\": \"2026-11-28T10:15:30.500Z\"").contains("\"deliverOn\": \"2026-12-24\"");

    CheckedCodec codec = new CheckedCodec(JacksonCodec.create(), 1 << 20);
    assertThat(codec.decode(PLACE_ORDER, json)).isEqualTo(order);

    JobType<List<Line>> lines = JobType.of("lines", new TypeReference<List<Line>>() {});
    JobId linesId = queue.enqueue(lines, List.of(new Line("C-3", 4))).id();
    assertThat(codec.decode(lines, queue.find(linesId).orElseThrow().payload()))
        .containsExactly(new Line("C-3", 4));
  }

  @Test
  void decodingIgnoresUnknownPropertiesAndToleratesMissingOnes() throws Exception {
    CheckedCodec codec = new CheckedCodec(JacksonCodec.create(), 1 << 20);
    // A newer release added "cc"; an older one dropped "subject".
    assertThat(codec.decode(SEND_EMAIL, "{\"to\":\"a\",\"subject\":\"s\",\"cc\":\"b\"}"))
        .isEqualTo(new SendEmail("a", "s"));
    assertThat(codec.decode(SEND_EMAIL, "{\"to\":\"a\"}")).isEqualTo(new SendEmail("a", null));
  }

  @Test
  void countsPerQueueAndState() {
    queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"));
    queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"));
    queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().queue("mail").build());
    db.execute(
        "UPDATE pgqueue.jobs SET state = 'discarded', discarded_at = now() WHERE id = (SELECT min(id) FROM pgqueue.jobs)");

    assertThat(queue.counts())
        .containsExactly(
            new QueueCount("default", JobState.AVAILABLE, 1),
            new QueueCount("default", JobState.DISCARDED, 1),
            new QueueCount("mail", JobState.AVAILABLE, 1));
  }

  @Test
  void findOfAMissingJobIsEmpty() {
    assertThat(queue.find(new JobId(Long.MAX_VALUE))).isEmpty();
  }

  @Test
  void namesAndValuesWithSqlMetacharactersAreStoredVerbatim() {
    String name = "x'); DROP TABLE pgqueue.jobs; --";
    JobType<Map<String, String>> odd = JobType.of(name, new TypeReference<Map<String, String>>() {});
    JobId id =
        queue
            .enqueue(odd, Map.of("q", "' OR 1=1 --", "u", "żółw 🐢"),
                EnqueueOptions.builder().uniqueKey("k'\"\\").context("$$; SELECT 1;$$").build())
            .id();
    JobInfo job = queue.find(id).orElseThrow();
    assertThat(job.name()).isEqualTo(name);
    assertThat(job.uniqueKey()).isEqualTo("k'\"\\");
    assertThat(job.context()).isEqualTo("$$; SELECT 1;$$");
    assertThat(job.payload()).contains("' OR 1=1 --").contains("żółw 🐢");
    assertThat(db.queryLong("SELECT count(*) FROM pgqueue.jobs")).isEqualTo(1);
  }

  @Test
  void runAtInThePastIsKeptAsGiven() {
    Instant past = Instant.now().minus(3, ChronoUnit.DAYS).truncatedTo(ChronoUnit.MICROS);
    JobInfo job =
        queue.find(queue.enqueue(SEND_EMAIL, new SendEmail("a", "b"), EnqueueOptions.builder().runAt(past).build()).id())
            .orElseThrow();
    assertThat(job.runAt()).isEqualTo(past);
  }
}
