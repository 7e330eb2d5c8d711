package io.github.pgqueue.example.spring;

import io.github.pgqueue.EnqueueResult;
import io.github.pgqueue.JobId;
import io.github.pgqueue.JobQueue;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/**
 * The signup: one transaction stores the user, enqueues the welcome email and logs the signup.
 * The queue joins the transaction, so the job exists exactly when the user does: a signup that
 * fails at any step, even after the enqueue, leaves no user and no job.
 */
@Service
class Signups {

  private static final Pattern EMAIL = Pattern.compile("[^@\\s]{1,64}@[^@\\s]{1,255}\\.[^@\\s]{1,63}");

  /** What a signup did: the user and its welcome job, or why there is none. */
  record Result(long userId, JobId welcomeJob, String error, int status) {}

  private final JdbcTemplate jdbc;
  private final JobQueue queue;
  private final Activity activity;

  Signups(JdbcTemplate jdbc, JobQueue queue, Activity activity) {
    this.jdbc = jdbc;
    this.queue = queue;
    this.activity = activity;
  }

  @Transactional
  public Result signUp(String email) {
    if (!EMAIL.matcher(email).matches()) {
      return new Result(0, null, "please enter a valid email address", 400);
    }
    List<Long> ids = jdbc.queryForList(
        "INSERT INTO users (email) VALUES (?) ON CONFLICT (email) DO NOTHING RETURNING id", Long.class, email);
    if (ids.isEmpty()) {
      return new Result(0, null, email + " has already signed up", 409);
    }
    long userId = ids.get(0);
    // No connection passed: the enqueue runs on this @Transactional method's connection.
    EnqueueResult welcome = queue.enqueue(Jobs.WELCOME_EMAIL, new Jobs.WelcomeEmail(userId, email));
    activity.record("signup", email);
    return new Result(userId, welcome.id(), null, 201);
  }

  List<Map<String, Object>> users() {
    return jdbc.queryForList("SELECT id, email, created_at, welcomed_at FROM users ORDER BY id DESC LIMIT 50");
  }
}
