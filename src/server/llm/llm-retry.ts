import { setTimeout as sleep } from "node:timers/promises";

export type RetryPolicy = {
  /** Retries after the first try. */
  maxRetries: number;
  /** ms before the first retry; doubles each time, with ±20 % jitter. */
  baseDelayMs: number;
  /** ms: no wait (Retry-After included) is longer. */
  maxDelayMs: number;
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 5, baseDelayMs: 500, maxDelayMs: 60_000 };

/** What the OpenAI SDK's errors carry that decides a retry. */
type HttpishError = { status?: number; headers?: Headers | Record<string, string | null | undefined> };

/**
 * By HTTP status: 429 and 5xx may succeed later, other statuses will not. Errors without a
 * status (connection failures, timeouts) are for the caller to judge: it knows its client's
 * error classes (see openai-complete.ts).
 */
export function isRetryable(error: unknown): boolean {
  const status = (error as HttpishError)?.status;
  return typeof status === "number" && (status === 429 || status >= 500);
}

/** Retry-After in ms (seconds or an HTTP date), or null when absent or unreadable. */
export function retryAfterMs(error: unknown, now = Date.now()): number | null {
  const headers = (error as HttpishError)?.headers;
  if (!headers) return null;
  const raw = headers instanceof Headers ? headers.get("retry-after") : (headers["retry-after"] ?? null);
  if (!raw) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * Calls `attempt` until it succeeds, a non-retryable error occurs, or the retries run out.
 * Waits exponentially between tries, or as long as the server's Retry-After asks (capped).
 * `attempt` should take its limiter slot itself, so a waiting retry holds no slot.
 */
export async function withRetries<T>(
  attempt: (tryNumber: number) => Promise<T>,
  opts: { policy?: RetryPolicy; signal?: AbortSignal; retryable?: (error: unknown) => boolean; onRetry?: (error: unknown, delayMs: number, tryNumber: number) => void },
): Promise<T> {
  const policy = opts.policy ?? DEFAULT_RETRY_POLICY;
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return await attempt(tryNumber);
    } catch (error) {
      if (opts.signal?.aborted || !(opts.retryable ?? isRetryable)(error) || tryNumber > policy.maxRetries) throw error;
      const backoff = policy.baseDelayMs * 2 ** (tryNumber - 1) * (0.8 + Math.random() * 0.4);
      const delayMs = Math.min(policy.maxDelayMs, retryAfterMs(error) ?? backoff);
      opts.onRetry?.(error, delayMs, tryNumber);
      await sleep(delayMs, undefined, opts.signal ? { signal: opts.signal } : {});
    }
  }
}
