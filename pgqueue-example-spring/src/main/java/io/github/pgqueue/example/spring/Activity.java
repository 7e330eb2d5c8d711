package io.github.pgqueue.example.spring;

import java.util.List;
import java.util.Map;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/** The activity log the page shows: signups, emails sent, reports. Joins the caller's transaction. */
@Component
class Activity {

  private final JdbcTemplate jdbc;

  Activity(JdbcTemplate jdbc) {
    this.jdbc = jdbc;
  }

  void record(String kind, String detail) {
    jdbc.update("INSERT INTO activity (kind, detail) VALUES (?, ?)", kind, detail);
  }

  List<Map<String, Object>> latest(int limit) {
    return jdbc.queryForList("SELECT kind, detail, at FROM activity ORDER BY id DESC LIMIT ?", limit);
  }
}
