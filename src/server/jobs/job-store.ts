import type { Job, MediaFile } from "../db/models";
import { JOB_COLUMNS, MEDIA_COLUMNS, strOrNull, toDate, toJob, toMediaFile } from "../db/sql/row-mappers";
import { sql, type BatchStep, type SqlClient, type SqlStatement, type SqlValue } from "../db/sql/sql-client";
import { createJobId } from "./job-id";
import type { JobEvent, JobEventBus } from "./job-events";
import { TERMINAL_STATUSES_SQL, type JobStatus } from "./job-status";
import { laneOf, laneSchema, type Lane } from "./lanes";

/** A log line written with a job's next state change. */
export type PendingLogLine = { level: "info" | "warn" | "error"; message: string; at?: Date };

export type NewJob = {
  /** Preassigned id; a new one by default. */
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
};

/**
 * One attempt of a running job; every write of that attempt is conditional on it. With an
 * owner (an attempt this process runs) the owner must still hold the lease; without one (a
 * result from the remote fleet, applied by whichever replica received it) the attempt
 * number alone fences stale and duplicate results.
 */
export type AttemptRef = { jobId: string; attempt: number; owner?: string };

/** What to do with the claimed jobs: which lanes, for whom, and how many fit. */
export type ClaimRequest = {
  lanes: readonly Lane[];
  owner: string;
  /** ms the claimed attempts' leases last before a heartbeat must renew them. */
  leaseMs: number;
  /** At most this many jobs. */
  limit: number;
  /**
   * Engine slots free: the claimed jobs' enginesRequested add up to at most this, taken as a
   * prefix of the queue (no overtaking: a job that does not fit holds back the ones behind it).
   */
  engineBudget?: number;
  /** Jobs asking for more engines than this never run in this process and are passed over. */
  maxEngines?: number;
};

/** A job with its media file, as claims return it: the attempt needs both, and one read serves. */
export type JobWithMedia = Job & { mediaFile: MediaFile | null };

/** Jobs changed by a user action (cancel, retry), for events and for aborting running attempts. */
export type TouchedJob = { id: string; parentId: string | null; lane: Lane | null };

/** The status read every client polls: built once so its prepared statement is found by key. */
const JOB_AND_MEDIA_COLUMNS = `${JOB_COLUMNS.split(", ").map((column) => `j.${column}`).join(", ")}, ${MEDIA_COLUMNS.map((column) => `m."${column}" AS "m_${column}"`).join(", ")}`;
const SELECT_JOB_WITH_MEDIA = `SELECT ${JOB_AND_MEDIA_COLUMNS} FROM "Job" j LEFT JOIN "MediaFile" m ON m."id" = j."mediaFileId" WHERE j."id" = ?`;

const INSERT_JOB_PREFIX = `INSERT INTO "Job" (${JOB_COLUMNS}) VALUES `;
const JOB_PLACEHOLDERS = `(${JOB_COLUMNS.split(", ").map(() => "?").join(", ")})`;
/** Rows per multi-row INSERT of jobs: 25 columns × 200 rows stays under both databases' parameter limits. */
const JOBS_PER_INSERT = 200;
/** Rows per multi-row INSERT of log lines (4 columns). */
const LOG_LINES_PER_INSERT = 500;

const RUNNING_ATTEMPT = `"id" = ? AND "status" = 'RUNNING' AND "attempts" = ?`;
const CLEARED_LEASE = `"leaseOwner" = NULL, "leaseExpiresAt" = NULL`;

/** The WHERE of an attempt's writes, and its parameters. */
function attemptCondition(ref: AttemptRef): { where: string; params: SqlValue[] } {
  return ref.owner === undefined
    ? { where: RUNNING_ATTEMPT, params: [ref.jobId, ref.attempt] }
    : { where: `${RUNNING_ATTEMPT} AND "leaseOwner" = ?`, params: [ref.jobId, ref.attempt, ref.owner] };
}

const placeholders = (values: readonly unknown[]) => values.map(() => "?").join(", ");

/**
 * The job state machine and the queue. Every status transition is here, each one
 * conditional statement in a transaction (with the log lines and outputs that go with it),
 * so duplicate deliveries, zombie attempts, concurrent cancels and several replicas can never
 * move a job twice. After each committed transition an event goes to the bus.
 *
 * QUEUED ─claim→ RUNNING ─complete→ DONE
 *   ▲              │ └─fail→ FAILED (permanent error, or attempts used up)
 *   └─retryLater───┘ (backoff via runAt; also lease expiry and shutdown)
 * QUEUED | RUNNING ─cancel→ CANCELLED;  FAILED | CANCELLED ─retry→ QUEUED
 *
 * Runs on prepared statements (SqlClient): this is the per-job hot path.
 */
export class JobStore {
  private readonly claims = new ClaimTimings();

  constructor(
    private readonly db: SqlClient,
    private readonly bus: JobEventBus,
  ) {}

  /** How long claim statements took in this process (operators and the benchmark read it at shutdown). */
  claimStats(): ClaimStats {
    return this.claims.stats();
  }

