package io.github.pgqueue.cron;

import static io.github.pgqueue.cron.CronDb.FIRED;

import io.github.pgqueue.JobQueue;
import io.github.pgqueue.cron.CronDb.Fired;
import java.time.Duration;
import java.time.InstantSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A cron process for {@link CronProcessTest}: runs the test's two schedules on its own
 * connections with a clock shifted by a given offset, until its standard input closes (the test
 * ends or dies) or a safety limit passes.
 *
 * <p>Arguments: JDBC URL with credentials, clock offset in milliseconds, a tag stored in each
 * payload, the safety limit in seconds.
 */
public final class CronProcessMain {

  static final String EVERY_SECOND = "every-second";
  static final String EVERY_TWO_SECONDS = "every-2s";

  private CronProcessMain() {}

  public static void main(String[] args) throws Exception {
    String url = args[0];
    Duration offset = Duration.ofMillis(Long.parseLong(args[1]));
    String tag = args[2];
    long limitSeconds = Long.parseLong(args[3]);

    Thread limit = new Thread(() -> {
      try {
        Thread.sleep(limitSeconds * 1000);
      } catch (InterruptedException e) {
        return;
      }
      System.err.println(tag + ": safety limit of " + limitSeconds + " s reached; exiting");
      System.exit(3);
    }, "safety-limit");
    limit.setDaemon(true);
    limit.start();

    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setURL(url);
    CronScheduler cron = CronScheduler.builder(JobQueue.create(ds), ds)
        .clock(InstantSource.offset(InstantSource.system(), offset))
        .retryBackoff(Duration.ofMillis(50), Duration.ofMillis(500))
        .add(CronJob.of(EVERY_SECOND, Schedule.cron("* * * * * *"), FIRED, t -> new Fired(tag, t)))
        .add(CronJob.of(EVERY_TWO_SECONDS, Schedule.every(Duration.ofSeconds(2)), FIRED,
            t -> new Fired(tag, t)))
        .build();
    Runtime.getRuntime().addShutdownHook(new Thread(cron::close, "close-cron"));
    cron.start();
    System.out.println(tag + ": started, clock offset " + offset);
    System.out.flush();
    while (System.in.read() != -1) {
      // The test never writes; end of input means it is done with us.
    }
    System.exit(0);
  }
}
