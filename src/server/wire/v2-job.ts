import type { JobStatus } from "../jobs/job-status";
import type { JobView } from "../services/job-views";

/**
 * How the /v2 API (and the vendor's notification_config webhooks) spell a job. The /v2 API
 * serves two client families with one status vocabulary, the vendor's (running, done,
 * rejected, deleted), in two spellings: uppercase for clients written against the batch
 * worker spec, lowercase for clients of the vendor's SaaS batch API (api/rest/v2-shapes.ts
 * decides which a request gets).
 */
export type StatusStyle = "upper" | "lower";

const VENDOR_STATUS: Record<JobStatus, string> = {
  // The worker starts v2 jobs at once; jobs queued by other APIs read as running, as the
  // vendor API has no queued state.
  QUEUED: "running",
  RUNNING: "running",
  DONE: "done",
  FAILED: "rejected",
  CANCELLED: "deleted",
};

export function v2Status(status: JobStatus, style: StatusStyle): string {
  const word = VENDOR_STATUS[status];
  return style === "upper" ? word.toUpperCase() : word;
}

/** Why a rejected job failed, when the job has no reason of its own (the vendor always gives one). */
const UNKNOWN_FAILURE = "The job failed";

/**
 * A job in the vendor's JobDetails shape (GET /v2/jobs entries, GET and DELETE /v2/jobs/{id}),
 * a superset of what both client families read:
 * - the vendor's SDK types: id, created_at, data_name, duration (whole seconds, once the
 *   media is probed), status, config, lang, errors ([{timestamp, message}] for a rejected
 *   job), text_name (a string when present, so omitted: jobs here have no text file);
 * - seed 000 (the batch worker): the same fields with `"text_name": null` in lists, which the
 *   worker's uppercase-status clients get. `failure_reason` is ours, kept for existing clients.
 */
export function toV2Job(job: JobView, style: StatusStyle): Record<string, unknown> {
  const durationS = job.media?.durationS;
  const failed = job.status === "FAILED";
  const reason = job.failureReason ?? UNKNOWN_FAILURE;
  return {
    id: job.id,
    created_at: job.createdAt.toISOString(),
    data_name: job.media?.originalName ?? "",
    ...(style === "upper" ? { text_name: null } : {}),
    ...(durationS != null ? { duration: Math.max(0, Math.round(durationS)) } : {}),
    status: v2Status(job.status, style),
    config: job.config ?? { type: "transcription", transcription_config: { language: job.language ?? "en" } },
    ...(job.language ? { lang: job.language } : {}),
    ...(failed ? { errors: [{ timestamp: (job.finishedAt ?? job.createdAt).toISOString(), message: reason }], failure_reason: reason } : {}),
  };
}
