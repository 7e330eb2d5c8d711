package io.github.pgqueue.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.pgqueue.JobError;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Reads the jobs.errors column (the format docs/schema.md describes) for the error search. */
final class Errors {

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private Errors() {}

  static List<JobError> parse(String json) {
    List<JobError> out = new ArrayList<>();
    if (json == null) {
      return out;
    }
    try {
      for (JsonNode e : MAPPER.readTree(json)) {
        JsonNode at = e.get("at");
        JobError.Kind kind;
        try {
          kind = JobError.Kind.valueOf(e.path("kind").asText("failed").toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException unknown) {
          kind = JobError.Kind.FAILED;
        }
        out.add(new JobError(at == null || at.isNull() ? null : OffsetDateTime.parse(at.asText()).toInstant(),
            e.path("attempt").asInt(), kind, e.path("class").asText(""), e.path("message").asText(""),
            e.path("trace").asText("")));
      }
    } catch (Exception e) {
      // An unreadable column is shown as one error saying so, not a failed page.
      out.add(new JobError(null, 0, JobError.Kind.FAILED, "unreadable errors column", json, ""));
    }
    return out;
  }
}
