import type { JobStatus } from "../jobs/job-status";
import type { JobView } from "../services/job-views";
import type { ScopedJobs } from "../services/scoped-jobs";
import { transcriptLines } from "../transcripts/render-transcript";

/**
 * How the async API of seeds/001 (and its callback_url webhook) spells a job: its statuses,
 * its job names, and its summary and detail shapes.
 */
export const ASYNC_STATUS: Record<JobStatus, string> = {
  QUEUED: "QUEUED",
  RUNNING: "IN_PROGRESS",
  DONE: "COMPLETED",
  FAILED: "FAILED",
  CANCELLED: "FAILED",
};

const JOB_NAME_PREFIX = "transcribe-";

export function jobNameOf(jobId: string): string {
  return `${JOB_NAME_PREFIX}${jobId}`;
}

export function jobIdOf(jobName: string): string {
  return jobName.startsWith(JOB_NAME_PREFIX) ? jobName.slice(JOB_NAME_PREFIX.length) : jobName;
}

function languageCodeOf(job: JobView): string {
  const config = job.config as { language_code?: unknown } | null;
  return typeof config?.language_code === "string" ? config.language_code : (job.language ?? "en-US");
}

/** The short shape used in listings. */
export function toAsyncSummary(job: JobView): Record<string, unknown> {
  return {
    job_name: jobNameOf(job.id),
    status: ASYNC_STATUS[job.status],
    language_code: languageCodeOf(job),
    creation_time: job.createdAt.toISOString(),
    ...(job.startedAt ? { start_time: job.startedAt.toISOString() } : {}),
    ...(job.status === "DONE" && job.finishedAt ? { completion_time: job.finishedAt.toISOString() } : {}),
    ...(job.status === "FAILED" || job.status === "CANCELLED" ? { failure_reason: job.failureReason ?? "Unknown failure" } : {}),
  };
}

/** A job's status as GET /transcribe-job shows it (also the body of its callback_url webhook). */
export async function toAsyncDetail(jobs: Pick<ScopedJobs, "transcript">, job: JobView): Promise<Record<string, unknown>> {
  const summary = toAsyncSummary(job);
  if (job.status === "DONE") {
    const { document } = await jobs.transcript(job.id);
    return {
      ...summary,
      // The same text the txt download has, so a user's subtitle edit shows here too.
      transcript: transcriptLines(document).join(" "),
      media_format: job.media?.format ?? null,
      media_sample_rate_hz: job.media?.sampleRateHz ?? null,
      s3_url: job.media?.uri ?? null,
    };
  }
  if (job.status === "QUEUED" || job.status === "RUNNING") {
    return { ...summary, message: "Transcription is still in progress. Check again in a few seconds." };
  }
  return summary;
}

