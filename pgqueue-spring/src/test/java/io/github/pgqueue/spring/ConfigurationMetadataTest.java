package io.github.pgqueue.spring;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.io.InputStream;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The hand-written configuration metadata (what IDEs complete under {@code pgqueue.*}) names
 * exactly the properties {@link PgQueueProperties} binds, each with a description.
 */
class ConfigurationMetadataTest {

  @Test
  void metadataListsEveryBoundPropertyAndNoOther() throws Exception {
    JsonNode metadata;
    try (InputStream in = getClass().getResourceAsStream("/META-INF/spring-configuration-metadata.json")) {
      metadata = new ObjectMapper().readTree(in);
    }
    Set<String> documented = new TreeSet<>();
    for (JsonNode p : metadata.get("properties")) {
      String name = p.get("name").asText();
      assertThat(p.path("description").asText()).as(name).isNotBlank();
      if (name.startsWith("pgqueue.")) {
        documented.add(name);
      }
    }
    Set<String> bound = new TreeSet<>();
    collect("pgqueue", PgQueueProperties.class, bound);
    assertThat(documented).isEqualTo(bound);
  }

  private static void collect(String prefix, Class<?> type, Set<String> out) throws Exception {
    for (PropertyDescriptor d : Introspector.getBeanInfo(type, Object.class).getPropertyDescriptors()) {
      String name = prefix + "." + d.getName().replaceAll("([A-Z])", "-$1").toLowerCase(java.util.Locale.ROOT);
      if (d.getWriteMethod() != null) {
        out.add(name);
      } else if (d.getPropertyType().getName().startsWith(PgQueueProperties.class.getName())) {
        collect(name, d.getPropertyType(), out);
      }
    }
  }
}
