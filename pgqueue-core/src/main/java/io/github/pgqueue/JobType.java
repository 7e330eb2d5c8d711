package io.github.pgqueue;

import com.fasterxml.jackson.core.type.TypeReference;
import io.github.pgqueue.internal.Identifiers;
import java.lang.reflect.Type;
import java.util.Objects;

/**
 * A kind of job: a stable name bound to the Java type of its payload.
 *
 * <p>The name is what is stored in the {@code jobs.name} column and what workers match handlers
 * on, so it must stay the same when classes are renamed or moved: renaming a {@code JobType}'s name
 * orphans the jobs already queued under the old one. Declare each type once, as a constant shared
 * by the code that enqueues and the code that handles it:
 *
 * <pre>{@code
 * record SendEmail(String to, String subject) {}
 * static final JobType<SendEmail> SEND_EMAIL = JobType.of("send_email", SendEmail.class);
 * }</pre>
 *
 * <p>A type may carry default {@link EnqueueOptions} (its queue, priority, max attempts) that apply
 * to every enqueue of this type unless the call's own options say otherwise.
 *
 * <p>Instances are immutable and thread-safe.
 *
 * @param <T> the payload type, encoded to and decoded from JSONB with Jackson
 */
public final class JobType<T> {

  private final String name;
  private final Type payloadType;
  private final EnqueueOptions defaults;

  private JobType(String name, Type payloadType, EnqueueOptions defaults) {
    this.name = Identifiers.jobName(name);
    this.payloadType = Objects.requireNonNull(payloadType, "payloadType");
    this.defaults = Objects.requireNonNull(defaults, "defaults");
  }

  /**
   * A job type whose payload is a plain class or record.
   *
   * @param name the stable job name: not blank, at most 200 characters, no control characters
   * @param payloadClass the payload class
   * @param <T> the payload type
   * @return the job type
   * @throws IllegalArgumentException if the name is invalid; the message names it
   */
  public static <T> JobType<T> of(String name, Class<T> payloadClass) {
    Objects.requireNonNull(payloadClass, "payloadClass");
    return new JobType<>(name, payloadClass, EnqueueOptions.DEFAULTS);
  }

  /**
   * A job type whose payload is generic, e.g. {@code List<OrderLine>}, described by a Jackson type
   * reference: {@code JobType.of("lines", new TypeReference<List<OrderLine>>() {})}.
   *
   * @param name the stable job name: not blank, at most 200 characters, no control characters
   * @param payloadType the full generic payload type
   * @param <T> the payload type
   * @return the job type
   * @throws IllegalArgumentException if the name is invalid; the message names it
   */
  public static <T> JobType<T> of(String name, TypeReference<T> payloadType) {
    Objects.requireNonNull(payloadType, "payloadType");
    return new JobType<>(name, payloadType.getType(), EnqueueOptions.DEFAULTS);
  }

  /**
   * A copy of this type whose enqueues use {@code defaults} for every option the call itself does
   * not set. A type's default unique key or run time makes little sense and is refused.
   *
   * @param defaults default options, e.g. {@code EnqueueOptions.builder().queue("mail").build()}
   * @return a new job type with the same name and payload type
   * @throws IllegalArgumentException if {@code defaults} sets a unique key, run time or delay
   */
  public JobType<T> withDefaults(EnqueueOptions defaults) {
    Objects.requireNonNull(defaults, "defaults");
    if (defaults.uniqueKey() != null || defaults.runAt() != null || defaults.delay() != null) {
      throw new IllegalArgumentException(
          "JobType defaults for \"" + name + "\" may not set uniqueKey, runAt or delay: "
              + "those belong to a single enqueue");
    }
    return new JobType<>(name, payloadType, defaults);
  }

  /**
   * The stable name stored with each job.
   *
   * @return the job name
   */
  public String name() {
    return name;
  }

  /**
   * The payload's Java type (a {@link Class} or a parameterised type).
   *
   * @return the payload type
   */
  public Type payloadType() {
    return payloadType;
  }

  /**
   * The default options applied to enqueues of this type ({@link EnqueueOptions#DEFAULTS} unless
   * set with {@link #withDefaults}).
   *
   * @return the type's default options
   */
  public EnqueueOptions defaults() {
    return defaults;
  }

  /** Two job types are equal when their names, payload types and defaults are equal. */
  @Override
  public boolean equals(Object o) {
    return o instanceof JobType<?> other
        && name.equals(other.name)
        && payloadType.equals(other.payloadType)
        && defaults.equals(other.defaults);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, payloadType, defaults);
  }

  @Override
  public String toString() {
    return "JobType[" + name + ", " + payloadType.getTypeName() + "]";
  }
}
