package io.github.pgqueue.dashboard;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One HTTP response from {@link Dashboard}, for the adapters to write: status, headers and body.
 *
 * @param status the HTTP status
 * @param headers the headers (the security headers included)
 * @param body the body bytes
 */
record Response(int status, Map<String, String> headers, byte[] body) {

  static Response of(int status, String contentType, String body) {
    Map<String, String> h = new LinkedHashMap<>();
    h.put("Content-Type", contentType);
    return new Response(status, h, body.getBytes(StandardCharsets.UTF_8));
  }

  static Response html(int status, String body) {
    return of(status, "text/html; charset=utf-8", body);
  }

  static Response json(int status, String body) {
    return of(status, "application/json", body);
  }

  static Response redirect(String location) {
    Map<String, String> h = new LinkedHashMap<>();
    h.put("Location", location);
    h.put("Content-Type", "text/plain; charset=utf-8");
    return new Response(303, h, new byte[0]);
  }

  Response header(String name, String value) {
    headers.put(name, value);
    return this;
  }
}
