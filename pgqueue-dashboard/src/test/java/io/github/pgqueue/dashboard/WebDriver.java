package io.github.pgqueue.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.HttpURLConnection;
import java.net.URI;
import java.util.List;
import java.util.Map;

/**
 * The few W3C WebDriver commands the browser test needs, spoken to chromedriver over HTTP, as in
 * pgqueue-example's browser test (over HttpURLConnection: this module does not read
 * java.net.http), plus window size, element counts and screenshots.
 */
final class WebDriver implements AutoCloseable {

  private static final String ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

  private final ObjectMapper json = new ObjectMapper();
  private final String base;
  private final String session;

  WebDriver(int driverPort, String chromium) throws Exception {
    this.base = "http://127.0.0.1:" + driverPort;
    Map<String, Object> caps = Map.of("capabilities", Map.of("alwaysMatch", Map.of(
        "browserName", "chrome",
        "goog:chromeOptions", Map.of(
            "binary", chromium,
            "args", List.of("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage")))));
    this.session = call("POST", "/session", caps).path("value").path("sessionId").asText();
  }

  void open(String url) throws Exception {
    call("POST", "/session/" + session + "/url", Map.of("url", url));
  }

  String find(String css) throws Exception {
    return call("POST", "/session/" + session + "/element", Map.of("using", "css selector", "value", css))
        .path("value").path(ELEMENT).asText();
  }

  void type(String element, String text) throws Exception {
    call("POST", "/session/" + session + "/element/" + element + "/value", Map.of("text", text));
  }

  void click(String element) throws Exception {
    call("POST", "/session/" + session + "/element/" + element + "/click", Map.of());
  }

  String pageSource() throws Exception {
    return call("GET", "/session/" + session + "/source", null).path("value").asText();
  }

  byte[] screenshotPng() throws Exception {
    return java.util.Base64.getDecoder().decode(call("GET", "/session/" + session + "/screenshot", null).path("value").asText());
  }

  int count(String css) throws Exception {
    return call("POST", "/session/" + session + "/elements", Map.of("using", "css selector", "value", css))
        .path("value").size();
  }

  void windowSize(int width, int height) throws Exception {
    call("POST", "/session/" + session + "/window/rect", Map.of("width", width, "height", height));
  }

  @Override
  public void close() throws Exception {
    call("DELETE", "/session/" + session, null);
  }

  private JsonNode call(String method, String path, Object body) throws Exception {
    HttpURLConnection c = (HttpURLConnection) URI.create(base + path).toURL().openConnection();
    c.setConnectTimeout(30_000);
    c.setReadTimeout(60_000);
    c.setRequestMethod(method);
    if (body != null) {
      c.setDoOutput(true);
      c.setRequestProperty("Content-Type", "application/json");
      try (java.io.OutputStream out = c.getOutputStream()) {
        out.write(json.writeValueAsBytes(body));
      }
    }
    int status = c.getResponseCode();
    java.io.InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
    String text = in == null ? "{}" : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (status >= 400) {
      throw new IllegalStateException("webdriver " + method + " " + path + " failed: " + text);
    }
    return json.readTree(text);
  }
}
