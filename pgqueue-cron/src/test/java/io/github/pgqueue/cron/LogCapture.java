package io.github.pgqueue.cron;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Records what slf4j-simple writes to System.err (it looks System.err up at every line) while
 * still passing it through. Close to restore System.err.
 */
final class LogCapture implements AutoCloseable {

  private final PrintStream original;
  private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

  LogCapture() {
    original = System.err;
    OutputStream tee =
        new OutputStream() {
          @Override
          public void write(int b) {
            synchronized (captured) {
              captured.write(b);
            }
            original.write(b);
          }

          @Override
          public void write(byte[] b, int off, int len) {
            synchronized (captured) {
              captured.write(b, off, len);
            }
            original.write(b, off, len);
          }
        };
    System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
  }

  /** The log lines so far (continuation lines of stack traces included). */
  List<String> lines() {
    synchronized (captured) {
      return Arrays.asList(captured.toString(StandardCharsets.UTF_8).split("\n"));
    }
  }

  /** Lines at WARN level containing every one of the given fragments. */
  List<String> warnings(String... fragments) {
    return lines().stream()
        .filter(l -> l.contains("WARN"))
        .filter(l -> Arrays.stream(fragments).allMatch(l::contains))
        .toList();
  }

  @Override
  public void close() {
    System.setErr(original);
  }
}
