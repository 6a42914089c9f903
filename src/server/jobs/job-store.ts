import type { Job, MediaFile } from "../db/models";
import { JOB_COLUMNS, MEDIA_COLUMNS, toJob, toMediaFile } from "../db/sql/row-mappers";
import { sql, type BatchStep, type SqlClient } from "../db/sql/sql-client";
import { createJobId } from "./job-id";
import type { JobStatus } from "./job-status";
import { batchJobTypeSchema } from "./job-types";

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

/** The status read every client polls: built once so its prepared statement is found by key. */
const SELECT_JOB_WITH_MEDIA = `SELECT ${JOB_COLUMNS.split(", ").map((column) => `j.${column}`).join(", ")}, ${MEDIA_COLUMNS.map((column) => `m."${column}" AS "m_${column}"`).join(", ")}
  FROM "Job" j LEFT JOIN "MediaFile" m ON m."id" = j."mediaFileId" WHERE j."id" = ?`;

/** Batch parents own no engines and are never dispatched; the list comes from the job types. */
const BATCH_TYPES_SQL = batchJobTypeSchema.options.map((type) => `'${type}'`).join(", ");

const OWNED = `"id" = ? AND "status" = 'RUNNING' AND "leaseOwner" = ? AND "attempts" = ?`;
const ownedParams = (ref: AttemptRef) => [ref.jobId, ref.owner, ref.attempt] as const;

/**
 * All job state transitions, each a conditional update so that duplicate deliveries,
 * zombie attempts and concurrent cancels can never move a job twice. Runs on prepared
 * statements (SqlClient): this is the per-job hot path.
 */
export class JobStore {
  constructor(private readonly db: SqlClient) {}

