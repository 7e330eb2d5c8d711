package io.github.pgqueue;

/**
 * What {@link JobQueue#retryDiscarded(String, String)} did.
 *
 * @param retried how many discarded jobs were made available again, with a fresh attempt budget
 * @param skipped how many matching discarded jobs were left discarded because their unique key was
 *     taken: by a pending or running job, or by another matching job with the same key that was
 *     retried instead
 */
public record RetryDiscardedResult(int retried, int skipped) {}