  /**
   * A QUEUED job, claimable at once; the job and its first log lines in one transaction,
   * after `before` (the row of the upload it uses) and before `after` (rows that reference
   * the job: its webhooks).
   */
  async create(job: NewJob, log: PendingLogLine[] = [], before: readonly BatchStep[] = [], after: readonly BatchStep[] = []): Promise<Job> {
    const row = newJobRow(job, new Date());
    await this.db.batch([...before, insertJobs([row]), ...after, ...logSteps(row.id, log)]);
    this.publish(changed(row), ...runnable(row.lane, row.runAt));
    return row;
  }

  /**
   * A job that starts now in this process (the worker API's immediate admission): written
   * RUNNING with attempt 1 held by `owner`, so no other replica can claim it.
   */
  async createRunning(job: NewJob, owner: string, leaseMs: number, log: PendingLogLine[] = [], before: readonly BatchStep[] = [], after: readonly BatchStep[] = []): Promise<Job> {
    const now = new Date();
    const row: Job = { ...newJobRow(job, now), status: "RUNNING", attempts: 1, leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + leaseMs), startedAt: now };
    await this.db.batch([...before, insertJobs([row]), ...after, ...logSteps(row.id, log), logAttemptStarted(row.id, now)]);
    this.publish(changed(row));
    return row;
  }

  /**
   * A batch: its parent (RUNNING from the start; it aggregates, it is never claimed) and one
   * QUEUED child per entry, in one transaction. Children keep their order in the queue.
   */
  async createBatch(parent: NewJob, children: readonly NewJob[], log: PendingLogLine[], after: readonly BatchStep[] = []): Promise<{ parent: Job; childIds: string[] }> {
    const now = new Date();
    const parentRow: Job = { ...newJobRow(parent, now), status: "RUNNING", lane: null, startedAt: now };
    const first = creationTime(children.length).getTime();
    const childRows = children.map((child, index) => ({
      ...newJobRow(child, now),
      parentId: parentRow.id,
      // Distinct, ordered creation times list the files in the order they were given.
      createdAt: new Date(first + index),
    }));
    const steps: BatchStep[] = [insertJobs([parentRow]), ...after];
    for (let start = 0; start < childRows.length; start += JOBS_PER_INSERT) steps.push(insertJobs(childRows.slice(start, start + JOBS_PER_INSERT)));
    steps.push(...logSteps(parentRow.id, log));
    await this.db.batch(steps);
    const lanes = new Set(childRows.map((row) => row.lane));
    this.publish(changed(parentRow), ...[...lanes].flatMap((lane) => runnable(lane, now)));
    return { parent: parentRow, childIds: childRows.map((row) => row.id) };
  }

  async find(jobId: string): Promise<Job | null> {
    const rows = await this.db.all(sql(`SELECT ${JOB_COLUMNS} FROM "Job" WHERE "id" = ?`, jobId));
    return rows[0] ? toJob(rows[0]) : null;
  }

  /** A job with its media file, in one query (the status read every client polls). */
  async findWithMedia(jobId: string): Promise<JobWithMedia | null> {
    const rows = await this.db.all(sql(SELECT_JOB_WITH_MEDIA, jobId));
    return rows[0] ? toJobWithMedia(rows[0]) : null;
  }

  /**
   * QUEUED → RUNNING for the oldest runnable jobs of the lanes, in one statement: on
   * PostgreSQL the candidates are locked with SKIP LOCKED, so replicas claiming at once take
   * different jobs and never wait on each other. Each claimed job counts an attempt.
   */
  async claim(request: ClaimRequest): Promise<JobWithMedia[]> {
    if (request.limit <= 0 || request.lanes.length === 0) return [];
    const now = claimInstant();
    const lock = this.db.dialect === "postgresql" ? " FOR UPDATE SKIP LOCKED" : "";
    const maxEngines = request.maxEngines === undefined ? "" : ` AND "enginesRequested" <= ?`;
    const candidates = `SELECT "id", "enginesRequested", "runAt", "createdAt" FROM "Job"
      WHERE "status" = 'QUEUED' AND "lane" IN (${placeholders(request.lanes)}) AND "runAt" <= ?${maxEngines}
      ORDER BY "runAt", "createdAt", "id" LIMIT ?${lock}`;
    const candidateParams: SqlValue[] = [...request.lanes, now, ...(request.maxEngines === undefined ? [] : [request.maxEngines]), request.limit];
    // With an engine budget, only the prefix of the candidates whose engines fit is taken.
    const chosen =
      request.engineBudget === undefined
        ? `SELECT "id" FROM candidates`
        : `SELECT "id" FROM (SELECT "id", SUM("enginesRequested") OVER (ORDER BY "runAt", "createdAt", "id") AS "upTo" FROM candidates) fitting WHERE "upTo" <= ?`;
    const setRunning = `UPDATE "Job" SET "status" = 'RUNNING', "attempts" = "attempts" + 1, "leaseOwner" = ?, "leaseExpiresAt" = ?, "startedAt" = ?, "progress" = 0, "updatedAt" = ?
       WHERE "id" IN (${chosen}) AND "status" = 'QUEUED' RETURNING ${JOB_COLUMNS}`;
    const updateParams: SqlValue[] = [request.owner, new Date(now.getTime() + request.leaseMs), now, now, ...(request.engineBudget === undefined ? [] : [request.engineBudget])];
    let rows: Record<string, unknown>[];
    const started = performance.now();
    if (this.db.dialect === "postgresql") {
      // One round trip: claim, log each attempt, and read the jobs' media, in one statement.
      rows = await this.db.all(
        sql(
          `WITH candidates AS (${candidates}), claimed AS (${setRunning}),
           logged AS (INSERT INTO "JobLog" ("jobId", "at", "level", "message") SELECT "id", ?, 'info', ${ATTEMPT_STARTED_SQL} FROM claimed)
           SELECT ${JOB_AND_MEDIA_COLUMNS} FROM claimed j LEFT JOIN "MediaFile" m ON m."id" = j."mediaFileId"`,
          ...candidateParams, ...updateParams, now,
        ),
      );
    } else {
      // SQLite serialises writers: the claimed rows are exactly this owner's rows started at
      // this instant, which no other claim of this process shares (see claimInstant).
      const justClaimed = `j."status" = 'RUNNING' AND j."leaseOwner" = ? AND j."startedAt" = ? AND j."lane" IN (${placeholders(request.lanes)})`;
      const results = await this.db.transact([
        sql(`WITH candidates AS (${candidates}) ${setRunning}`, ...candidateParams, ...updateParams),
        sql(`INSERT INTO "JobLog" ("jobId", "at", "level", "message") SELECT j."id", ?, 'info', ${ATTEMPT_STARTED_SQL} FROM "Job" j WHERE ${justClaimed}`, now, request.owner, now, ...request.lanes),
        sql(`SELECT ${JOB_AND_MEDIA_COLUMNS} FROM "Job" j LEFT JOIN "MediaFile" m ON m."id" = j."mediaFileId" WHERE ${justClaimed}`, request.owner, now, ...request.lanes),
      ]);
      rows = results?.[2] ?? [];
    }
    const jobs = rows.map(toJobWithMedia).sort(queueOrder);
    this.claims.record(performance.now() - started, jobs.length);
    this.publish(...jobs.map((job) => changed(job)));
    return jobs;
  }

  /**
   * RUNNING → QUEUED for a job claimed that this process cannot start after all (the slots
   * went to another request during the claim): as if never claimed, its attempt not counted.
   */
  async unclaim(ref: AttemptRef & { owner: string }, job: Pick<Job, "parentId" | "lane">): Promise<boolean> {
    const now = new Date();
    const { where, params } = attemptCondition(ref);
    const applied = await this.db.batch([
      {
        ...sql(`UPDATE "Job" SET "status" = 'QUEUED', "attempts" = "attempts" - 1, "startedAt" = NULL, ${CLEARED_LEASE}, "updatedAt" = ? WHERE ${where}`, now, ...params),
        expectChanges: 1,
      },
      ...logSteps(ref.jobId, [{ level: "info", message: `Attempt ${ref.attempt} handed back before it started: no engine was free after all`, at: now }]),
    ]);
    if (applied) this.publish({ type: "changed", jobId: ref.jobId, parentId: job.parentId, status: "QUEUED", progress: 0 }, ...runnable(job.lane, now));
    return applied;
  }

  /** When the next queued job of the lanes becomes claimable (null: none queued). */
  async nextRunAt(lanes: readonly Lane[]): Promise<Date | null> {
    if (lanes.length === 0) return null;
    const rows = await this.db.all(sql(`SELECT MIN("runAt") AS "next" FROM "Job" WHERE "status" = 'QUEUED' AND "lane" IN (${placeholders(lanes)})`, ...lanes));
    const next = rows[0]?.next;
    return next === null || next === undefined ? null : toDate(next);
  }

  /** Jobs per status in the lanes (queued and running are the scheduler's backlog and load). */
  async countByStatus(lanes: readonly Lane[]): Promise<{ queued: number; running: number }> {
    const rows = await this.db.all(
      sql(`SELECT "status", COUNT(*) AS "count" FROM "Job" WHERE "status" IN ('QUEUED', 'RUNNING') AND "lane" IN (${placeholders(lanes)}) GROUP BY "status"`, ...lanes),
    );
    const count = (status: string) => Number(rows.find((row) => row.status === status)?.count ?? 0);
    return { queued: count("QUEUED"), running: count("RUNNING") };
  }

  /** Jobs by type, status and lane, in one GROUP BY (GET /metrics reads it at each scrape). */
  async countByTypeStatusLane(): Promise<{ type: string; status: string; lane: string | null; count: number }[]> {
    const rows = await this.db.all(sql(`SELECT "type", "status", "lane", COUNT(*) AS "count" FROM "Job" GROUP BY "type", "status", "lane"`));
    return rows.map((row) => ({ type: String(row.type), status: String(row.status), lane: strOrNull(row.lane), count: Number(row.count) }));
  }

  /** The owner (userId, null: unowned) of each job of `jobIds` that exists. */
  async ownersOf(jobIds: readonly string[]): Promise<Map<string, string | null>> {
    const owners = new Map<string, string | null>();
    for (let i = 0; i < jobIds.length; i += 500) {
      const chunk = jobIds.slice(i, i + 500);
      const rows = await this.db.all(sql(`SELECT "id", "userId" FROM "Job" WHERE "id" IN (${placeholders(chunk)})`, ...chunk));
      for (const row of rows) owners.set(String(row.id), strOrNull(row.userId));
    }
    return owners;
  }

  /**
   * Work done per user: jobs that process a file (batch parents are not counted, their
   * children are), how many finished DONE, and the seconds of audio transcribed. `userId`
   * restricts it to one user; otherwise every user (null: unowned jobs).
   */
  async usage(userId?: string): Promise<{ userId: string | null; jobs: number; done: number; audioSeconds: number }[]> {
    const rows = await this.db.all(
      sql(
        `SELECT j."userId" AS "userId", COUNT(*) AS "jobs", SUM(CASE WHEN j."status" = 'DONE' THEN 1 ELSE 0 END) AS "done", COALESCE(SUM(t."durationS"), 0) AS "audioSeconds"
         FROM "Job" j LEFT JOIN "Transcript" t ON t."jobId" = j."id"
         WHERE j."lane" IS NOT NULL${userId === undefined ? "" : ` AND j."userId" = ?`}
         GROUP BY j."userId" ORDER BY j."userId"`,
        ...(userId === undefined ? [] : [userId]),
      ),
    );
    return rows.map((row) => ({
      userId: strOrNull(row.userId),
      jobs: Number(row.jobs),
      done: Number(row.done ?? 0),
      audioSeconds: Number(row.audioSeconds ?? 0),
    }));
  }

  /** Running jobs of the lanes with the engines they hold, oldest first (the remote fleet's active jobs). */
  async listRunning(lanes: readonly Lane[], limit: number): Promise<{ id: string; enginesRequested: number }[]> {
    const rows = await this.db.all(
      sql(`SELECT "id", "enginesRequested" FROM "Job" WHERE "status" = 'RUNNING' AND "lane" IN (${placeholders(lanes)}) ORDER BY "startedAt", "id" LIMIT ?`, ...lanes, limit),
    );
    return rows.map((row) => ({ id: String(row.id), enginesRequested: Number(row.enginesRequested) }));
  }

  /** Extends this process's lease on an attempt; false when the attempt lost it (cancelled, reaped, finished). */
  async heartbeat(ref: AttemptRef & { owner: string }, job: Pick<Job, "parentId">, leaseMs: number, progress?: number): Promise<boolean> {
    const now = new Date();
    const lease = new Date(now.getTime() + leaseMs);
    const { where, params } = attemptCondition(ref);
    const changes =
      progress === undefined
        ? await this.db.run(sql(`UPDATE "Job" SET "leaseExpiresAt" = ?, "updatedAt" = ? WHERE ${where}`, lease, now, ...params))
        : await this.db.run(sql(`UPDATE "Job" SET "leaseExpiresAt" = ?, "progress" = ?, "updatedAt" = ? WHERE ${where}`, lease, progress, now, ...params));
    if (changes === 1 && progress !== undefined) this.publish({ type: "changed", jobId: ref.jobId, parentId: job.parentId, status: "RUNNING", progress });
    return changes === 1;
  }

  /**
   * A remote worker's heartbeat: the lease follows the worker that holds the task (it names
   * itself as the owner), whichever replica receives the beat. False for a stale attempt.
   */
  async renewRemoteLease(ref: { jobId: string; attempt: number }, worker: string, leaseMs: number, progress?: number): Promise<boolean> {
    const now = new Date();
    const rows = await this.db.all(
      sql(
        `UPDATE "Job" SET "leaseOwner" = ?, "leaseExpiresAt" = ?, "progress" = COALESCE(?, "progress"), "updatedAt" = ? WHERE ${RUNNING_ATTEMPT} RETURNING "parentId"`,
        worker, new Date(now.getTime() + leaseMs), progress ?? null, now, ref.jobId, ref.attempt,
      ),
    );
    const row = rows[0];
    if (row && progress !== undefined) this.publish({ type: "changed", jobId: ref.jobId, parentId: row.parentId === null ? null : String(row.parentId), status: "RUNNING", progress });
    return row !== undefined;
  }

  /**
   * A task is on the remote queue: until a worker picks it up (and its heartbeats take the
   * lease over) the attempt is held for `leaseMs`, as long as a task may wait in the queue.
   * Only while the sender still owns it: a fast worker may already have taken over.
   */
  async markSent(refs: readonly (AttemptRef & { owner: string })[], leaseMs: number, queueOwner: string): Promise<void> {
    if (refs.length === 0) return;
    const now = new Date();
    const lease = new Date(now.getTime() + leaseMs);
    await this.db.batch(
      refs.map((ref) => {
        const { where, params } = attemptCondition(ref);
        return sql(`UPDATE "Job" SET "leaseOwner" = ?, "leaseExpiresAt" = ?, "updatedAt" = ? WHERE ${where}`, queueOwner, lease, now, ...params);
      }),
    );
  }

  /**
   * RUNNING → DONE for exactly this attempt, writing its outputs and log in the same
   * transaction. False (and nothing written) if the attempt no longer holds the job.
   */
  async complete(ref: AttemptRef, job: Pick<Job, "parentId">, result: unknown, log: PendingLogLine[], outputs: readonly BatchStep[] = []): Promise<boolean> {
    const now = new Date();
    const { where, params } = attemptCondition(ref);
    const applied = await this.db.batch([
      {
        ...sql(
          `UPDATE "Job" SET "status" = 'DONE', "result" = ?, "progress" = 1, "finishedAt" = ?, ${CLEARED_LEASE}, "failureReason" = NULL, "updatedAt" = ? WHERE ${where}`,
          JSON.stringify(result), now, now, ...params,
        ),
        expectChanges: 1,
      },
      ...outputs,
      ...logSteps(ref.jobId, [...log, { level: "info", message: "Done", at: now }]),
    ]);
    if (applied) this.publish({ type: "changed", jobId: ref.jobId, parentId: job.parentId, status: "DONE", progress: 1 });
    return applied;
  }

  /** RUNNING → FAILED for this attempt, with the reason users see. */
  async fail(ref: AttemptRef, job: Pick<Job, "parentId">, reason: string, log: PendingLogLine[]): Promise<boolean> {
    const now = new Date();
    const { where, params } = attemptCondition(ref);
    const applied = await this.db.batch([
      {
        ...sql(`UPDATE "Job" SET "status" = 'FAILED', "failureReason" = ?, "lastError" = ?, "finishedAt" = ?, ${CLEARED_LEASE}, "updatedAt" = ? WHERE ${where}`, reason, reason, now, now, ...params),
        expectChanges: 1,
      },
      ...logSteps(ref.jobId, [...log, { level: "error", message: `Failed: ${reason}`, at: now }]),
    ]);
    if (applied) this.publish({ type: "changed", jobId: ref.jobId, parentId: job.parentId, status: "FAILED" });
    return applied;
  }

  /**
   * RUNNING → QUEUED after a transient failure: claimable again at `runAt` (the backoff).
   * The attempt count stays, so maxAttempts bounds the retries.
   */
  async retryLater(ref: AttemptRef, job: Pick<Job, "parentId" | "lane">, error: string, runAt: Date, log: PendingLogLine[]): Promise<boolean> {
    const now = new Date();
    const { where, params } = attemptCondition(ref);
    const applied = await this.db.batch([
      {
        ...sql(`UPDATE "Job" SET "status" = 'QUEUED', "lastError" = ?, "runAt" = ?, ${CLEARED_LEASE}, "progress" = 0, "updatedAt" = ? WHERE ${where}`, error, runAt, now, ...params),
        expectChanges: 1,
      },
      ...logSteps(ref.jobId, log),
    ]);
    if (applied) this.publish({ type: "changed", jobId: ref.jobId, parentId: job.parentId, status: "QUEUED", progress: 0 }, ...runnable(job.lane, runAt));
    return applied;
  }

  /**
   * A remote worker failed one delivery (the queue will deliver the task again) or handed it
   * back while stopping: the error is kept for the job's final reason, and the attempt is
   * held for `leaseMs` while the task waits for its next worker.
   */
  async noteRemoteSetback(ref: { jobId: string; attempt: number }, leaseMs: number, message: string, lastError: string | null): Promise<boolean> {
    const now = new Date();
    return this.db.batch([
      {
        ...sql(
          `UPDATE "Job" SET "lastError" = COALESCE(?, "lastError"), "leaseOwner" = ?, "leaseExpiresAt" = ?, "updatedAt" = ? WHERE ${RUNNING_ATTEMPT}`,
          lastError, "queue", new Date(now.getTime() + leaseMs), now, ref.jobId, ref.attempt,
        ),
        expectChanges: 1,
      },
      ...logSteps(ref.jobId, [{ level: "warn", message, at: now }]),
    ]);
  }

  /**
   * Cancels a queued or running job, or a batch and every unfinished child, in one
   * statement. Returns the jobs cancelled (running ones must be aborted where they run).
   */
  async cancel(jobId: string): Promise<TouchedJob[]> {
    const now = new Date();
    const reason = "Cancelled by request";
    const where = `("id" = ? OR "parentId" = ?) AND "status" IN ('QUEUED', 'RUNNING')`;
    const update = `UPDATE "Job" SET "status" = 'CANCELLED', "finishedAt" = ?, ${CLEARED_LEASE}, "failureReason" = ?, "updatedAt" = ? WHERE ${where}`;
    let rows: Record<string, unknown>[];
    if (this.db.dialect === "postgresql") {
      // One statement: the log lines are written for exactly the rows the update changed.
      rows = await this.db.all(
        sql(
          `WITH cancelled AS (${update} RETURNING "id", "parentId", "lane"),
           logged AS (INSERT INTO "JobLog" ("jobId", "at", "level", "message") SELECT "id", ?, 'warn', ? FROM cancelled)
           SELECT "id", "parentId", "lane" FROM cancelled`,
          now, reason, now, jobId, jobId, now, reason,
        ),
      );
    } else {
      // SQLite serialises writers, so the same WHERE twice in one transaction sees the same rows.
      const results = await this.db.transact([
        sql(`INSERT INTO "JobLog" ("jobId", "at", "level", "message") SELECT "id", ?, 'warn', ? FROM "Job" WHERE ${where}`, now, reason, jobId, jobId),
        sql(`${update} RETURNING "id", "parentId", "lane"`, now, reason, now, jobId, jobId),
      ]);
      rows = results?.[1] ?? [];
    }
    const touched = rows.map(toTouched);
    this.publish(...touched.map((job) => ({ type: "changed" as const, jobId: job.id, parentId: job.parentId, status: "CANCELLED" as const })));
    return touched;
  }

  /**
   * FAILED | CANCELLED → QUEUED with a fresh attempt budget. For a batch: its failed and
   * cancelled children, and the parent back to RUNNING, in one transaction. Empty when
   * nothing was retryable.
   */
  async retry(jobId: string): Promise<TouchedJob[]> {
    const now = new Date();
    const message = "Retry requested: job re-queued";
    const where = `("id" = ? OR "parentId" = ?) AND "status" IN ('FAILED', 'CANCELLED') AND "lane" IS NOT NULL`;
    const results = await this.db.transact([
      sql(`INSERT INTO "JobLog" ("jobId", "at", "level", "message") SELECT "id", ?, 'info', ? FROM "Job" WHERE ${where}`, now, message, jobId, jobId),
      sql(
        `UPDATE "Job" SET "status" = 'QUEUED', "attempts" = 0, "runAt" = ?, "failureReason" = NULL, "finishedAt" = NULL, "startedAt" = NULL, "progress" = 0, "result" = NULL, "updatedAt" = ?
         WHERE ${where} RETURNING "id", "parentId", "lane"`,
        now, now, jobId, jobId,
      ),
    ]);
    const touched = (results?.[1] ?? []).map(toTouched);
    if (touched.length === 0) return touched;
    // The batch the jobs belong to is running again (a finished one reopens).
    const parentIds = [...new Set(touched.map((job) => job.parentId).filter((id): id is string => id !== null))];
    for (const parentId of parentIds) {
      const reopened = await this.db.run(
        sql(`UPDATE "Job" SET "status" = 'RUNNING', "finishedAt" = NULL, "failureReason" = NULL, "updatedAt" = ? WHERE "id" = ?`, now, parentId),
      );
      if (reopened) this.publish({ type: "changed", jobId: parentId, parentId: null, status: "RUNNING" });
    }
    const lanes = new Set(touched.map((job) => job.lane));
    this.publish(...touched.map((job) => ({ type: "changed" as const, jobId: job.id, parentId: job.parentId, status: "QUEUED" as const })), ...[...lanes].flatMap((lane) => runnable(lane, now)));
    return touched;
  }

  /**
   * Deletes finished jobs with their children, outputs and logs, in one transaction (a
   * job that is not finished, or a child of one, is left alone). Returns the media ids they
   * referenced, for the caller to drop the ones nothing references any more.
   */
  async deleteFinished(jobIds: readonly string[]): Promise<{ deleted: string[]; mediaFileIds: string[] }> {
    if (jobIds.length === 0) return { deleted: [], mediaFileIds: [] };
    const finished = `"id" IN (${placeholders(jobIds)}) AND "status" IN (${TERMINAL_STATUSES_SQL})`;
    const results = await this.db.transact([
      sql(`SELECT "mediaFileId" FROM "Job" WHERE ("parentId" IN (SELECT "id" FROM "Job" WHERE ${finished}) OR (${finished})) AND "mediaFileId" IS NOT NULL`, ...jobIds, ...jobIds),
      sql(`DELETE FROM "Job" WHERE "parentId" IN (SELECT "id" FROM "Job" WHERE ${finished})`, ...jobIds),
      sql(`DELETE FROM "Job" WHERE ${finished} RETURNING "id"`, ...jobIds),
    ]);
    if (!results) return { deleted: [], mediaFileIds: [] };
    return { deleted: results[2]!.map((row) => String(row.id)), mediaFileIds: [...new Set(results[0]!.map((row) => String(row.mediaFileId)))] };
  }

  /** Finished top-level jobs beyond the newest `keep`, oldest first (retention). */
  async finishedBeyond(keep: number, limit: number): Promise<string[]> {
    // A job that still owes a webhook stays until it is delivered or given up on (the outbox
    // row would go with it); a later prune takes it.
    const rows = await this.db.all(
      sql(
        `SELECT "id" FROM (SELECT "id" FROM "Job" WHERE "parentId" IS NULL AND "status" IN (${TERMINAL_STATUSES_SQL}) ORDER BY "finishedAt" DESC, "id" DESC LIMIT ? OFFSET ?) AS "stale"
         WHERE NOT EXISTS (SELECT 1 FROM "WebhookDelivery" w WHERE w."jobId" = "stale"."id" AND w."status" IN ('waiting', 'pending'))`,
        limit,
        keep,
      ),
    );
    return rows.map((row) => String(row.id));
  }

  /** A batch's children per status, counted by the database. */
  async childCounts(parentId: string): Promise<Record<JobStatus, number>> {
    const rows = await this.db.all(sql(`SELECT "status", COUNT(*) AS "count" FROM "Job" WHERE "parentId" = ? GROUP BY "status"`, parentId));
    const counts: Record<JobStatus, number> = { QUEUED: 0, RUNNING: 0, DONE: 0, FAILED: 0, CANCELLED: 0 };
    for (const row of rows) counts[row.status as JobStatus] = Number(row.count);
    return counts;
  }

  /** A batch's child ids in the order the files were given. */
  async childIds(parentId: string): Promise<string[]> {
    const rows = await this.db.all(sql(`SELECT "id" FROM "Job" WHERE "parentId" = ? ORDER BY "createdAt", "id"`, parentId));
    return rows.map((row) => String(row.id));
  }

  /** A running batch's progress (finished children / all), while children are still unfinished. */
  async setBatchProgress(parentId: string, progress: number): Promise<void> {
    const changes = await this.db.run(sql(`UPDATE "Job" SET "progress" = ?, "updatedAt" = ? WHERE "id" = ? AND "status" = 'RUNNING'`, progress, new Date(), parentId));
    if (changes) this.publish({ type: "changed", jobId: parentId, parentId: null, status: "RUNNING", progress });
  }

  /**
   * RUNNING → DONE | FAILED | CANCELLED for a batch whose children have all finished: only
   * while none is queued or running, so of several replicas finishing children at once,
   * exactly one finalises the parent.
   */
  async finishBatch(parentId: string, status: JobStatus, result: unknown, failureReason: string | null, log: PendingLogLine): Promise<boolean> {
    const now = new Date();
    const applied = await this.db.batch([
      {
        ...sql(
          `UPDATE "Job" SET "status" = ?, "progress" = 1, "result" = ?, "failureReason" = ?, "finishedAt" = ?, "updatedAt" = ?
           WHERE "id" = ? AND "status" = 'RUNNING' AND NOT EXISTS (SELECT 1 FROM "Job" c WHERE c."parentId" = ? AND c."status" IN ('QUEUED', 'RUNNING'))`,
          status, JSON.stringify(result), failureReason, now, now, parentId, parentId,
        ),
        expectChanges: 1,
      },
      ...logSteps(parentId, [log]),
    ]);
    if (applied) this.publish({ type: "changed", jobId: parentId, parentId: null, status, progress: 1 });
    return applied;
  }

  /** Running batches whose children have all finished (a crash between a child's end and the parent's). */
  async settledBatchesStillRunning(limit: number): Promise<string[]> {
    const rows = await this.db.all(
      sql(
        `SELECT p."id" FROM "Job" p WHERE p."status" = 'RUNNING' AND p."lane" IS NULL AND p."parentId" IS NULL
         AND NOT EXISTS (SELECT 1 FROM "Job" c WHERE c."parentId" = p."id" AND c."status" IN ('QUEUED', 'RUNNING')) LIMIT ?`,
        limit,
      ),
    );
    return rows.map((row) => String(row.id));
  }

  /**
   * Attempts whose lease expired (their process or worker died): back to QUEUED at the
   * backoff `runAtFor` gives, or FAILED once they have used every attempt. Each is a
   * conditional statement, so replicas sweeping at once move a job once.
   */
  async reapExpiredLeases(runAtFor: (attempt: number) => Date, now = new Date()): Promise<{ requeued: Job[]; failed: Job[] }> {
    const expired = (await this.db.all(sql(`SELECT ${JOB_COLUMNS} FROM "Job" WHERE "status" = 'RUNNING' AND "leaseExpiresAt" < ?`, now))).map(toJob);
    const requeued: Job[] = [];
    const failed: Job[] = [];
    for (const job of expired) {
      const stillExpired = `"id" = ? AND "status" = 'RUNNING' AND "attempts" = ? AND "leaseExpiresAt" < ?`;
      const who = job.leaseOwner ? ` (${job.leaseOwner})` : "";
      if (job.attempts >= job.maxAttempts) {
        const reason = `The worker running this job${who} stopped responding (attempt ${job.attempts} of ${job.maxAttempts}); giving up`;
        const applied = await this.db.batch([
          {
            ...sql(`UPDATE "Job" SET "status" = 'FAILED', "failureReason" = ?, "lastError" = ?, "finishedAt" = ?, ${CLEARED_LEASE}, "updatedAt" = ? WHERE ${stillExpired}`, reason, reason, now, now, job.id, job.attempts, now),
            expectChanges: 1,
          },
          ...logSteps(job.id, [{ level: "error", message: reason, at: now }]),
        ]);
        if (applied) {
          failed.push(job);
          this.publish({ type: "changed", jobId: job.id, parentId: job.parentId, status: "FAILED" });
        }
      } else {
        const runAt = runAtFor(job.attempts);
        const message = `The worker running attempt ${job.attempts}${who} stopped responding; re-queued, to run again in ${formatDelay(runAt.getTime() - now.getTime())}`;
        const applied = await this.db.batch([
          {
            ...sql(`UPDATE "Job" SET "status" = 'QUEUED', "lastError" = ?, "runAt" = ?, ${CLEARED_LEASE}, "progress" = 0, "updatedAt" = ? WHERE ${stillExpired}`, message, runAt, now, job.id, job.attempts, now),
            expectChanges: 1,
          },
          ...logSteps(job.id, [{ level: "warn", message, at: now }]),
        ]);
        if (applied) {
          requeued.push(job);
          this.publish({ type: "changed", jobId: job.id, parentId: job.parentId, status: "QUEUED", progress: 0 }, ...runnable(job.lane, runAt));
        }
      }
    }
    return { requeued, failed };
  }

  async appendLog(jobId: string, lines: PendingLogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.db.batch(logSteps(jobId, lines));
  }

  private publish(...events: JobEvent[]): void {
    this.bus.publish(events);
  }
}

