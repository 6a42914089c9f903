import { z } from "zod";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { asyncErrorShape, sendJson } from "../../http/respond";
import type { RouteContext, Router } from "../../http/router";
import { guardedRoute } from "./guard";
import type { JobStatus } from "../../jobs/job-status";
import type { JobView } from "../../services/job-views";
import { transcriptLines } from "../../transcripts/render-transcript";
import { receiveMediaUpload } from "./upload-media";

/** The async wrapper API of seeds/001, over the same job system. */
const ASYNC_STATUS: Record<JobStatus, string> = {
  QUEUED: "QUEUED",
  RUNNING: "IN_PROGRESS",
  DONE: "COMPLETED",
  FAILED: "FAILED",
  CANCELLED: "FAILED",
};
const INTERNAL_STATUSES: Record<string, JobStatus[]> = {
  QUEUED: ["QUEUED"],
  IN_PROGRESS: ["RUNNING"],
  COMPLETED: ["DONE"],
  FAILED: ["FAILED", "CANCELLED"],
};

const listQuerySchema = z.object({
  status: z.enum(["QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"], { error: "status must be one of QUEUED, IN_PROGRESS, COMPLETED, FAILED" }).optional(),
  max_results: z.coerce.number({ error: "max_results must be a number" }).int().min(1, "max_results must be between 1 and 100").max(100, "max_results must be between 1 and 100").default(20),
});

const JOB_NAME_PREFIX = "transcribe-";

export function jobNameOf(jobId: string): string {
  return `${JOB_NAME_PREFIX}${jobId}`;
}

function jobIdOf(jobName: string): string {
  return jobName.startsWith(JOB_NAME_PREFIX) ? jobName.slice(JOB_NAME_PREFIX.length) : jobName;
}

function languageCodeOf(job: JobView): string {
  const config = job.config as { language_code?: unknown } | null;
  return typeof config?.language_code === "string" ? config.language_code : (job.language ?? "en-US");
}

/** The short shape used in listings. */
function toAsyncSummary(job: JobView): Record<string, unknown> {
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

async function toAsyncDetail(app: App, job: JobView): Promise<Record<string, unknown>> {
  const summary = toAsyncSummary(job);
  if (job.status === "DONE") {
    const { document } = await app.jobs.transcript(job.id);
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

export function registerAsyncTranscribeRoutes(router: Router, app: App): void {
  const guard = guardedRoute(app, asyncErrorShape);

  /** Accepts the upload and creates a queued job; shared by the async and the sync endpoint. */
  const submit = async (ctx: RouteContext): Promise<{ job: JobView; uploadSeconds: number; languageCode: string }> => {
    const started = performance.now();
    const upload = await receiveMediaUpload(app, ctx.req, ["file"]);
    if (!upload.file) throw new AppError("BAD_REQUEST", 'Missing form field "file"');
    const languageCode = upload.fields.language_code?.trim() || "en-US";
    const job = await app.jobs.createTranscription({
      type: "transcribe",
      media: upload.file.stored,
      language: languageCode,
      enginesRequested: 1,
      origin: "async",
      admission: "queue",
      config: { language_code: languageCode },
    });
    return { job, uploadSeconds: (performance.now() - started) / 1000, languageCode };
  };

  router.on(
    "POST",
    "/transcribe-batch-async",
    guard(async (ctx) => {
      const { job, uploadSeconds, languageCode } = await submit(ctx);
      const name = jobNameOf(job.id);
      sendJson(ctx.res, 201, {
        job_name: name,
        status: ASYNC_STATUS[job.status],
        s3_url: job.media?.uri ?? null,
        upload_time_seconds: Math.round(uploadSeconds * 1000) / 1000,
        language_code: languageCode,
        message: `Transcription job started. Use /transcribe-job/${name} to check status.`,
        status_endpoint: `/transcribe-job/${name}`,
      });
    }),
  );

  router.on(
    "POST",
    "/transcribe-batch",
    guard(async (ctx) => {
      const { job } = await submit(ctx);
      const settled = await app.jobs.waitForSettled(job.id, app.config.syncTranscribeTimeoutMs).catch((error: unknown) => {
        if (error instanceof AppError && error.code === "TIMEOUT") {
          throw new AppError("TIMEOUT", error.message, { job_name: jobNameOf(job.id), status_endpoint: `/transcribe-job/${jobNameOf(job.id)}` });
        }
        throw error;
      });
      const body = await toAsyncDetail(app, settled);
      sendJson(ctx.res, settled.status === "DONE" ? 200 : 422, body);
    }),
  );

  router.on(
    "GET",
    "/transcribe-job/:name",
    guard(async ({ res, params }) => {
      const name = params.name!;
      let job: JobView;
      try {
        job = await app.jobs.get(jobIdOf(name));
      } catch (error) {
        if (error instanceof AppError && error.code === "NOT_FOUND") throw new AppError("NOT_FOUND", `Job not found: ${name}`);
        throw error;
      }
      sendJson(res, 200, await toAsyncDetail(app, job));
    }),
  );

  router.on(
    "GET",
    "/transcribe-jobs",
    guard(async ({ res, url }) => {
      const query = listQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) throw new AppError("BAD_REQUEST", query.error.issues.map((issue) => issue.message).join("; "));
      const { jobs } = await app.jobs.list({
        limit: query.data.max_results,
        types: ["transcribe", "generate_srt"],
        ...(query.data.status ? { statuses: INTERNAL_STATUSES[query.data.status] } : {}),
      });
      sendJson(res, 200, {
        jobs: jobs.map(toAsyncSummary),
        count: jobs.length,
        filters: { status: query.data.status ?? "all", max_results: query.data.max_results },
      });
    }),
  );
}
