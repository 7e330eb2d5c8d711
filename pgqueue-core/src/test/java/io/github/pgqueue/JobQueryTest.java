package io.github.pgqueue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.pgqueue.testing.postgres.TestDatabase;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@PgQueueTest
class JobQueryTest {

  record Item(int n) {}

  static final JobType<Item> ITEM = JobType.of("item", Item.class);
  static final JobType<Item> OTHER = JobType.of("other", Item.class);

  TestDatabase db;
  JobQueue queue;

  @BeforeEach
  void setUp(TestDatabase db) {
    this.db = db;
    db.truncate();
    queue = JobQueue.create(db.dataSource());
  }

  /** Every page of {@code query}, following the cursors; fails if a page repeats a job. */
  private List<JobInfo> all(JobQuery query) {
    List<JobInfo> out = new ArrayList<>();
    JobQuery q = query;
    for (int pages = 0; ; pages++) {
      assertThat(pages).as("pages end").isLessThan(1_000);
      JobPage page = queue.jobs(q);
      assertThat(page.jobs().size()).isLessThanOrEqualTo(query.limit());
      out.addAll(page.jobs());
      if (!page.hasNext()) {
        assertThat(out).extracting(JobInfo::id).doesNotHaveDuplicates();
        return out;
      }
      assertThat(page.jobs()).as("a page with a next cursor is full").hasSize(query.limit());
      q = query.after(page.nextCursor());
    }
  }

  private static List<Long> ids(List<JobInfo> jobs) {
    return jobs.stream().map(j -> j.id().value()).toList();
  }

  private static List<Long> reversed(List<Long> ids) {
    List<Long> out = new ArrayList<>(ids);
    java.util.Collections.reverse(out);
    return out;
  }

