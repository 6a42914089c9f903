import { randomBytes } from "node:crypto";
import os from "node:os";
import { describeError, isPermanent } from "../errors";
import type { Job } from "../db/models";
import type { JobEvents } from "../jobs/job-events";
import type { JobStore, PendingLogLine, AttemptRef } from "../jobs/job-store";
import type { JobHandlerRegistry } from "../jobs/registry";
import type { Logger } from "../logger";
import type { EnginePool } from "../../worker/engine-pool";

export type DispatcherOptions = {
  /** ms a lease lasts; heartbeats renew it every third of that. */
  leaseMs: number;
  /** ms one attempt may run before it is aborted and failed. */
  jobTimeoutMs: number;
  /** ms between sweeps for jobs whose worker died. */
  reapIntervalMs?: number;
};

type Running = { controller: AbortController; done: Promise<void>; cancelReason: string | null };

/**
 * The embedded dispatcher: a FIFO of queued jobs, N engine slots, one attempt per job at a
 * time. Jobs submitted through the worker API reserve their engines before the job row is
 * written and start at once; queued jobs start when enough slots are free. Every state
 * change goes through JobStore's conditional updates, so a crash at any point leaves the
 * database in a state the next start recovers from.
 */
export class InProcessDispatcher {
  /** Identifies this process's attempts in lease columns. */
  readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  private readonly queue: { jobId: string; engines: number }[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Map<string, Running>();
  private reaper: NodeJS.Timeout | null = null;
  private accepting = true;
  private closed = false;

  constructor(
    private readonly store: JobStore,
    private readonly pool: EnginePool,
    private readonly registry: JobHandlerRegistry,
    private readonly events: JobEvents,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {}

  /** Re-queues jobs a crash left behind and starts the periodic lease sweep. */
  async start(): Promise<{ requeued: number; failed: number; queued: number }> {
    const reaped = await this.reap();
    const queued = await this.store.listQueued();
    for (const job of queued) this.enqueue(job.id, job.enginesRequested);
    const interval = this.options.reapIntervalMs ?? Math.max(250, Math.floor(this.options.leaseMs / 2));
    this.reaper = setInterval(() => {
      this.reap().catch((error) => this.logger.error("lease sweep failed", { error: describeError(error) }));
    }, interval);
    this.reaper.unref();
    this.pump();
    return { requeued: reaped.requeued.length, failed: reaped.failed.length, queued: queued.length };
  }

  /** Queues an already persisted job. */
  submit(jobId: string, engines: number): void {
    if (!this.accepting) return;
    this.enqueue(jobId, engines);
    this.pump();
  }

  /** Reserves engines for a job about to be created; false when not enough are free right now. */
  reserve(jobId: string, engines: number): boolean {
    if (!this.accepting) return false;
    return this.pool.tryReserve(jobId, engines) !== null;
  }

  /** Starts a job whose engines were reserved with `reserve` and whose row now exists. */
  startReserved(jobId: string): void {
    this.launch(jobId);
  }

  releaseReservation(jobId: string): void {
    this.pool.release(jobId);
    this.pump();
  }

  /** Stops a job: drops it from the queue or aborts its running attempt. */
  abort(jobId: string, reason: string): void {
    if (this.queued.delete(jobId)) {
      const index = this.queue.findIndex((entry) => entry.jobId === jobId);
      if (index >= 0) this.queue.splice(index, 1);
    }
    const running = this.running.get(jobId);
    if (running) {
      running.cancelReason = reason;
      running.controller.abort(new Error(reason));
    }
  }

  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /**
   * Stops taking work and waits for running attempts. After `graceMs` (or at once with
   * force) running attempts are aborted and put back in the queue for the next start.
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.accepting = false;
    if (this.reaper) clearInterval(this.reaper);
    this.queue.length = 0;
    this.queued.clear();
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const grace = opts.graceMs ?? 30_000;
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), grace).unref());
    if ((await Promise.race([all().then(() => "done" as const), timer])) === "timeout") {
      for (const running of this.running.values()) {
        running.cancelReason = "shutdown";
        running.controller.abort(new Error("The server is shutting down"));
      }
      await all();
    }
  }

  private enqueue(jobId: string, engines: number): void {
    if (this.queued.has(jobId) || this.running.has(jobId)) return;
    this.queued.add(jobId);
    this.queue.push({ jobId, engines });
  }

  /** Starts queued jobs while the head of the queue fits in the free slots (FIFO, no overtaking). */
  private pump(): void {
    while (this.accepting && this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.engines > this.pool.size) {
        // Cannot ever run here; let the attempt fail with a clear reason rather than block the queue.
        this.queue.shift();
        this.queued.delete(head.jobId);
        void this.failUnrunnable(head.jobId, `The job asks for ${head.engines} engines but this server has ${this.pool.size}`);
        continue;
      }
      if (!this.pool.tryReserve(head.jobId, head.engines)) return;
      this.queue.shift();
      this.queued.delete(head.jobId);
      this.launch(head.jobId);
    }
  }

  private launch(jobId: string): void {
    const controller = new AbortController();
    const entry: Running = { controller, done: Promise.resolve(), cancelReason: null };
    this.running.set(jobId, entry);
    entry.done = this.runAttempt(jobId, entry)
      .catch((error) => this.logger.error("job attempt crashed", { jobId, error: describeError(error) }))
      .finally(() => {
        this.running.delete(jobId);
        this.pool.release(jobId);
        this.pump();
      });
  }

  private async runAttempt(jobId: string, entry: Running): Promise<void> {
    const engines = this.pool.snapshot().activeJobs.find((job) => job.jobId === jobId)?.parallelEngines ?? 1;
    const job = await this.store.claim(jobId, this.owner, this.options.leaseMs, engines);
    if (!job) return; // cancelled, deleted or taken by another process meanwhile
    const ref: AttemptRef = { jobId, owner: this.owner, attempt: job.attempts };
    const log: PendingLogLine[] = [];
    const handler = this.registry.get(job.type);
    if (!handler) {
      await this.settleFailure(ref, job.parentId, `Unknown job type "${job.type}": no handler is registered for it`, log);
      return;
    }

    let progress: number | undefined;
    let progressDirty = false;
    const beat = async () => {
      const stillOwned = await this.store.heartbeat(ref, this.options.leaseMs, progressDirty ? progress : undefined);
      progressDirty = false;
      if (!stillOwned && !entry.controller.signal.aborted) {
        entry.cancelReason = "lease lost";
        entry.controller.abort(new Error("The job was cancelled or taken over"));
      }
    };
    const heartbeat = setInterval(() => void beat().catch((error) => this.logger.warn("heartbeat failed", { jobId, error: describeError(error) })), Math.max(100, Math.floor(this.options.leaseMs / 3)));
    const progressFlush = setInterval(() => {
      if (progressDirty) void beat().catch(() => undefined);
    }, 1000);
    const timeout = setTimeout(() => {
      entry.cancelReason = "timeout";
      entry.controller.abort(new Error(`timed out after ${Math.round(this.options.jobTimeoutMs / 1000)} s`));
    }, this.options.jobTimeoutMs);

    try {
      const lease = await this.pool.materialize(jobId);
      const outcome = await handler({
        job,
        attempt: ref.attempt,
        engines: lease.engines,
        signal: entry.controller.signal,
        log: (level, message) => log.push({ level, message, at: new Date() }),
        reportProgress: (fraction) => {
          progress = Math.min(1, Math.max(0, fraction));
          progressDirty = true;
        },
      });
      if (entry.controller.signal.aborted) throw entry.controller.signal.reason;
      const applied = await this.store.complete(ref, outcome.result, [...log, { level: "info", message: "Done" }], outcome.outputs ?? []);
      if (applied) this.events.emitSettled({ jobId, parentId: job.parentId, status: "DONE" });
      else this.logger.warn("completion ignored: the attempt no longer owns the job", { jobId, attempt: ref.attempt });
    } catch (error) {
      await this.handleAttemptError(ref, job, entry, error, log);
    } finally {
      clearInterval(heartbeat);
      clearInterval(progressFlush);
      clearTimeout(timeout);
    }
  }

  private async handleAttemptError(ref: AttemptRef, job: Pick<Job, "parentId" | "maxAttempts" | "enginesRequested">, entry: Running, error: unknown, log: PendingLogLine[]): Promise<void> {
    const { parentId, maxAttempts } = job;
    const message = describeError(error);
    switch (entry.cancelReason) {
      case "lease lost":
        return; // someone else (a cancel, the reaper) already moved the job on
      case "shutdown":
        await this.store.requeue(ref, "The server shut down during this attempt", log);
        return;
      case "timeout":
        await this.settleFailure(ref, parentId, `The job ${message}`, log);
        return;
      default:
        if (entry.cancelReason !== null) return; // cancelled by a user: the cancel already wrote the state
    }
    this.logger.warn("job attempt failed", { jobId: ref.jobId, attempt: ref.attempt, error: message });
    if (isPermanent(error) || ref.attempt >= maxAttempts) {
      const reason = isPermanent(error) || maxAttempts === 1 ? message : `${message} (after ${ref.attempt} attempts)`;
      await this.settleFailure(ref, parentId, reason, log);
      return;
    }
    if (await this.store.requeue(ref, message, log)) this.enqueue(ref.jobId, job.enginesRequested);
  }

  private async settleFailure(ref: AttemptRef, parentId: string | null, reason: string, log: PendingLogLine[]): Promise<void> {
    if (await this.store.fail(ref, reason, log)) {
      this.logger.warn("job failed", { jobId: ref.jobId, reason });
      this.events.emitSettled({ jobId: ref.jobId, parentId, status: "FAILED" });
    }
  }

  private async failUnrunnable(jobId: string, reason: string): Promise<void> {
    const job = await this.store.claim(jobId, this.owner, this.options.leaseMs, 0);
    if (job) await this.settleFailure({ jobId, owner: this.owner, attempt: job.attempts }, job.parentId, reason, []);
  }

  private async reap(): Promise<{ requeued: string[]; failed: string[] }> {
    const reaped = await this.store.reapExpiredLeases();
    for (const jobId of reaped.failed) {
      const job = await this.store.find(jobId);
      this.logger.warn("job failed after its worker was lost", { jobId });
      this.events.emitSettled({ jobId, parentId: job?.parentId ?? null, status: "FAILED" });
    }
    for (const jobId of reaped.requeued) {
      const job = await this.store.find(jobId);
      this.logger.info("job re-queued after its worker was lost", { jobId });
      if (job) this.enqueue(job.id, job.enginesRequested);
    }
    if (reaped.requeued.length) this.pump();
    return reaped;
  }
}
