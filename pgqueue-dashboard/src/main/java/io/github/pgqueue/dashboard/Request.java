package io.github.pgqueue.dashboard;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * One HTTP request as the adapters hand it to {@link Dashboard}: framework-neutral.
 *
 * @param method GET, POST, ...
 * @param path the path below the mount, starting with "/" ("/" for the overview)
 * @param query the decoded query string parameters
 * @param form the decoded form parameters of a POST (application/x-www-form-urlencoded), else empty
 * @param header headers by name, case-insensitive; null when absent
 * @param principal the authenticated user, or null
 * @param secure the request came over HTTPS to this server (a proxy's {@code X-Forwarded-Proto}
 *     is read separately, see {@link #overHttps})
 */
record Request(
    String method,
    String path,
    Map<String, List<String>> query,
    Map<String, List<String>> form,
    Function<String, String> header,
    Principal principal,
    boolean secure) {

  /** Form bodies larger than this are refused (a bulk selection of 1,000 ids fits easily). */
  static final int MAX_FORM_BYTES = 256 * 1024;

  String param(String name) {
    List<String> v = form.get(name);
    if (v == null || v.isEmpty()) {
      v = query.get(name);
    }
    if (v == null || v.isEmpty()) {
      return null;
    }
    String s = v.get(0).strip();
    return s.isEmpty() ? null : s;
  }

  String queryParam(String name) {
    List<String> v = query.get(name);
    if (v == null || v.isEmpty()) {
      return null;
    }
    String s = v.get(0).strip();
    return s.isEmpty() ? null : s;
  }

  List<String> formValues(String name) {
    return form.getOrDefault(name, List.of());
  }

  String cookie(String name) {
    String all = header.apply("Cookie");
    if (all == null) {
      return null;
    }
    for (String part : all.split(";")) {
      int eq = part.indexOf('=');
      if (eq > 0 && part.substring(0, eq).strip().equals(name)) {
        return part.substring(eq + 1).strip();
      }
    }
    return null;
  }

  /**
   * Whether the browser reached us over HTTPS: directly, or through a proxy that terminated TLS
   * and says so in {@code X-Forwarded-Proto} (fly.io, most load balancers). Used only to mark the
   * CSRF cookie {@code Secure}, which can only restrict where the browser sends it, so a forged
   * header cannot weaken anything.
   */
  boolean overHttps() {
    String forwarded = header.apply("X-Forwarded-Proto");
    return secure || forwarded != null && forwarded.strip().toLowerCase(java.util.Locale.ROOT).startsWith("https");
  }

  boolean wantsJson() {
    return path.equals("/api") || path.startsWith("/api/");
  }

  /** Parses an application/x-www-form-urlencoded string (also a query string); null gives empty. */
  static Map<String, List<String>> parseForm(String s) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    if (s == null || s.isEmpty()) {
      return out;
    }
    for (String pair : s.split("&")) {
      if (pair.isEmpty()) {
        continue;
      }
      int eq = pair.indexOf('=');
      String k = eq < 0 ? pair : pair.substring(0, eq);
      String v = eq < 0 ? "" : pair.substring(eq + 1);
      try {
        out.computeIfAbsent(URLDecoder.decode(k, StandardCharsets.UTF_8), x -> new ArrayList<>())
            .add(URLDecoder.decode(v, StandardCharsets.UTF_8));
      } catch (IllegalArgumentException e) {
        throw new BadRequest("malformed form or query parameter");
      }
    }
    return out;
  }

  /** The request is malformed; answered 400 with the message. */
  static final class BadRequest extends RuntimeException {
    private static final long serialVersionUID = 1L;

    BadRequest(String message) {
      super(message);
    }
  }
}
