package io.github.pgqueue;

import java.util.Objects;

/**
 * The checks pgqueue keeps around whatever {@link PayloadCodec} the application plugs in: the size
 * limit, text PostgreSQL cannot store faithfully (NUL, lone surrogates), and a codec that throws
 * or returns null. Held by {@link JobQueue} (which encodes) and handed to workers (which decode).
 */
final class CheckedCodec implements PayloadCodec {

  /** The payload size limit unless configured: 1 MiB of UTF-8 JSON. */
  static final int DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;

  private final PayloadCodec delegate;
  private final int maxPayloadBytes;

  CheckedCodec(PayloadCodec delegate, int maxPayloadBytes) {
    this.delegate = Objects.requireNonNull(delegate, "codec");
    this.maxPayloadBytes = maxPayloadBytes;
  }

  PayloadCodec delegate() {
    return delegate;
  }

  int maxPayloadBytes() {
    return maxPayloadBytes;
  }

  /** JSON text for the payload, or IllegalArgumentException naming the job and the problem. */
  @Override
  public <T> String encode(JobType<T> type, T payload) {
    if (payload == null) {
      throw new IllegalArgumentException("payload must not be null (job \"" + type.name() + "\")");
    }
    String text;
    try {
      text = delegate.encode(type, payload);
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" cannot be encoded as JSON: " + e.getMessage(), e);
    }
    if (text == null) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" cannot be encoded: the codec " + delegate
              + " returned null instead of JSON text");
    }
    long bytes = utf8Length(text);
    if (bytes > maxPayloadBytes) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" is " + bytes
              + " bytes of JSON, over the limit of " + maxPayloadBytes
              + " (maxPayloadBytes); store large data elsewhere and enqueue a reference");
    }
    if (text.indexOf('\0') >= 0 || hasEscapedNul(text)) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" contains the NUL character (\\u0000), which"
              + " PostgreSQL jsonb cannot store; remove it or encode the value (e.g. base64)");
    }
    int raw = loneSurrogate(text);
    if (raw >= 0) {
      throw new IllegalArgumentException(
          "payload of job \"" + type.name() + "\" contains an unpaired UTF-16 surrogate (at char "
              + raw + "), which has no UTF-8 form and which PostgreSQL jsonb refuses; fix the"
              + " string or encode the value (e.g. base64)");
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

  /**
   * Decodes with the codec; its exception passes through as is (the job is then discarded as
   * undecodable), and a null result becomes one.
   */
  @Override
  public <T> T decode(JobType<T> type, String json) throws Exception {
    T value = delegate.decode(type, json);
    if (value == null) {
      throw new IllegalStateException(
          "the codec " + delegate + " decoded the payload of job \"" + type.name() + "\" to null");
    }
    return value;
  }

  @Override
  public String toString() {
    return delegate.toString();
  }

  /** Bytes of {@code s} in UTF-8 (an unpaired surrogate counted as the 3 bytes of its replacement). */
  static long utf8Length(String s) {
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        n += 1;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }

  /** Index of the first raw (unescaped) unpaired surrogate character, or -1. */
  static int loneSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return i;
      }
    }
    return -1;
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