/** INSERTs of one job's log lines (one multi-row statement per 500 lines). */
export function logSteps(jobId: string, lines: readonly PendingLogLine[]): BatchStep[] {
  const steps: BatchStep[] = [];
  for (let start = 0; start < lines.length; start += LOG_LINES_PER_INSERT) {
    steps.push(insertLogLines(lines.slice(start, start + LOG_LINES_PER_INSERT).map((line) => ({ jobId, line }))));
  }
  return steps;
}

function insertLogLines(entries: readonly { jobId: string; line: PendingLogLine }[]): SqlStatement {
  return sql(
    `INSERT INTO "JobLog" ("jobId", "at", "level", "message") VALUES ${entries.map(() => "(?, ?, ?, ?)").join(", ")}`,
    ...entries.flatMap(({ jobId, line }) => [jobId, line.at ?? new Date(), line.level, line.message]),
  );
}

function insertJobs(rows: readonly Job[]): SqlStatement {
  return sql(
    INSERT_JOB_PREFIX + rows.map(() => JOB_PLACEHOLDERS).join(", "),
    ...rows.flatMap((row) => [
      row.id, row.type, row.status, row.origin, row.parentId, row.params, row.result, row.config, row.mediaFileId, row.language,
      row.enginesRequested, row.userId, row.attempts, row.maxAttempts, row.lastError, row.failureReason, row.leaseOwner,
      row.leaseExpiresAt, row.progress, row.lane, row.runAt, row.createdAt, row.startedAt, row.finishedAt, row.updatedAt,
    ]),
  );
}

