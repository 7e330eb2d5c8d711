package io.github.pgqueue.example.spring;

import io.github.pgqueue.JobContext;
import io.github.pgqueue.JobType;
import io.github.pgqueue.cron.CronJob;
import io.github.pgqueue.cron.Schedule;
import io.github.pgqueue.spring.JobHandlerBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * The periodic report: the cron role enqueues it every {@code example.report-every} (once per
 * firing however many cron processes run), the worker role runs it.
 */
@Configuration(proxyBeanMethods = false)
class Reports {

  /** Read by the cron scheduler when {@code pgqueue.cron.enabled=true}. */
  @Bean
  CronJob<Jobs.Report> reportCron(ExampleProperties properties) {
    return CronJob.of("report", Schedule.every(properties.reportEvery()), Jobs.REPORT, Jobs.Report::new);
  }

  @Bean
  JobHandlerBean<Jobs.Report> reportHandler(JdbcTemplate jdbc, Activity activity) {
    return new JobHandlerBean<>() {
      @Override
      public JobType<Jobs.Report> jobType() {
        return Jobs.REPORT;
      }

      @Override
      public void handle(Jobs.Report report, JobContext ctx) {
        Long users = jdbc.queryForObject("SELECT count(*) FROM users", Long.class);
        activity.record("cron", "report for " + report.scheduledFor() + ": " + users + " users");
      }
    };
  }
}
