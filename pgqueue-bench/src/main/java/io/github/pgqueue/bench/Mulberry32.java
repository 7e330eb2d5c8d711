package io.github.pgqueue.bench;

/** The latency gaps' generator of the shared workload (mulberry32, seed 42), so every driver draws the same gaps. */
final class Mulberry32 {
  private int a;

  Mulberry32(int seed) {
    this.a = seed;
  }

  /** Uniform in [0, 1). */
  double next() {
    a = a + 0x6D2B79F5;
    int t = a;
    t = (t ^ (t >>> 15)) * (1 | t);
    t = (t + ((t ^ (t >>> 7)) * (61 | t))) ^ t;
    return ((t ^ (t >>> 14)) & 0xFFFFFFFFL) / 4294967296.0;
  }
}
