package io.github.pgqueue;

/**
 * Turns payloads into JSON text for the {@code jsonb} column and back into a {@link JobType}'s
 * Java type. The default is {@link JacksonCodec} (Jackson 2); plug in another (a Jackson 3 mapper,
 * a hand-written codec for a few records) with {@link JobQueue.Builder#codec}.
 *
 * <p>What pgqueue guarantees around any codec:
 *
 * <ul>
 *   <li>At enqueue, the text {@link #encode} returns is checked before anything is written: over
 *       the queue's {@link JobQueue.Builder#maxPayloadBytes} (counted in bytes of UTF-8), holding
 *       a NUL character (raw or escaped) or an unpaired UTF-16 surrogate (raw or escaped), it is
 *       refused with an {@link IllegalArgumentException} naming the job. A codec that throws or
 *       returns null is refused the same way, with its exception as the cause. Text that is not
 *       JSON at all is refused by PostgreSQL, and the enqueue fails with a {@link
 *       PgQueueException}, nothing written.
 *   <li>At decode, a codec that throws an exception or returns null makes the job undecodable: it
 *       is discarded at once (retrying cannot help), with the codec's exception recorded. An
 *       {@link Error} thrown while decoding fails the attempt and the job is retried, because it
 *       may be the deployment's fault rather than the payload's.
 * </ul>
 *
 * <p>The codec never chooses which class to instantiate from the payload: the {@link JobType}
 * says. Implementations must be thread-safe (enqueue and every worker slot call them
 * concurrently) and must not touch the database. The producer and the worker must use compatible
 * codecs: the worker decodes what the producer encoded.
 */
public interface PayloadCodec {

  /**
   * Encodes one payload.
   *
   * @param type the job type being enqueued; {@link JobType#payloadType()} is the declared type
   * @param payload the payload, never null
   * @param <T> the payload type
   * @return the payload as JSON text (what PostgreSQL's {@code jsonb} accepts), not null
   * @throws Exception if the payload cannot be encoded; the enqueue then fails with an {@link
   *     IllegalArgumentException} and nothing is written
   */
  <T> String encode(JobType<T> type, T payload) throws Exception;

  /**
   * Decodes one payload, on the worker thread that runs the attempt.
   *
   * @param type the job type of the claimed job, matched by name
   * @param json the stored payload as JSON text
   * @param <T> the payload type
   * @return the payload, not null
   * @throws Exception if the text cannot be decoded; the job is then discarded as undecodable
   */
  <T> T decode(JobType<T> type, String json) throws Exception;
}