  /** Inserts a job (and its first log lines) in one transaction; returns the row as written. */
  async create(job: NewJob, log: PendingLogLine[] = []): Promise<Job> {
    const now = new Date();
    const row: Job = {
      id: job.id ?? createJobId(),
      type: job.type,
      status: job.status ?? "QUEUED",
      origin: job.origin,
      parentId: job.parentId ?? null,
      params: JSON.stringify(job.params),
      result: null,
      config: job.config === undefined ? null : JSON.stringify(job.config),
      mediaFileId: job.mediaFileId ?? null,
      language: job.language ?? null,
      enginesRequested: job.enginesRequested ?? 1,
      userId: job.userId ?? null,
      attempts: 0,
      maxAttempts: job.maxAttempts,
      lastError: null,
      failureReason: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      progress: 0,
      createdAt: now,
      startedAt: job.status === "RUNNING" ? now : null,
      finishedAt: null,
      updatedAt: now,
    };
    await this.db.batch([
      sql(
        `INSERT INTO "Job" (${JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        row.id, row.type, row.status, row.origin, row.parentId, row.params, row.result, row.config, row.mediaFileId, row.language,
        row.enginesRequested, row.userId, row.attempts, row.maxAttempts, row.lastError, row.failureReason, row.leaseOwner,
        row.leaseExpiresAt, row.progress, row.createdAt, row.startedAt, row.finishedAt, row.updatedAt,
      ),
      ...logSteps(row.id, log),
    ]);
    return row;
  }

  async find(jobId: string): Promise<Job | null> {
    const rows = await this.db.all(sql(`SELECT ${JOB_COLUMNS} FROM "Job" WHERE "id" = ?`, jobId));
    return rows[0] ? toJob(rows[0]) : null;
  }

  /** A job with its media file, in one query (the status read every client polls). */
  async findWithMedia(jobId: string): Promise<(Job & { mediaFile: MediaFile | null }) | null> {
    const rows = await this.db.all(sql(SELECT_JOB_WITH_MEDIA, jobId));
    const row = rows[0];
    if (!row) return null;
    return { ...toJob(row), mediaFile: row.m_id === null || row.m_id === undefined ? null : toMediaFile(row, "m_") };
  }

  /** QUEUED → RUNNING for `owner`, counting an attempt. Null when the job is no longer queued. */
  async claim(jobId: string, owner: string, leaseMs: number, engines: number): Promise<Job | null> {
    const now = new Date();
    const rows = await this.db.all(
      sql(
        `UPDATE "Job" SET "status" = 'RUNNING', "attempts" = "attempts" + 1, "leaseOwner" = ?, "leaseExpiresAt" = ?, "startedAt" = ?, "progress" = 0, "updatedAt" = ?
         WHERE "id" = ? AND "status" = 'QUEUED' RETURNING ${JOB_COLUMNS}`,
        owner, new Date(now.getTime() + leaseMs), now, now, jobId,
      ),
    );
    if (!rows[0]) return null;
    const job = toJob(rows[0]);
    await this.appendLog(jobId, [{ level: "info", message: `Attempt ${job.attempts} started on ${engines} engine${engines === 1 ? "" : "s"}`, at: now }]);
    return job;
  }

  /** Extends the lease; false when the attempt lost it (cancelled, reaped, or finished elsewhere). */
  async heartbeat(ref: AttemptRef, leaseMs: number, progress?: number): Promise<boolean> {
    const now = new Date();
    const lease = new Date(now.getTime() + leaseMs);
    const changed =
      progress === undefined
        ? await this.db.run(sql(`UPDATE "Job" SET "leaseExpiresAt" = ?, "updatedAt" = ? WHERE ${OWNED}`, lease, now, ...ownedParams(ref)))
        : await this.db.run(sql(`UPDATE "Job" SET "leaseExpiresAt" = ?, "progress" = ?, "updatedAt" = ? WHERE ${OWNED}`, lease, progress, now, ...ownedParams(ref)));
    return changed === 1;
  }

  /**
   * RUNNING → DONE for exactly this attempt, writing the outputs in the same transaction.
   * Returns false (and writes nothing) if the attempt no longer owns the job.
   */
  async complete(ref: AttemptRef, result: unknown, log: PendingLogLine[], outputs: readonly BatchStep[] = []): Promise<boolean> {
    const now = new Date();
    return this.db.batch([
      {
        ...sql(
          `UPDATE "Job" SET "status" = 'DONE', "result" = ?, "progress" = 1, "finishedAt" = ?, "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "failureReason" = NULL, "updatedAt" = ? WHERE ${OWNED}`,
          JSON.stringify(result), now, now, ...ownedParams(ref),
        ),
        expectChanges: 1,
      },
      ...outputs,
      ...logSteps(ref.jobId, log),
    ]);
  }

  /** RUNNING → FAILED for this attempt. */
  async fail(ref: AttemptRef, reason: string, log: PendingLogLine[]): Promise<boolean> {
    const now = new Date();
    return this.db.batch([
      {
        ...sql(
          `UPDATE "Job" SET "status" = 'FAILED', "failureReason" = ?, "lastError" = ?, "finishedAt" = ?, "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "updatedAt" = ? WHERE ${OWNED}`,
          reason, reason, now, now, ...ownedParams(ref),
        ),
        expectChanges: 1,
      },
      ...logSteps(ref.jobId, [...log, { level: "error", message: `Failed: ${reason}` }]),
    ]);
  }

  /** RUNNING → QUEUED after a transient error, keeping the attempt count. */
  async requeue(ref: AttemptRef, error: string, log: PendingLogLine[]): Promise<boolean> {
    const now = new Date();
    return this.db.batch([
      {
        ...sql(
          `UPDATE "Job" SET "status" = 'QUEUED', "lastError" = ?, "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "progress" = 0, "updatedAt" = ? WHERE ${OWNED}`,
          error, now, ...ownedParams(ref),
        ),
        expectChanges: 1,
      },
      ...logSteps(ref.jobId, [...log, { level: "warn", message: `Attempt ${ref.attempt} failed, will retry: ${error}` }]),
    ]);
  }

  /**
   * Jobs whose lease expired (their worker died): back to QUEUED, or FAILED once they have
   * used every attempt. Returns the ids re-queued so the dispatcher can pick them up.
   */
  async reapExpiredLeases(now = new Date()): Promise<{ requeued: string[]; failed: string[] }> {
    const expired = await this.db.all(sql(`SELECT "id", "attempts", "maxAttempts" FROM "Job" WHERE "status" = 'RUNNING' AND "leaseExpiresAt" < ?`, now));
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const row of expired) {
      const id = String(row.id);
      const attempts = Number(row.attempts);
      const maxAttempts = Number(row.maxAttempts);
      const stillExpired = `"id" = ? AND "status" = 'RUNNING' AND "attempts" = ? AND "leaseExpiresAt" < ?`;
      if (attempts >= maxAttempts) {
        const reason = `The worker running this job stopped responding (attempt ${attempts} of ${maxAttempts}); giving up`;
        const applied = await this.db.batch([
          {
            ...sql(`UPDATE "Job" SET "status" = 'FAILED', "failureReason" = ?, "lastError" = ?, "finishedAt" = ?, "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "updatedAt" = ? WHERE ${stillExpired}`, reason, reason, now, now, id, attempts, now),
            expectChanges: 1,
          },
          ...logSteps(id, [{ level: "error", message: reason }]),
        ]);
        if (applied) failed.push(id);
      } else {
        const message = `The worker running attempt ${attempts} stopped responding; re-queued`;
        const applied = await this.db.batch([
          {
            ...sql(`UPDATE "Job" SET "status" = 'QUEUED', "lastError" = ?, "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "progress" = 0, "updatedAt" = ? WHERE ${stillExpired}`, message, now, id, attempts, now),
            expectChanges: 1,
          },
          ...logSteps(id, [{ level: "warn", message }]),
        ]);
        if (applied) requeued.push(id);
      }
    }
    return { requeued, failed };
  }

  /** Dispatchable jobs in submission order (parents are not dispatched). */
  async listQueued(): Promise<{ id: string; enginesRequested: number }[]> {
    const rows = await this.db.all(
      sql(`SELECT "id", "enginesRequested" FROM "Job" WHERE "status" = 'QUEUED' AND "type" NOT IN (${BATCH_TYPES_SQL}) ORDER BY "createdAt" ASC, "id" ASC`),
    );
    return rows.map((row) => ({ id: String(row.id), enginesRequested: Number(row.enginesRequested) }));
  }

  async appendLog(jobId: string, lines: PendingLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.db.batch(logSteps(jobId, lines));
  }
}

/** INSERTs of log lines, one statement per line (each a cached prepared statement). */
export function logSteps(jobId: string, lines: readonly PendingLogLine[]): BatchStep[] {
  return lines.map((line) => sql(`INSERT INTO "JobLog" ("jobId", "at", "level", "message") VALUES (?, ?, ?, ?)`, jobId, line.at ?? new Date(), line.level, line.message));
}
