/** How long a job waits before its next attempt after a transient failure. */
export type RetryPolicy = {
  /** ms before the second attempt; doubles with each attempt after. */
  baseMs: number;
  /** ms: no backoff is longer. */
  maxMs: number;
};

/**
 * ms to wait after attempt `attempt` (1-based) failed: base · 2^(attempt−1), capped, then
 * "equal jitter" (between half and all of it), so jobs that failed together (an endpoint
 * down for everyone) do not all come back at the same instant.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exponential / 2 + (exponential / 2) * random());
}
