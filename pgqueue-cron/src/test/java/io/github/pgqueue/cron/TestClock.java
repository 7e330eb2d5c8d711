package io.github.pgqueue.cron;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicReference;

/** A clock that stands still until a test moves it. Thread-safe. */
final class TestClock implements InstantSource {

  private final AtomicReference<Instant> now;

  TestClock(Instant start) {
    this.now = new AtomicReference<>(start);
  }

  /** A clock starting at the real time, so that it agrees with the database's now(). */
  static TestClock atSystemTime() {
    return new TestClock(Instant.now());
  }

  @Override
  public Instant instant() {
    return now.get();
  }

  void set(Instant instant) {
    now.set(instant);
  }

  void advance(Duration d) {
    now.updateAndGet(t -> t.plus(d));
  }
}
