package com.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.github.pgqueue.EnqueueResult;
import io.github.pgqueue.JobInfo;
import io.github.pgqueue.JobQueue;
import io.github.pgqueue.JobState;
import io.github.pgqueue.JobType;
import io.github.pgqueue.testing.PgQueueTest;
import io.github.pgqueue.testing.postgres.TestDatabase;
import org.junit.jupiter.api.Test;

@PgQueueTest
class ConsumerTest {

  record Greeting(String to) {}

  static final JobType<Greeting> GREET = JobType.of("greet", Greeting.class);

  @Test
  void enqueueAndReadBack(TestDatabase db) {
    JobQueue queue = JobQueue.create(db.dataSource());
    EnqueueResult result = queue.enqueue(GREET, new Greeting("world"));
    assertFalse(result.duplicate());
    JobInfo job = queue.find(result.id()).orElseThrow();
    assertEquals("greet", job.name());
    assertEquals(JobState.AVAILABLE, job.state());
    assertEquals("{\"to\": \"world\"}", job.payload());
  }
}