  @Test
  void pagesThroughDiscardedJobsByDiscardTimeThenIdWithTies() {
    queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2), new Item(3), new Item(4), new Item(5), new Item(6), new Item(7)),
        EnqueueOptions.builder().maxAttempts(1).build());
    Worker.builder(db.dataSource()).handle(ITEM, (i, c) -> { throw new IllegalStateException("x"); }).build().drain(100);
    // Ties on discarded_at (three jobs at one instant) must be ordered by id across page breaks;
    // the discard time runs against the id order so the two keys are told apart.
    db.execute("UPDATE pgqueue.jobs SET discarded_at = '2026-01-01T00:00:00Z'::timestamptz - id * interval '1 second'"
        + " WHERE id % 3 <> 0");
    db.execute("UPDATE pgqueue.jobs SET discarded_at = '2025-12-31T12:00:00Z' WHERE id % 3 = 0 OR id = (SELECT min(id) FROM pgqueue.jobs)");
    List<JobInfo> expected = queue.jobs(JobQuery.builder().state(JobState.DISCARDED).limit(1000).build()).jobs();
    assertThat(expected).hasSize(7);
    Comparator<JobInfo> newestFirst = Comparator.comparing(JobInfo::discardedAt).thenComparing(j -> j.id().value()).reversed();
    assertThat(expected).isSortedAccordingTo(newestFirst);

    for (int limit = 1; limit <= 8; limit++) {
      JobQuery q = JobQuery.builder().state(JobState.DISCARDED).limit(limit).build();
      assertThat(ids(all(q))).as("newest first, page size %d", limit).isEqualTo(ids(expected));
      List<JobInfo> oldest = all(JobQuery.builder().state(JobState.DISCARDED).order(JobQuery.Order.OLDEST_FIRST).limit(limit).build());
      assertThat(ids(oldest)).as("oldest first, page size %d", limit).isEqualTo(reversed(ids(expected)));
    }
  }

  @Test
  void availableAndAnyStateArePagedInEnqueueOrder() {
    List<EnqueueResult> r = queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2), new Item(3), new Item(4), new Item(5)));
    queue.cancel(r.get(1).id(), "no");
    List<Long> available = List.of(r.get(0).id().value(), r.get(2).id().value(), r.get(3).id().value(), r.get(4).id().value());

    assertThat(ids(all(JobQuery.builder().state(JobState.AVAILABLE).order(JobQuery.Order.OLDEST_FIRST).limit(2).build())))
        .isEqualTo(available);
    assertThat(ids(all(JobQuery.builder().state(JobState.AVAILABLE).limit(3).build()))).isEqualTo(reversed(available));
    assertThat(ids(all(JobQuery.builder().limit(2).build()))).as("any state")
        .isEqualTo(reversed(r.stream().map(e -> e.id().value()).toList()));
  }

  @Test
  void aFullLastPageHasNoNextCursor() {
    queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2)));
    JobPage page = queue.jobs(JobQuery.builder().limit(2).build());
    assertThat(page.jobs()).hasSize(2);
    assertThat(page.hasNext()).isFalse();
    assertThat(page.nextCursor()).isNull();
    assertThat(queue.jobs(JobQuery.builder().limit(1).build()).hasNext()).isTrue();
  }

  @Test
  void filtersByQueueNameKeyAndState() {
    JobId a = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().queue("mail").uniqueKey("u1").build()).id();
    JobId b = queue.enqueue(ITEM, new Item(2), EnqueueOptions.builder().queue("mail").build()).id();
    JobId c = queue.enqueue(OTHER, new Item(3), EnqueueOptions.builder().queue("mail").uniqueKey("u1").build()).id();
    JobId d = queue.enqueue(ITEM, new Item(4)).id();
    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1, locked_at = now() WHERE id = " + d.value());

    assertThat(ids(all(JobQuery.builder().queue("mail").build()))).containsExactly(c.value(), b.value(), a.value());
    assertThat(ids(all(JobQuery.builder().name("item").build()))).containsExactly(d.value(), b.value(), a.value());
    assertThat(ids(all(JobQuery.builder().uniqueKey("u1").build()))).containsExactly(c.value(), a.value());
    assertThat(ids(all(JobQuery.builder().state(JobState.AVAILABLE).name("item").uniqueKey("u1").build())))
        .containsExactly(a.value());
    assertThat(ids(all(JobQuery.builder().state(JobState.RUNNING).build()))).containsExactly(d.value());
    assertThat(ids(all(JobQuery.builder().state(JobState.RUNNING).queue("mail").build()))).isEmpty();
    assertThat(ids(all(JobQuery.builder().state(JobState.DISCARDED).build()))).isEmpty();
    JobInfo found = queue.jobs(JobQuery.builder().name("other").build()).jobs().get(0);
    assertThat(found).isEqualTo(queue.find(c).orElseThrow());
  }

  @Test
  void theTimeRangeAppliesToTheStatesOwnColumn() {
    JobId soon = queue.enqueue(ITEM, new Item(1), EnqueueOptions.builder().delay(Duration.ofMinutes(1)).build()).id();
    JobId later = queue.enqueue(ITEM, new Item(2), EnqueueOptions.builder().delay(Duration.ofHours(2)).build()).id();
    Instant inOneHour = Instant.now().plus(Duration.ofHours(1));
    assertThat(ids(all(JobQuery.builder().state(JobState.AVAILABLE).from(inOneHour).build()))).as("run_at")
        .containsExactly(later.value());
    assertThat(ids(all(JobQuery.builder().state(JobState.AVAILABLE).to(inOneHour).build()))).containsExactly(soon.value());
    assertThat(ids(all(JobQuery.builder().from(inOneHour).build()))).as("created_at, for any state").isEmpty();

    db.execute("UPDATE pgqueue.jobs SET state = 'running', attempt = 1, locked_by = 1,"
        + " locked_at = now() - interval '3 hours' WHERE id = " + soon.value());
    db.execute("UPDATE pgqueue.jobs SET state = 'discarded', discarded_at = now() - interval '3 hours' WHERE id = " + later.value());
    Instant twoHoursAgo = Instant.now().minus(Duration.ofHours(2));
    assertThat(ids(all(JobQuery.builder().state(JobState.RUNNING).to(twoHoursAgo).build()))).as("locked_at")
        .containsExactly(soon.value());
    assertThat(ids(all(JobQuery.builder().state(JobState.RUNNING).from(twoHoursAgo).build()))).isEmpty();
    assertThat(ids(all(JobQuery.builder().state(JobState.DISCARDED).to(twoHoursAgo).build()))).as("discarded_at")
        .containsExactly(later.value());
    assertThat(ids(all(JobQuery.builder().state(JobState.DISCARDED).from(twoHoursAgo).build()))).isEmpty();
  }

  @Test
  void readsInTheCallersTransaction() throws Exception {
    try (Connection c = db.dataSource().getConnection()) {
      c.setAutoCommit(false);
      JobId id = queue.enqueue(c, ITEM, new Item(1)).id();
      assertThat(queue.jobs(c, JobQuery.builder().name("item").build()).jobs()).extracting(JobInfo::id).containsExactly(id);
      assertThat(queue.jobs(JobQuery.builder().name("item").build()).jobs()).as("not committed").isEmpty();
      c.rollback();
    }
  }

  @Test
  void refusesBadSettingsAndForeignCursors() {
    assertThatThrownBy(() -> JobQuery.builder().limit(0)).hasMessageContaining("limit must be between 1 and 1000, got: 0");
    assertThatThrownBy(() -> JobQuery.builder().limit(1001)).hasMessageContaining("1001");
    assertThatThrownBy(() -> JobQuery.builder().queue("bad queue")).hasMessageContaining("queue");
    assertThatThrownBy(() -> JobQuery.builder().uniqueKey("")).hasMessageContaining("uniqueKey");
    Instant t = Instant.now();
    assertThatThrownBy(() -> JobQuery.builder().from(t).to(t).build()).hasMessageContaining("from must be before to");

    queue.enqueueAll(ITEM, List.of(new Item(1), new Item(2)));
    String cursor = queue.jobs(JobQuery.builder().limit(1).build()).nextCursor();
    assertThat(cursor).isNotNull();
    assertThatThrownBy(() -> JobQuery.builder().state(JobState.DISCARDED).build().after(cursor))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("made by a query with state null");
    assertThatThrownBy(() -> JobQuery.builder().order(JobQuery.Order.OLDEST_FIRST).build().after(cursor))
        .hasMessageContaining("order NEWEST_FIRST");
    assertThatThrownBy(() -> JobQuery.builder().build().after("not-a-cursor!"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is not a cursor");
    assertThat(queue.jobs(JobQuery.builder().build().after(null)).jobs()).hasSize(2);
  }
}
