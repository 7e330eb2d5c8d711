package io.github.pgqueue.example.spring;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The example's own settings ({@code example.*} in {@code application.properties}).
 *
 * @param reportEvery how often the cron role enqueues the report job ({@code REPORT_EVERY}, default one minute)
 */
@ConfigurationProperties("example")
public record ExampleProperties(Duration reportEvery) {

  /** Refuses a report interval that is not positive, naming the setting. */
  public ExampleProperties {
    if (reportEvery == null || reportEvery.isNegative() || reportEvery.isZero()) {
      throw new IllegalArgumentException("example.report-every must be positive, got: " + reportEvery);
    }
  }
}
