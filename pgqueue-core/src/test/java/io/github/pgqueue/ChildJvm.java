package io.github.pgqueue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A real JVM running a test main, with its output captured line by line. */
final class ChildJvm implements AutoCloseable {

  final Process process;
  final List<String> lines = new CopyOnWriteArrayList<>();

  private ChildJvm(Process process, String name) {
    this.process = process;
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          lines.add(line);
          System.out.println("[" + name + "] " + line);
        }
      } catch (IOException ignored) {
        // the process died; that is what some tests do to it
      }
    }, "child-output-" + name);
    reader.setDaemon(true);
    reader.start();
  }

  static ChildJvm start(Class<?> main, String... args) throws IOException {
    return start(List.of(), main, args);
  }

  /** As {@link #start(Class, String...)}, with extra JVM options (e.g. {@code -Dorg.slf4j.simpleLogger...}). */
  static ChildJvm start(List<String> jvmOptions, Class<?> main, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    cmd.addAll(jvmOptions);
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(main.getName());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    return new ChildJvm(p, main.getSimpleName() + "-" + p.pid());
  }

  boolean printed(String text) {
    return lines.stream().anyMatch(l -> l.contains(text));
  }

  long pid() {
    return process.pid();
  }

  /**
   * SIGTERM, as a platform sends on shutdown. Through the process handle: {@code Process.destroy()}
   * would also close our end of the child's output, and we want to read its last words.
   */
  void terminate() {
    process.toHandle().destroy();
  }

  /** kill -9: no shutdown hook, no finally block, no goodbye to the database. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      kill();
    }
  }
}
