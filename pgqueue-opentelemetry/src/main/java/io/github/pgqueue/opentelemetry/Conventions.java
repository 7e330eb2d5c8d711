package io.github.pgqueue.opentelemetry;

import io.opentelemetry.api.common.AttributeKey;

/**
 * The attribute keys and values used on pgqueue's spans (the OpenTelemetry messaging semantic
 * conventions, plus a few of pgqueue's own under {@code pgqueue.}). Listed in
 * docs/observability.md; kept here as constants so that this module needs no semconv artifact.
 */
final class Conventions {

  static final String SYSTEM = "pgqueue";

  static final AttributeKey<String> MESSAGING_SYSTEM = AttributeKey.stringKey("messaging.system");
  static final AttributeKey<String> OPERATION_TYPE = AttributeKey.stringKey("messaging.operation.type");
  static final AttributeKey<String> OPERATION_NAME = AttributeKey.stringKey("messaging.operation.name");
  static final AttributeKey<String> DESTINATION = AttributeKey.stringKey("messaging.destination.name");
  static final AttributeKey<String> MESSAGE_ID = AttributeKey.stringKey("messaging.message.id");
  static final AttributeKey<Long> BATCH_COUNT = AttributeKey.longKey("messaging.batch.message_count");
  static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");

  static final AttributeKey<String> JOB_NAME = AttributeKey.stringKey("pgqueue.job.name");
  static final AttributeKey<Long> JOB_ATTEMPT = AttributeKey.longKey("pgqueue.job.attempt");
  static final AttributeKey<Long> JOB_MAX_ATTEMPTS = AttributeKey.longKey("pgqueue.job.max_attempts");
  /** On a producer span whose write succeeded: jobs of the call that duplicated a waiting job. */
  static final AttributeKey<Long> DUPLICATES = AttributeKey.longKey("pgqueue.enqueue.duplicates");

  /** The operation type of the producer span ("send": messages handed to an intermediary). */
  static final String SEND = "send";
  /** The operation type and name of the consumer span. */
  static final String PROCESS = "process";
  /** The operation name of the producer span. */
  static final String ENQUEUE = "enqueue";

  private Conventions() {}
}
