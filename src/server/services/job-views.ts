import type { Job, MediaFile } from "../db/models";
import type { JobStatus } from "../jobs/job-status";

/** A job as every API sees it; adapters reshape it into their own wire formats. */
export type JobView = {
  id: string;
  type: string;
  status: JobStatus;
  origin: string;
  parentId: string | null;
  language: string | null;
  enginesRequested: number;
  userId: string | null;
  attempts: number;
  maxAttempts: number;
  /** 0..1 */
  progress: number;
  failureReason: string | null;
  lastError: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  config: unknown;
  params: unknown;
  result: unknown;
  media: MediaView | null;
};

export type MediaView = {
  id: string;
  originalName: string;
  contentType: string | null;
  /** bytes */
  sizeBytes: number;
  /** seconds */
  durationS: number | null;
  format: string | null;
  sampleRateHz: number | null;
  channels: number | null;
  uri: string;
};

export function toMediaView(media: MediaFile, uri: string): MediaView {
  return {
    id: media.id,
    originalName: media.originalName,
    contentType: media.contentType,
    sizeBytes: Number(media.sizeBytes),
    durationS: media.durationS,
    format: media.format,
    sampleRateHz: media.sampleRateHz,
    channels: media.channels,
    uri,
  };
}

export function toJobView(job: Job & { mediaFile?: MediaFile | null }, uriOf: (media: MediaFile) => string): JobView {
  return {
    id: job.id,
    type: job.type,
    status: job.status as JobStatus,
    origin: job.origin,
    parentId: job.parentId,
    language: job.language,
    enginesRequested: job.enginesRequested,
    userId: job.userId,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    progress: job.progress,
    failureReason: job.failureReason,
    lastError: job.lastError,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    config: parseJson(job.config),
    params: parseJson(job.params),
    result: parseJson(job.result),
    media: job.mediaFile ? toMediaView(job.mediaFile, uriOf(job.mediaFile)) : null,
  };
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
