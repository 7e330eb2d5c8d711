package io.github.pgqueue.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The few W3C WebDriver commands the browser test needs, spoken to chromedriver over HTTP: enough
 * to open a page, type into a field, click a button and read the page, without a Selenium
 * dependency.
 */
final class WebDriver implements AutoCloseable {

  private static final String ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

  private final ObjectMapper json = new ObjectMapper();
  private final HttpClient http = HttpClient.newHttpClient();
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

  @Override
  public void close() throws Exception {
    call("DELETE", "/session/" + session, null);
  }

  private JsonNode call(String method, String path, Object body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30));
    b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
        : b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body)));
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    JsonNode node = json.readTree(r.body());
    if (r.statusCode() >= 400) {
      throw new IllegalStateException("webdriver " + method + " " + path + " failed: " + r.body());
    }
    return node;
  }
}
