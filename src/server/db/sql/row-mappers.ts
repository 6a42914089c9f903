import type { Job, MediaFile } from "../models";

type Row = Record<string, unknown>;

/** Reads a DateTime column as stored by Prisma on either database (see the SQL clients). */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === "number") return new Date(value);
  const text = String(value);
  // PostgreSQL timestamp(3) comes back as "2026-11-23 19:31:22.83" (UTC, no zone).
  return /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? new Date(text) : new Date(`${text.replace(" ", "T")}Z`);
}

export const dateOrNull = (value: unknown): Date | null => (value === null || value === undefined ? null : toDate(value));
const str = (value: unknown): string => String(value);
export const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export function toJob(row: Row): Job {
  return {
    id: str(row.id),
    type: str(row.type),
    status: str(row.status),
    origin: str(row.origin),
    parentId: strOrNull(row.parentId),
    params: str(row.params),
    result: strOrNull(row.result),
    config: strOrNull(row.config),
    mediaFileId: strOrNull(row.mediaFileId),
    language: strOrNull(row.language),
    enginesRequested: num(row.enginesRequested),
    userId: strOrNull(row.userId),
    attempts: num(row.attempts),
    maxAttempts: num(row.maxAttempts),
    lastError: strOrNull(row.lastError),
    failureReason: strOrNull(row.failureReason),
    leaseOwner: strOrNull(row.leaseOwner),
    leaseExpiresAt: dateOrNull(row.leaseExpiresAt),
    progress: num(row.progress),
    lane: strOrNull(row.lane),
    runAt: toDate(row.runAt),
    createdAt: toDate(row.createdAt),
    startedAt: dateOrNull(row.startedAt),
    finishedAt: dateOrNull(row.finishedAt),
    updatedAt: toDate(row.updatedAt),
  };
}

/** Media columns are selected with an `m_` prefix when joined to a job. */
export function toMediaFile(row: Row, prefix = ""): MediaFile {
  const at = (name: string) => row[`${prefix}${name}`];
  return {
    id: str(at("id")),
    blobKey: str(at("blobKey")),
    sha256: str(at("sha256")),
    originalName: str(at("originalName")),
    contentType: strOrNull(at("contentType")),
    sizeBytes: BigInt(at("sizeBytes") as string | number | bigint),
    durationS: numOrNull(at("durationS")),
    format: strOrNull(at("format")),
    sampleRateHz: numOrNull(at("sampleRateHz")),
    channels: numOrNull(at("channels")),
    userId: strOrNull(at("userId")),
    createdAt: toDate(at("createdAt")),
  };
}

export const JOB_COLUMNS = `"id", "type", "status", "origin", "parentId", "params", "result", "config", "mediaFileId", "language", "enginesRequested", "userId", "attempts", "maxAttempts", "lastError", "failureReason", "leaseOwner", "leaseExpiresAt", "progress", "lane", "runAt", "createdAt", "startedAt", "finishedAt", "updatedAt"`;

export const MEDIA_COLUMNS = ["id", "blobKey", "sha256", "originalName", "contentType", "sizeBytes", "durationS", "format", "sampleRateHz", "channels", "userId", "createdAt"] as const;