function newJobRow(job: NewJob, now: Date): Job {
  return {
    id: job.id ?? createJobId(),
    type: job.type,
    status: "QUEUED",
    origin: job.origin,
    parentId: null,
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
    lane: laneOf(job.type),
    runAt: now,
    createdAt: creationTime(),
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
  };
}

/** "Attempt 2 started on 1 engine (of at most 3)", from a job row's columns. */
const ATTEMPT_STARTED_SQL = `'Attempt ' || "attempts" || ' started' || CASE WHEN "lane" = 'asr' THEN ' on ' || "enginesRequested" || CASE WHEN "enginesRequested" = 1 THEN ' engine' ELSE ' engines' END ELSE '' END || ' (of at most ' || "maxAttempts" || ')'`;

function logAttemptStarted(jobId: string, at: Date): SqlStatement {
  return sql(`INSERT INTO "JobLog" ("jobId", "at", "level", "message") SELECT "id", ?, 'info', ${ATTEMPT_STARTED_SQL} FROM "Job" WHERE "id" = ?`, at, jobId);
}

function changed(job: Job): JobEvent {
  return { type: "changed", jobId: job.id, parentId: job.parentId, status: job.status as JobStatus, progress: job.progress };
}

function runnable(lane: string | null, at: Date): JobEvent[] {
  const parsed = laneSchema.safeParse(lane);
  return parsed.success ? [{ type: "runnable", lane: parsed.data, at: at.getTime() }] : [];
}

