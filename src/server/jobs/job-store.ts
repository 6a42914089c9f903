import type { Db } from "../db/client";
import type { Job } from "../db/models";
import { createJobId } from "./job-id";
import type { JobStatus } from "./job-status";

/** A log line waiting to be written with the job's next state change. */
export type PendingLogLine = { level: "info" | "warn" | "error"; message: string; at?: Date };

export type NewJob = {
  /** Preassigned id (engines may be reserved under it before the row exists). */
  id?: string;
  type: string;
  origin: string;
  params: unknown;
  config?: unknown;
  mediaFileId?: string | null;
  language?: string | null;
  enginesRequested?: number;
  userId?: string | null;
  maxAttempts: number;
  parentId?: string | null;
  status?: JobStatus;
};

/** Identifies one attempt of a running job; every write of that attempt is conditional on it. */
export type AttemptRef = { jobId: string; owner: string; attempt: number };

/**
 * All job state transitions, each a conditional update so that duplicate deliveries,
 * zombie attempts and concurrent cancels can never move a job twice.
 */
export class JobStore {
  constructor(private readonly db: Db) {}

  async create(job: NewJob, log: PendingLogLine[] = []): Promise<Job> {
    const id = job.id ?? createJobId();
    return this.db.job.create({
      data: {
        id,
        type: job.type,
        origin: job.origin,
        status: job.status ?? "QUEUED",
        params: JSON.stringify(job.params),
        config: job.config === undefined ? null : JSON.stringify(job.config),
        mediaFileId: job.mediaFileId ?? null,
        language: job.language ?? null,
        enginesRequested: job.enginesRequested ?? 1,
        userId: job.userId ?? null,
        maxAttempts: job.maxAttempts,
        parentId: job.parentId ?? null,
        startedAt: job.status === "RUNNING" ? new Date() : null,
        logs: log.length ? { create: log.map((line) => ({ level: line.level, message: line.message, at: line.at ?? new Date() })) } : undefined,
      },
    });
  }

  find(jobId: string): Promise<Job | null> {
    return this.db.job.findUnique({ where: { id: jobId } });
  }

