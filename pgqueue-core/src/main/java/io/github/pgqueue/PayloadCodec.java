package io.github.pgqueue;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamWriteConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.MapperConfig;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.Serializable;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Encodes payloads to JSON text for a {@code jsonb} column and decodes them back into the job
 * type's Java type. Never uses Jackson default typing: a payload cannot name a class to instantiate.
 */
final class PayloadCodec {

  /** The payload size limit unless configured: 1 MiB of UTF-8 JSON. */
  static final int DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;

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
  private final int maxPayloadBytes;
  private final ConcurrentHashMap<Type, JavaType> javaTypes = new ConcurrentHashMap<>();

  PayloadCodec(ObjectMapper mapper, int maxPayloadBytes) {
    this.mapper = Objects.requireNonNull(mapper, "objectMapper");
    refuseDefaultTyping(mapper);
    this.maxPayloadBytes = maxPayloadBytes;
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

  int maxPayloadBytes() {
    return maxPayloadBytes;
  }

  /** JSON text for the payload, or IllegalArgumentException naming the job and the problem. */
  String encode(JobType<?> type, Object payload) {
    if (payload == null) {
      throw new IllegalArgumentException("payload must not be null (job \"" + type.name() + "\")");
    }
    byte[] json;
    try {
      json = mapper.writerFor(javaType(type.payloadType())).writeValueAsBytes(payload);
    } catch (JsonProcessingException | RuntimeException e) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" cannot be encoded as JSON: " + e.getMessage(), e);
    }
    if (json.length > maxPayloadBytes) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" is " + json.length
              + " bytes of JSON, over the limit of " + maxPayloadBytes
              + " (maxPayloadBytes); store large data elsewhere and enqueue a reference");
    }
    String text = new String(json, StandardCharsets.UTF_8);
    if (hasEscapedNul(text)) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" contains the NUL character (\\u0000), which"
              + " PostgreSQL jsonb cannot store; remove it or encode the value (e.g. base64)");
    }
    int surrogate = loneSurrogateEscape(text);
    if (surrogate >= 0) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" contains an unpaired UTF-16 surrogate ("
              + text.substring(surrogate, surrogate + 6) + "), which has no UTF-8 form and which"
              + " PostgreSQL jsonb refuses; fix the string or encode the value (e.g. base64)");
    }
    return text;
  }

  /** Decodes JSON text into the job type's Java type; throws the Jackson exception as is. */
  <T> T decode(JobType<T> type, String json) throws JsonProcessingException {
    return mapper.readValue(json, javaType(type.payloadType()));
  }

  private JavaType javaType(Type type) {
    return javaTypes.computeIfAbsent(type, t -> mapper.getTypeFactory().constructType(t));
  }

  /**
   * Index of the first escaped surrogate ({@code \\uD800}-{@code \\uDFFF}) in the JSON that is not
   * a high surrogate directly followed by an escaped low one, or -1. Jackson writes a lone
   * surrogate as such an escape (a proper pair as UTF-8), and jsonb refuses it.
   */
  static int loneSurrogateEscape(String json) {
    int from = 0;
    while (true) {
      int i = json.indexOf("\\u", from);
      if (i < 0) {
        return -1;
      }
      from = i + 2;
      int backslashes = 0;
      for (int j = i - 1; j >= 0 && json.charAt(j) == '\\'; j--) {
        backslashes++;
      }
      int unit = backslashes % 2 == 0 ? hex4(json, i + 2) : -1;
      if (unit < 0 || !Character.isSurrogate((char) unit)) {
        continue;
      }
      if (Character.isHighSurrogate((char) unit)
          && json.startsWith("\\u", i + 6)
          && hex4(json, i + 8) >= 0
          && Character.isLowSurrogate((char) hex4(json, i + 8))) {
        from = i + 12;
        continue;
      }
      return i;
    }
  }

  private static int hex4(String s, int at) {
    if (at + 4 > s.length()) {
      return -1;
    }
    int v = 0;
    for (int k = at; k < at + 4; k++) {
      int d = Character.digit(s.charAt(k), 16);
      if (d < 0) {
        return -1;
      }
      v = v * 16 + d;
    }
    return v;
  }

  /** True if the JSON holds an escaped NUL: a backslash-u0000 preceded by an even number of backslashes. */
  static boolean hasEscapedNul(String json) {
    int from = 0;
    while (true) {
      int i = json.indexOf("\\u0000", from);
      if (i < 0) {
        return false;
      }
      int backslashes = 0;
      for (int j = i - 1; j >= 0 && json.charAt(j) == '\\'; j--) {
        backslashes++;
      }
      if (backslashes % 2 == 0) {
        return true;
      }
      from = i + 1;
    }
  }
}
