package io.github.pgqueue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamWriteConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.MapperConfig;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.Serializable;
import java.lang.reflect.Type;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The default {@link PayloadCodec}: Jackson 2 ({@code jackson-databind}). Encodes with the job
 * type's full generic type and decodes into it. Never uses Jackson default typing: a payload
 * cannot name a class to instantiate, and a mapper with default typing active is refused.
 *
 * <p>Thread-safe, as the mapper it wraps must be.
 */
public final class JacksonCodec implements PayloadCodec {

  /**
   * Deepest nesting of arrays and objects the default mapper writes or reads. Pinned here (it is
   * Jackson's own default today) so that the bound does not move with the Jackson version: a
   * deeper payload is refused at enqueue, and one written into the table by other means is
   * discarded as undecodable instead of recursing without bound in the worker.
   */
  static final int MAX_NESTING_DEPTH = 1_000;
  /** Longest number literal the default mapper reads, in characters (Jackson's default, pinned). */
  static final int MAX_NUMBER_LENGTH = 1_000;

  private final ObjectMapper mapper;
  private final ConcurrentHashMap<Type, JavaType> javaTypes = new ConcurrentHashMap<>();
  /**
   * One writer per payload type, made on its first encode. An {@link ObjectWriter} is immutable
   * and thread-safe, and keeps the root serializer it looked up; asking the mapper for a new one
   * per payload repeated that lookup for every job of a batch (measured: a fifth to a quarter of a
   * compiled encode's time; docs/performance.md, "Bulk enqueue: a cold path").
   */
  private final ConcurrentHashMap<Type, ObjectWriter> writers = new ConcurrentHashMap<>();

  private JacksonCodec(ObjectMapper mapper) {
    this.mapper = Objects.requireNonNull(mapper, "objectMapper");
    refuseDefaultTyping(mapper);
  }

  /**
   * A codec with pgqueue's default mapper (see {@link JobQueue#defaultObjectMapper()}): java.time
   * support, ISO-8601 dates, unknown properties ignored on decode, nesting and number length
   * bounded.
   *
   * @return the codec
   */
  public static JacksonCodec create() {
    return new JacksonCodec(defaultMapper());
  }

  /**
   * A codec with the application's mapper (start from {@link JobQueue#defaultObjectMapper()} to
   * keep pgqueue's settings and add modules). Configure the mapper fully before the first enqueue,
   * as Jackson requires of any mapper in use: the codec keeps a writer per payload type, made from
   * the mapper's configuration at that type's first encode.
   *
   * @param objectMapper the mapper; not changed by pgqueue
   * @return the codec
   * @throws IllegalArgumentException if the mapper has default typing active
   */
  public static JacksonCodec of(ObjectMapper objectMapper) {
    return new JacksonCodec(objectMapper);
  }

  /**
   * Encodes with the job type's declared (generic) type.
   *
   * @throws com.fasterxml.jackson.core.JsonProcessingException if Jackson cannot encode it
   */
  @Override
  public <T> String encode(JobType<T> type, T payload) throws Exception {
    return writers.computeIfAbsent(type.payloadType(), t -> mapper.writerFor(javaType(t))).writeValueAsString(payload);
  }

  /**
   * Decodes into the job type's declared (generic) type.
   *
   * @throws com.fasterxml.jackson.core.JsonProcessingException if the text does not decode
   */
  @Override
  public <T> T decode(JobType<T> type, String json) throws Exception {
    return mapper.readValue(json, javaType(type.payloadType()));
  }

  @Override
  public String toString() {
    return "JacksonCodec[" + mapper.getClass().getName() + "]";
  }

  private JavaType javaType(Type type) {
    return javaTypes.computeIfAbsent(type, t -> mapper.getTypeFactory().constructType(t));
  }

  /**
   * The mapper used unless the application passes its own: records and java.time values work,
   * dates are ISO-8601 text, and unknown properties are ignored on decode so that a payload written
   * by a newer release (an added field) still decodes in an older worker during a rolling deploy.
   */
  static ObjectMapper defaultMapper() {
    JsonFactory factory =
        JsonFactory.builder()
            .streamReadConstraints(
                StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_NESTING_DEPTH)
                    .maxNumberLength(MAX_NUMBER_LENGTH)
                    // Whatever JobQueue can be configured to accept must decode: Jackson's default
                    // string limit (20M chars) is below the largest payload limit.
                    .maxStringLength(JobQueue.MAX_MAX_PAYLOAD_BYTES)
                    .maxDocumentLength(JobQueue.MAX_MAX_PAYLOAD_BYTES)
                    .build())
            .streamWriteConstraints(
                StreamWriteConstraints.builder().maxNestingDepth(MAX_NESTING_DEPTH).build())
            .build();
    return JsonMapper.builder(factory)
        .addModule(new JavaTimeModule())
        .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
        .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE)
        .disable(MapperFeature.DEFAULT_VIEW_INCLUSION)
        .build();
  }

  /**
   * Default typing lets JSON name the class to instantiate, the root of Jackson's deserialization
   * vulnerabilities; a queue payload is data from wherever the enqueuer got it, so it is refused.
   */
  static void refuseDefaultTyping(ObjectMapper mapper) {
    for (MapperConfig<?> config :
        new MapperConfig<?>[] {mapper.getDeserializationConfig(), mapper.getSerializationConfig()}) {
      for (Class<?> probe : new Class<?>[] {Object.class, Serializable.class, Object[].class}) {
        if (config.getDefaultTyper(mapper.constructType(probe)) != null) {
          throw new IllegalArgumentException(
              "objectMapper has Jackson default typing active (activateDefaultTyping or "
                  + "enableDefaultTyping): pgqueue refuses it, because it lets a payload name a "
                  + "class to instantiate; pass a mapper without default typing");
        }
      }
    }
  }
}
