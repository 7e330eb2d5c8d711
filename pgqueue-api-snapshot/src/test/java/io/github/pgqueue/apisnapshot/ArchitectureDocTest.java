package io.github.pgqueue.apisnapshot;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Member;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * docs/architecture.md tells a newcomer where the claim query, the retry rule, the rescue rule and
 * the cron guard live, as {@code class#member} symbols. Each must exist in the compiled code, so a
 * rename or a move that forgets the page fails here.
 */
class ArchitectureDocTest {

  private static final Pattern SYMBOL = Pattern.compile("`(io\\.github\\.pgqueue[\\w.]*)#(\\w+)`");

  @Test
  void everySymbolNamedInArchitectureMdExists() throws IOException {
    String page = Files.readString(Path.of("..", "docs", "architecture.md"), StandardCharsets.UTF_8);
    Matcher m = SYMBOL.matcher(page);
    List<String> checked = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    while (m.find()) {
      String symbol = m.group(1) + "#" + m.group(2);
      checked.add(symbol);
      if (!exists(m.group(1), m.group(2))) {
        missing.add(symbol);
      }
    }
    assertFalse(checked.size() < 10, "expected the rules table of docs/architecture.md, found only " + checked);
    assertTrue(missing.isEmpty(), "docs/architecture.md names symbols that do not exist: " + missing);
  }

  private static boolean exists(String className, String member) {
    Class<?> type;
    try {
      type = Class.forName(className, false, ArchitectureDocTest.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      return false;
    }
    return Stream.of(type.getDeclaredFields(), type.getDeclaredMethods())
        .flatMap(Stream::of)
        .map(Member::getName)
        .anyMatch(member::equals);
  }
}