function toJobWithMedia(row: Record<string, unknown>): JobWithMedia {
  return { ...toJob(row), mediaFile: row.m_id === null || row.m_id === undefined ? null : toMediaFile(row, "m_") };
}

function toTouched(row: Record<string, unknown>): TouchedJob {
  const lane = laneSchema.safeParse(row.lane);
  return { id: String(row.id), parentId: strOrNull(row.parentId), lane: lane.success ? lane.data : null };
}

/** Claimed jobs in queue order (RETURNING has none). */
function queueOrder(a: Job, b: Job): number {
  return a.runAt.getTime() - b.runAt.getTime() || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export type ClaimStats = { claims: number; claimedJobs: number; p50Ms: number; p99Ms: number; maxMs: number };

/** Claim statement durations: every count, and a uniform sample of at most 10,000 durations for the percentiles. */
class ClaimTimings {
  private readonly sample: number[] = [];
  private claims = 0;
  private claimedJobs = 0;
  private maxMs = 0;

  record(ms: number, jobs: number): void {
    this.claims++;
    this.claimedJobs += jobs;
    this.maxMs = Math.max(this.maxMs, ms);
    if (this.sample.length < 10_000) this.sample.push(ms);
    else {
      const slot = Math.floor(Math.random() * this.claims);
      if (slot < this.sample.length) this.sample[slot] = ms;
    }
  }

  stats(): ClaimStats {
    const sorted = [...this.sample].sort((a, b) => a - b);
    const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! : 0);
    const round = (ms: number) => Math.round(ms * 100) / 100;
    return { claims: this.claims, claimedJobs: this.claimedJobs, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(this.maxMs) };
  }
}

let lastClaim = 0;

/** A claim's instant: later than any claim of this process before it, so it names the rows that claim took. */
function claimInstant(): Date {
  lastClaim = Math.max(Date.now(), lastClaim + 1);
  return new Date(lastClaim);
}

let lastCreation = 0;

/**
 * A creation time later than any this process handed out before, reserving `span`
 * milliseconds: jobs created one after another keep that order in the queue (runAt, then
 * createdAt) even within one millisecond. It may run a little ahead of the clock in a
 * burst; runAt, which decides when a job may run, is always the real time. (Across
 * replicas a tie falls back to the id.)
 */
function creationTime(span = 1): Date {
  const at = Math.max(Date.now(), lastCreation + 1);
  lastCreation = at + span - 1;
  return new Date(at);
}

/** "0.4 s", "12 s", "3.5 min": how long a backoff lasts, for log lines. */
export function formatDelay(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return `${(seconds / 60).toFixed(1)} min`;
}
