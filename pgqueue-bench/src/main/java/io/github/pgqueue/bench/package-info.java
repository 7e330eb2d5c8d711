/** Benchmark and soak drivers for pgqueue. Not a published API. */
package io.github.pgqueue.bench;
