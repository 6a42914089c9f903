import { z } from "zod";
import { dateOrNull, strOrNull, toDate } from "../db/sql/row-mappers";
import { sql, type BatchStep, type SqlClient } from "../db/sql/sql-client";
import { createJobId } from "./job-id";
import { logSteps, type PendingLogLine } from "./job-store";
import { TERMINAL_STATUSES_SQL } from "./job-status";

/** notification: the v2 API's notification_config; callback: the async API's callback_url; batch: a tRPC batch's webhook. */
export const webhookKindSchema = z.enum(["notification", "callback", "batch"]);
export type WebhookKind = z.infer<typeof webhookKindSchema>;

export const webhookMethodSchema = z.enum(["POST", "PUT"]);
export type WebhookMethod = z.infer<typeof webhookMethodSchema>;

/** waiting: its job is unfinished; pending: due at nextAttemptAt (or leased until then); delivered | failed: final. */
export type WebhookStatus = "waiting" | "pending" | "delivered" | "failed";

/** A webhook promised with a new job, written in the job's transaction. */
export type NewWebhook = {
  kind: WebhookKind;
  url: string;
  method?: WebhookMethod;
  /** "Name: value" lines sent with every attempt (the caller's credentials for its receiver). */
  authHeaders?: readonly string[];
  /**
   * What a notification sends (the vendor's contents list); null: not given, which the vendor
   * answers with the transcript as a `data_file` attachment. Unused by the other kinds.
   */
  contents?: readonly string[] | null;
};

export type WebhookDelivery = {
  id: string;
  jobId: string;
  kind: WebhookKind;
  url: string;
  method: WebhookMethod;
  authHeaders: string[];
  contents: string[] | null;
  status: WebhookStatus;
  /** Attempts started, this one included once claimed. */
  attempts: number;
  nextAttemptAt: Date;
  /** The exact bytes every attempt sends (UTF-8), rendered at the first attempt; null before it. */
  body: string | null;
  contentType: string | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
};

/** One attempt of a delivery: every write of it is conditional on still holding it. */
export type DeliveryAttempt = { id: string; jobId: string; attempt: number };

const COLUMNS = `"id", "jobId", "kind", "url", "method", "authHeaders", "contents", "status", "attempts", "nextAttemptAt", "body", "contentType", "lastError", "createdAt", "deliveredAt"`;
/** The attempt still holds the row: nobody delivered, failed or re-claimed it meanwhile. */
const HELD = `"id" = ? AND "status" = 'pending' AND "attempts" = ?`;

/**
 * The webhook outbox: every statement on WebhookDelivery. Rows are written in their job's
 * transaction (insertWebhookSteps), so an accepted job's webhook survives any crash. Rows
 * become due when their job is finished, which the claim reads from the Job row itself: no
 * in-memory event has to be heard for a webhook to go out, after a restart or on any replica.
 */
export class WebhookStore {
  constructor(private readonly db: SqlClient) {}