  /** QUEUED → RUNNING for `owner`, counting an attempt. Null when the job is no longer queued. */
  async claim(jobId: string, owner: string, leaseMs: number, engines: number): Promise<Job | null> {
    const now = new Date();
    const job = await this.db.job.findUnique({ where: { id: jobId }, select: { attempts: true, status: true } });
    if (!job || job.status !== "QUEUED") return null;
    const attempt = job.attempts + 1;
    const { count } = await this.db.job.updateMany({
      where: { id: jobId, status: "QUEUED", attempts: job.attempts },
      data: { status: "RUNNING", attempts: attempt, leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + leaseMs), startedAt: now, progress: 0 },
    });
    if (count !== 1) return null;
    await this.appendLog(jobId, [{ level: "info", message: `Attempt ${attempt} started on ${engines} engine${engines === 1 ? "" : "s"}` }]);
    return this.db.job.findUnique({ where: { id: jobId } });
  }

  /** Extends the lease; false when the attempt lost it (cancelled, reaped, or finished elsewhere). */
  async heartbeat(ref: AttemptRef, leaseMs: number, progress?: number): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: { id: ref.jobId, status: "RUNNING", leaseOwner: ref.owner, attempts: ref.attempt },
      data: { leaseExpiresAt: new Date(Date.now() + leaseMs), ...(progress === undefined ? {} : { progress }) },
    });
    return count === 1;
  }

  /**
   * RUNNING → DONE for exactly this attempt, writing the outputs in the same transaction.
   * Returns false (and writes nothing) if the attempt no longer owns the job.
   */
  async complete(
    ref: AttemptRef,
    result: unknown,
    log: PendingLogLine[],
    writeOutputs: (tx: Db) => Promise<void>,
  ): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const { count } = await tx.job.updateMany({
        where: { id: ref.jobId, status: "RUNNING", leaseOwner: ref.owner, attempts: ref.attempt },
        data: { status: "DONE", result: JSON.stringify(result), progress: 1, finishedAt: new Date(), leaseOwner: null, leaseExpiresAt: null, failureReason: null },
      });
      if (count !== 1) return false;
      await writeOutputs(tx as unknown as Db);
      await tx.jobLog.createMany({ data: log.map((line) => ({ jobId: ref.jobId, level: line.level, message: line.message, at: line.at ?? new Date() })) });
      return true;
    });
  }

  /** RUNNING → FAILED for this attempt. */
  async fail(ref: AttemptRef, reason: string, log: PendingLogLine[]): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: { id: ref.jobId, status: "RUNNING", leaseOwner: ref.owner, attempts: ref.attempt },
      data: { status: "FAILED", failureReason: reason, lastError: reason, finishedAt: new Date(), leaseOwner: null, leaseExpiresAt: null },
    });
    if (count === 1) await this.appendLog(ref.jobId, [...log, { level: "error", message: `Failed: ${reason}` }]);
    return count === 1;
  }

  /** RUNNING → QUEUED after a transient error, keeping the attempt count. */
  async requeue(ref: AttemptRef, error: string, log: PendingLogLine[]): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: { id: ref.jobId, status: "RUNNING", leaseOwner: ref.owner, attempts: ref.attempt },
      data: { status: "QUEUED", lastError: error, leaseOwner: null, leaseExpiresAt: null, progress: 0 },
    });
    if (count === 1) await this.appendLog(ref.jobId, [...log, { level: "warn", message: `Attempt ${ref.attempt} failed, will retry: ${error}` }]);
    return count === 1;
  }

  /**
   * Jobs whose lease expired (their worker died): back to QUEUED, or FAILED once they have
   * used every attempt. Returns the ids re-queued so the dispatcher can pick them up.
   */
  async reapExpiredLeases(now = new Date()): Promise<{ requeued: string[]; failed: string[] }> {
    const expired = await this.db.job.findMany({
      where: { status: "RUNNING", leaseExpiresAt: { lt: now } },
      select: { id: true, attempts: true, maxAttempts: true, leaseOwner: true, leaseExpiresAt: true },
    });
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const job of expired) {
      const where = { id: job.id, status: "RUNNING", attempts: job.attempts, leaseExpiresAt: job.leaseExpiresAt };
      if (job.attempts >= job.maxAttempts) {
        const reason = `The worker running this job stopped responding (attempt ${job.attempts} of ${job.maxAttempts}); giving up`;
        const { count } = await this.db.job.updateMany({
          where,
          data: { status: "FAILED", failureReason: reason, lastError: reason, finishedAt: now, leaseOwner: null, leaseExpiresAt: null },
        });
        if (count === 1) {
          failed.push(job.id);
          await this.appendLog(job.id, [{ level: "error", message: reason }]);
        }
      } else {
        const message = `The worker running attempt ${job.attempts} stopped responding; re-queued`;
        const { count } = await this.db.job.updateMany({
          where,
          data: { status: "QUEUED", lastError: message, leaseOwner: null, leaseExpiresAt: null, progress: 0 },
        });
        if (count === 1) {
          requeued.push(job.id);
          await this.appendLog(job.id, [{ level: "warn", message }]);
        }
      }
    }
    return { requeued, failed };
  }

  /** Dispatchable jobs in submission order (parents are not dispatched). */
  async listQueued(): Promise<{ id: string; enginesRequested: number }[]> {
    return this.db.job.findMany({
      where: { status: "QUEUED", type: { notIn: ["batch_transcribe", "batch_generate_srt"] } },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      select: { id: true, enginesRequested: true },
    });
  }

  async appendLog(jobId: string, lines: PendingLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.db.jobLog.createMany({ data: lines.map((line) => ({ jobId, level: line.level, message: line.message, at: line.at ?? new Date() })) });
  }
}
