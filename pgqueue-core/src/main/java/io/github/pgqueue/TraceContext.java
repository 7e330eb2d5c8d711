package io.github.pgqueue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.pgqueue.internal.Identifiers;

/**
 * The W3C trace context of the code that enqueued a job: the {@code traceparent} and {@code
 * tracestate} values of the <a href="https://www.w3.org/TR/trace-context/">W3C Trace Context</a>
 * headers, as text. Stored with the job in a column of its own (never in its {@link
 * JobContext#context() context}), kept across retries, and handed to {@link JobInterceptor}s
 * through {@link JobContext#traceContext()}, so a tracer can link each attempt to the enqueue.
 * Baggage is not carried.
 *
 * <p>pgqueue only checks the form and stores the text; it has no tracing library of its own
 * ({@code pgqueue-opentelemetry} sets and reads it).
 *
 * @param traceparent a W3C {@code traceparent}: {@code version-traceid-parentid-flags} in lowercase
 *     hex, version not {@code ff}, neither id all zeros, at most {@value #MAX_TRACEPARENT_LENGTH}
 *     characters (version {@code 00} is exactly 55)
 * @param tracestate the W3C {@code tracestate}, or null if none (an empty or blank one becomes
 *     null); at most {@value #MAX_TRACESTATE_LENGTH} printable ASCII characters
 */
public record TraceContext(String traceparent, String tracestate) {

  /** The longest {@code traceparent} accepted (version 00 is 55 characters; later versions may add fields). */
  public static final int MAX_TRACEPARENT_LENGTH = 128;

  /** The longest {@code tracestate} accepted: the W3C's minimum that a platform must propagate. */
  public static final int MAX_TRACESTATE_LENGTH = 512;

  private static final int V00_LENGTH = 55;
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * @throws IllegalArgumentException if {@code traceparent} is null or not a valid W3C
   *     traceparent, or {@code tracestate} is too long or holds a character outside printable ASCII
   */
  public TraceContext {
    checkTraceparent(traceparent);
    if (tracestate != null && tracestate.isBlank()) {
      tracestate = null;
    }
    if (tracestate != null) {
      if (tracestate.length() > MAX_TRACESTATE_LENGTH) {
        throw new IllegalArgumentException(
            "tracestate must be at most " + MAX_TRACESTATE_LENGTH + " characters, got "
                + tracestate.length() + ": " + Identifiers.quote(tracestate.substring(0, 60) + "..."));
      }
      for (int i = 0; i < tracestate.length(); i++) {
        char ch = tracestate.charAt(i);
        if (ch < 0x20 || ch > 0x7e) {
          throw new IllegalArgumentException(
              "tracestate must be printable ASCII, got character U+"
                  + String.format("%04X", (int) ch) + " at index " + i + " of " + Identifiers.quote(tracestate));
        }
      }
    }
  }

  /**
   * A trace context with no {@code tracestate}.
   *
   * @param traceparent a W3C {@code traceparent}
   * @return the trace context
   * @throws IllegalArgumentException if {@code traceparent} is invalid
   */
  public static TraceContext of(String traceparent) {
    return new TraceContext(traceparent, null);
  }

  private static void checkTraceparent(String tp) {
    if (tp == null) {
      throw new IllegalArgumentException("traceparent must not be null");
    }
    if (tp.length() > MAX_TRACEPARENT_LENGTH) {
      throw new IllegalArgumentException(
          "traceparent must be at most " + MAX_TRACEPARENT_LENGTH + " characters, got "
              + tp.length() + ": " + Identifiers.quote(tp.substring(0, 60) + "..."));
    }
    boolean form = tp.length() >= V00_LENGTH
        && hex(tp, 0, 2) && tp.charAt(2) == '-'
        && hex(tp, 3, 35) && tp.charAt(35) == '-'
        && hex(tp, 36, 52) && tp.charAt(52) == '-'
        && hex(tp, 53, 55)
        && (tp.length() == V00_LENGTH || tp.charAt(V00_LENGTH) == '-');
    String why = null;
    if (!form) {
      why = "expected version-traceid-parentid-flags in lowercase hex (2-32-16-2 digits)";
    } else if (tp.startsWith("ff")) {
      why = "version ff is invalid";
    } else if (tp.startsWith("00") && tp.length() != V00_LENGTH) {
      why = "version 00 has exactly 55 characters";
    } else if (zeros(tp, 3, 35)) {
      why = "the trace id is all zeros";
    } else if (zeros(tp, 36, 52)) {
      why = "the parent id is all zeros";
    } else {
      for (int i = V00_LENGTH; i < tp.length(); i++) {
        char ch = tp.charAt(i);
        if (ch < 0x21 || ch > 0x7e) {
          why = "printable ASCII without spaces expected after the flags";
          break;
        }
      }
    }
    if (why != null) {
      throw new IllegalArgumentException("invalid traceparent " + Identifiers.quote(tp) + ": " + why);
    }
  }

  private static boolean hex(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      char ch = s.charAt(i);
      if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
        return false;
      }
    }
    return true;
  }

  private static boolean zeros(String s, int from, int to) {
    for (int i = from; i < to; i++) {
      if (s.charAt(i) != '0') {
        return false;
      }
    }
    return true;
  }

  /** The stored form: a JSON object with "traceparent" and, when set, "tracestate". */
  String toJson() {
    ObjectNode o = JSON.createObjectNode();
    o.put("traceparent", traceparent);
    if (tracestate != null) {
      o.put("tracestate", tracestate);
    }
    return o.toString();
  }

  /**
   * Reads the stored form back; null for null, and for a value this class would not have written
   * (set by hand-written SQL): a broken trace link must never fail a job.
   */
  static TraceContext fromJson(String json) {
    if (json == null) {
      return null;
    }
    try {
      JsonNode o = JSON.readTree(json);
      JsonNode tp = o.get("traceparent");
      JsonNode ts = o.get("tracestate");
      if (tp == null || !tp.isTextual() || (ts != null && !ts.isTextual())) {
        return null;
      }
      return new TraceContext(tp.textValue(), ts == null ? null : ts.textValue());
    } catch (Exception e) {
      return null;
    }
  }
}