  /**
   * Takes up to `limit` due deliveries (pending ones whose time has come, waiting ones whose
   * job has finished) in one conditional statement, counting an attempt on each and leasing
   * it: nextAttemptAt moves `leaseMs` ahead, so no other replica (SKIP LOCKED on
   * PostgreSQL) nor a later claim takes the same attempt while it runs, and a process that
   * dies mid-attempt leaves a row that is due again when the lease runs out.
   */
  async claimDue(limit: number, leaseMs: number, now = new Date()): Promise<WebhookDelivery[]> {
    if (limit <= 0) return [];
    const lock = this.db.dialect === "postgresql" ? " FOR UPDATE OF w SKIP LOCKED" : "";
    const rows = await this.db.all(
      sql(
        `WITH due AS (
           SELECT w."id" FROM "WebhookDelivery" w JOIN "Job" j ON j."id" = w."jobId"
           WHERE w."nextAttemptAt" <= ? AND (w."status" = 'pending' OR (w."status" = 'waiting' AND j."status" IN (${TERMINAL_STATUSES_SQL})))
           ORDER BY w."nextAttemptAt", w."id" LIMIT ?${lock}
         )
         UPDATE "WebhookDelivery" SET "status" = 'pending', "attempts" = "attempts" + 1, "nextAttemptAt" = ?
         WHERE "id" IN (SELECT "id" FROM due) AND "status" IN ('waiting', 'pending') AND "nextAttemptAt" <= ?
         RETURNING ${COLUMNS}`,
        now, limit, new Date(now.getTime() + leaseMs), now,
      ),
    );
    return rows.map(toDelivery).sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  /**
   * Keeps the body rendered for the first attempt; if one is stored already (an earlier
   * attempt rendered it before its process died) that one wins, so every attempt sends the
   * same bytes. Returns what is stored.
   */
  async saveBody(attempt: DeliveryAttempt, body: string, contentType: string | null): Promise<{ body: string; contentType: string | null }> {
    const rows = await this.db.all(
      sql(
        `UPDATE "WebhookDelivery" SET "contentType" = CASE WHEN "body" IS NULL THEN ? ELSE "contentType" END, "body" = COALESCE("body", ?)
         WHERE "id" = ? RETURNING "body", "contentType"`,
        contentType, body, attempt.id,
      ),
    );
    const row = rows[0];
    if (!row) return { body, contentType };
    return { body: String(row.body), contentType: strOrNull(row.contentType) };
  }

  /** pending → delivered, with its log line; false when this attempt no longer holds the row (exactly one success is ever recorded). */
  async markDelivered(attempt: DeliveryAttempt, log: PendingLogLine, now = new Date()): Promise<boolean> {
    return this.db.batch([
      { ...sql(`UPDATE "WebhookDelivery" SET "status" = 'delivered', "deliveredAt" = ?, "lastError" = NULL WHERE ${HELD}`, now, attempt.id, attempt.attempt), expectChanges: 1 },
      ...logSteps(attempt.jobId, [{ ...log, at: log.at ?? now }]),
    ]);
  }

  /** The attempt failed: due again at `nextAttemptAt`, with its log line. */
  async scheduleRetry(attempt: DeliveryAttempt, error: string, nextAttemptAt: Date, log: PendingLogLine): Promise<boolean> {
    return this.db.batch([
      { ...sql(`UPDATE "WebhookDelivery" SET "nextAttemptAt" = ?, "lastError" = ? WHERE ${HELD}`, nextAttemptAt, error, attempt.id, attempt.attempt), expectChanges: 1 },
      ...logSteps(attempt.jobId, [log]),
    ]);
  }

  /** pending → failed for good (retries used up, or a destination that is refused), with its log line. */
  async markFailed(attempt: DeliveryAttempt, error: string, log: PendingLogLine): Promise<boolean> {
    return this.db.batch([
      { ...sql(`UPDATE "WebhookDelivery" SET "status" = 'failed', "lastError" = ? WHERE ${HELD}`, error, attempt.id, attempt.attempt), expectChanges: 1 },
      ...logSteps(attempt.jobId, [log]),
    ]);
  }

  /** When the next pending delivery is due (null: none pending); waiting ones wait for their job. */
  async nextDueAt(): Promise<Date | null> {
    const rows = await this.db.all(sql(`SELECT MIN("nextAttemptAt") AS "next" FROM "WebhookDelivery" WHERE "status" = 'pending'`));
    const next = rows[0]?.next;
    return next === null || next === undefined ? null : toDate(next);
  }

  /** A job's webhooks, oldest first. */
  async listForJob(jobId: string): Promise<WebhookDelivery[]> {
    const rows = await this.db.all(sql(`SELECT ${COLUMNS} FROM "WebhookDelivery" WHERE "jobId" = ? ORDER BY "createdAt", "id"`, jobId));
    return rows.map(toDelivery);
  }
}

/** The INSERTs of a new job's webhooks, to run in the job's transaction after its row. */
export function insertWebhookSteps(jobId: string, webhooks: readonly NewWebhook[], now = new Date()): BatchStep[] {
  if (webhooks.length === 0) return [];
  return [
    sql(
      `INSERT INTO "WebhookDelivery" ("id", "jobId", "kind", "url", "method", "authHeaders", "contents", "status", "attempts", "nextAttemptAt", "createdAt") VALUES ${webhooks.map(() => "(?, ?, ?, ?, ?, ?, ?, 'waiting', 0, ?, ?)").join(", ")}`,
      ...webhooks.flatMap((hook) => [
        createJobId(),
        jobId,
        hook.kind,
        hook.url,
        hook.method ?? "POST",
        JSON.stringify(hook.authHeaders ?? []),
        JSON.stringify(hook.contents ?? null),
        now,
        now,
      ]),
    ),
  ];
}

const stringList = z.array(z.string());

function parseList(text: unknown): string[] | null {
  try {
    const parsed = stringList.nullable().safeParse(JSON.parse(String(text)));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

function toDelivery(row: Record<string, unknown>): WebhookDelivery {
  const kind = webhookKindSchema.safeParse(row.kind);
  const method = webhookMethodSchema.safeParse(row.method);
  return {
    id: String(row.id),
    jobId: String(row.jobId),
    kind: kind.success ? kind.data : "notification",
    url: String(row.url),
    method: method.success ? method.data : "POST",
    authHeaders: parseList(row.authHeaders) ?? [],
    contents: parseList(row.contents),
    status: String(row.status) as WebhookStatus,
    attempts: Number(row.attempts),
    nextAttemptAt: toDate(row.nextAttemptAt),
    body: strOrNull(row.body),
    contentType: strOrNull(row.contentType),
    lastError: strOrNull(row.lastError),
    createdAt: toDate(row.createdAt),
    deliveredAt: dateOrNull(row.deliveredAt),
  };
}
