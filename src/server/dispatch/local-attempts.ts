import type { Job } from "../db/models";
import { describeError } from "../errors";
import type { AttemptRef, JobStore, PendingLogLine } from "../jobs/job-store";
import type { JobHandlerContext, JobOutcome } from "../jobs/registry";
import type { Logger } from "../logger";
import type { AttemptEnd, AttemptSettler } from "./attempt-settler";

export type LocalAttemptOptions = {
  /** Identifies this process's attempts in lease columns. */
  owner: string;
  /** ms a lease lasts; heartbeats renew it every third of that. */
  leaseMs: number;
  /** ms one attempt may run before it is aborted and failed. */
  jobTimeoutMs: number;
  /** ms between progress writes at most (progress is throttled before the database). */
  progressFlushMs?: number;
};

/** The work of one attempt: the handler, given the attempt's context. */
export type AttemptWork = (ctx: JobHandlerContext) => Promise<JobOutcome>;

type Running = { controller: AbortController; parentId: string | null; end: AttemptEnd | null; done: Promise<void> };

/**
 * The attempts this process runs itself (engine slots, the ffmpeg pool, LLM jobs). Each
 * holds its lease with heartbeats and is aborted when it loses it (a cancel, a reaper that
 * thought it dead), runs out of time, is cancelled, or the process stops; every end goes
 * through the AttemptSettler, so a crash at any point leaves a state the reaper recovers.
 */
export class LocalAttempts {
  private readonly running = new Map<string, Running>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: JobStore,
    private readonly settler: AttemptSettler,
    private readonly logger: Logger,
    private readonly options: LocalAttemptOptions,
  ) {}

  get size(): number {
    return this.running.size;
  }

  has(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** Starts an attempt of a claimed job; `onFinished` runs once it has ended and its state is written. */
  start(job: Job, work: AttemptWork, onFinished: () => void): void {
    const entry: Running = { controller: new AbortController(), parentId: job.parentId, end: null, done: Promise.resolve() };
    this.running.set(job.id, entry);
    this.logger.info("job started", { jobId: job.id, type: job.type, attempt: job.attempts, owner: this.options.owner });
    entry.done = this.run(job, entry, work)
      .catch((error: unknown) => this.logger.error("job attempt crashed", { jobId: job.id, error: describeError(error) }))
      .finally(() => {
        this.running.delete(job.id);
        onFinished();
        if (this.running.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  /** Aborts a running attempt (no-op when it does not run here). */
  abort(jobId: string, end: AttemptEnd, message: string): void {
    const entry = this.running.get(jobId);
    if (!entry || entry.controller.signal.aborted) return;
    entry.end = end;
    entry.controller.abort(new Error(message));
  }

  abortAll(end: AttemptEnd, message: string): void {
    for (const jobId of this.running.keys()) this.abort(jobId, end, message);
  }

  /** Waits up to `graceMs` for the running attempts, then aborts the rest (back to the queue) and waits for them. */
  async drain(graceMs: number): Promise<void> {
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<"idle">((resolve) => this.idleWaiters.push(() => resolve("idle")));
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), graceMs);
    });
    const first = await Promise.race([idle, late]);
    clearTimeout(timer);
    if (first === "late") {
      this.abortAll("shutdown", "The server is shutting down");
      await idle;
    }
  }

  private async run(job: Job, entry: Running, work: AttemptWork): Promise<void> {
    const { owner, leaseMs } = this.options;
    const ref: AttemptRef & { owner: string } = { jobId: job.id, attempt: job.attempts, owner };
    const log: PendingLogLine[] = [];
    const signal = entry.controller.signal;

    let progress: number | undefined;
    let progressDirty = false;
    const beat = async () => {
      const reported = progressDirty ? progress : undefined;
      progressDirty = false;
      const stillHeld = await this.store.heartbeat(ref, job, leaseMs, reported);
      if (!stillHeld) this.abort(job.id, "lease-lost", "The job was cancelled or taken over");
    };
    const onBeatError = (error: unknown) => this.logger.warn("heartbeat failed", { jobId: job.id, error: describeError(error) });
    const heartbeat = setInterval(() => void beat().catch(onBeatError), Math.max(100, Math.floor(leaseMs / 3)));
    const progressFlush = setInterval(() => {
      if (progressDirty) void beat().catch(onBeatError);
    }, this.options.progressFlushMs ?? 1000);
    const timeout = setTimeout(() => this.abort(job.id, "timeout", `timed out after ${Math.round(this.options.jobTimeoutMs / 1000)} s`), this.options.jobTimeoutMs);

    try {
      const outcome = await work({
        job,
        attempt: ref.attempt,
        signal,
        log: (level, message) => log.push({ level, message, at: new Date() }),
        reportProgress: (fraction) => {
          progress = Math.min(1, Math.max(0, fraction));
          progressDirty = true;
        },
      });
      signal.throwIfAborted();
      await this.settler.succeed(ref, job, outcome, log);
    } catch (error) {
      const end = entry.end ?? "error";
      await this.settler.failed(ref, job, signal.aborted && signal.reason instanceof Error ? signal.reason : error, log, end);
    } finally {
      clearInterval(heartbeat);
      clearInterval(progressFlush);
      clearTimeout(timeout);
    }
  }
}
