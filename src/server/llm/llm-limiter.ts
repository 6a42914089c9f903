/**
 * The one process-wide cap on in-flight LLM requests (MAX_LLM_CONCURRENCY), shared by every
 * job and batch. FIFO: a waiter is served in arrival order. A waiter whose signal aborts
 * leaves the line without taking a slot.
 */
export class LlmLimiter {
  private active = 0;
  private peak = 0;
  private readonly waiting: { grant: () => void; signal: AbortSignal | undefined; onAbort: () => void }[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`MAX_LLM_CONCURRENCY must be a positive integer, got ${limit}`);
  }

  /** Runs `task` holding one slot; the slot is released however it ends. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Requests in flight now, and the most there have been at once. */
  stats(): { active: number; peak: number; waiting: number; limit: number } {
    return { active: this.active, peak: this.peak, waiting: this.waiting.length, limit: this.limit };
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.limit && this.waiting.length === 0) {
      this.take();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener("abort", entry.onAbort);
          this.take();
          resolve();
        },
        signal,
        onAbort: () => {
          const index = this.waiting.indexOf(entry);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(signal!.reason instanceof Error ? signal!.reason : new Error("aborted"));
        },
      };
      signal?.addEventListener("abort", entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private take(): void {
    this.active++;
    this.peak = Math.max(this.peak, this.active);
  }

  private release(): void {
    this.active--;
    const next = this.waiting.shift();
    next?.grant();
  }
}
