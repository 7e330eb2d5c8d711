package io.github.pgqueue;

import java.time.Instant;
import java.time.LocalDate;
import java.util.List;

/** Payload types shared by the tests. */
final class Payloads {
  private Payloads() {}

  record SendEmail(String to, String subject) {}

  record Order(long id, List<Line> lines, Instant placedAt, LocalDate deliverOn) {}

  record Line(String sku, int quantity) {}

  static final JobType<SendEmail> SEND_EMAIL = JobType.of("send_email", SendEmail.class);
  static final JobType<Order> PLACE_ORDER = JobType.of("place_order", Order.class);
}
