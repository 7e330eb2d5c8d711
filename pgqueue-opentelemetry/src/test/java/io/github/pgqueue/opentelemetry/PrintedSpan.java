package io.github.pgqueue.opentelemetry;

import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.util.List;

/**
 * What the cross-process test needs of a span, as one line of text a child JVM prints on standard
 * output ({@code SPAN|trace|span|parent|kind|name|linked span ids, comma-separated}): a stand-in
 * for a network exporter.
 */
record PrintedSpan(String traceId, String spanId, String parentSpanId, String kind, String name, List<String> links) {

  static final String PREFIX = "SPAN|";

  static PrintedSpan of(SpanData s) {
    return new PrintedSpan(s.getTraceId(), s.getSpanId(), s.getParentSpanId(), s.getKind().name(), s.getName(),
        s.getLinks().stream().map(LinkData::getSpanContext).map(c -> c.getTraceId() + "/" + c.getSpanId()).toList());
  }

  String line() {
    return PREFIX + String.join("|", traceId, spanId, parentSpanId, kind, name, String.join(",", links));
  }

  static PrintedSpan parse(String line) {
    String[] f = line.substring(PREFIX.length()).split("\\|", -1);
    return new PrintedSpan(f[0], f[1], f[2], f[3], f[4], f[5].isEmpty() ? List.of() : List.of(f[5].split(",")));
  }
}
