package io.github.pgqueue.bench;

import io.github.pgqueue.Migrator;
import io.github.pgqueue.internal.BenchAccess;
import io.github.pgqueue.internal.SharedSecrets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compares the two forms of THE CLAIM on one connection that keeps prepared statements ({@code
 * --claim-forms}; docs/performance.md, "Big, old tables"): the statement itself ({@code
 * Sql.claim}, prepared) and the function {@code claim_v2}, which a worker calls. On queues of 500,
 * 20,000 and 200,000 due jobs, claims of 50 alternate between the forms (100 per form per round of
 * {@code --rounds}, after 20 untimed of each); after each claim, untimed, its jobs are deleted and
 * as many new ones enqueued behind the others, so every claim meets a queue of the same size.
 * Medians in ms. Asserts nothing but that each claim takes its 50 jobs; it measures.
 */
final class ClaimForms {

  static final int[] SIZES = {500, 20_000, 200_000};
  static final String[] FORMS = {"statement", "function"};
  private static final int LIMIT = 50;

  private ClaimForms() {}

  /** Runs on a fresh database of {@code url}'s server; medians in ms per form and queue size. */
  static Map<String, Object> run(String url, String user, String password, int rounds) throws Exception {
    Workload.migrated(url, user, password);
    BenchAccess.Raw raw = SharedSecrets.benchAccess().raw(Migrator.DEFAULT_SCHEMA);
    Map<String, Object> out = new LinkedHashMap<>();
    try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement();
        PreparedStatement done = c.prepareStatement("DELETE FROM pgqueue.jobs WHERE id = ANY(?)");
        PreparedStatement refill = c.prepareStatement("INSERT INTO pgqueue.jobs (name, queue, payload, run_at)"
            + " SELECT 'item', 'default', '{}', now() FROM generate_series(1, ?)")) {
      long owner = raw.registerWorker(c, "item");
      for (int size : SIZES) {
        st.execute("TRUNCATE pgqueue.jobs");
        st.execute("INSERT INTO pgqueue.jobs (name, queue, payload, run_at) SELECT 'item', 'default', '{}',"
            + " now() - interval '1 hour' + i * interval '1 microsecond' FROM generate_series(1, " + size + ") i");
        st.execute("VACUUM ANALYZE pgqueue.jobs");
        Map<String, List<Double>> times = new LinkedHashMap<>();
        for (String f : FORMS) {
          times.put(f, new ArrayList<>());
        }
        for (int r = -20; r < 100 * rounds; r++) {
          for (int k = 0; k < FORMS.length; k++) {
            String form = FORMS[(k + Math.floorMod(r, FORMS.length)) % FORMS.length];
            long t0 = System.nanoTime();
            List<Long> ids = form.equals("statement")
                ? raw.claimStatement(c, "default", "item", LIMIT, owner)
                : raw.claim(c, "default", "item", LIMIT, owner);
            long t1 = System.nanoTime();
            if (ids.size() != LIMIT) {
              throw new IllegalStateException(form + " claimed " + ids.size() + " of " + LIMIT + " on a queue of " + size);
            }
            if (r >= 0) {
              times.get(form).add((t1 - t0) / 1e6);
            }
            Array a = c.createArrayOf("int8", ids.toArray());
            done.setArray(1, a);
            done.executeUpdate();
            refill.setInt(1, LIMIT);
            refill.executeUpdate();
          }
        }
        for (String f : FORMS) {
          out.put("claim_" + f + "_" + size + "_ms", Workload.median(times.get(f)));
        }
      }
      raw.deregisterWorker(c, owner);
    }
    return out;
  }
}
