import { z } from "zod";
import { ownerFor } from "../../access";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { asyncErrorShape, sendJson } from "../../http/respond";
import type { Router } from "../../http/router";
import { noteJobId } from "../../observability/request-notes";
import { guardedRoute, type ApiRouteContext } from "./guard";
import type { JobStatus } from "../../jobs/job-status";
import type { JobView } from "../../services/job-views";
import { ASYNC_STATUS, jobIdOf, jobNameOf, toAsyncDetail, toAsyncSummary } from "../../wire/async-job";
import { receiveMediaUpload } from "./upload-media";
import { abortWhenClientGone } from "../../http/client-gone";
import { remoteMediaOf } from "../../services/remote-media";
import { callbackWebhook, webhookUrlSchema } from "../../webhooks/webhook-requests";

/** The async wrapper API of seeds/001, over the same job system. */
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

/** The optional `callback_url` form field: POSTed the job's status (as GET /transcribe-job shows it) when it finishes. */
function parseCallbackUrl(value: string | undefined): string | null {
  if (value === undefined || value.trim() === "") return null;
  const parsed = webhookUrlSchema.safeParse(value.trim());
  if (!parsed.success) throw new AppError("BAD_REQUEST", `callback_url: ${parsed.error.issues.map((issue) => issue.message).join("; ")}`);
  return parsed.data;
}

export function registerAsyncTranscribeRoutes(router: Router, app: App): void {
  const guard = guardedRoute(app, asyncErrorShape);

  /** Accepts the upload and creates a queued job; shared by the async and the sync endpoint. */
  const submit = async (ctx: ApiRouteContext): Promise<{ job: JobView; uploadSeconds: number; languageCode: string }> => {
    const started = performance.now();
    const upload = await receiveMediaUpload(app, ctx.req, ["file"], ownerFor(ctx.principal));
    // media_url: the server fetches the media (http(s):// or s3://) instead of receiving it.
    const mediaUrl = upload.fields.media_url?.trim();
    if (upload.file && mediaUrl) throw new AppError("BAD_REQUEST", 'Give either the "file" or the "media_url" form field, not both');
    if (!upload.file && !mediaUrl) throw new AppError("BAD_REQUEST", 'Missing form field "file"');
    const languageCode = upload.fields.language_code?.trim() || "en-US";
    const callbackUrl = parseCallbackUrl(upload.fields.callback_url);
    const media = upload.file
      ? upload.file.stored
      : await remoteMediaOf(app).stageFromUrl(mediaUrl!, { userId: ownerFor(ctx.principal), signal: abortWhenClientGone(ctx.res) });
    const job = await app.jobsFor(ctx.principal).createTranscription({
      type: "transcribe",
      media,
      language: languageCode,
      enginesRequested: 1,
      origin: "async",
      admission: "queue",
      config: { language_code: languageCode },
      ...(callbackUrl ? { webhooks: [callbackWebhook(callbackUrl)] } : {}),
    });
    noteJobId(ctx.res, job.id);
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
      const settled = await app.jobsFor(ctx.principal).waitForSettled(job.id, app.config.syncTranscribeTimeoutMs).catch((error: unknown) => {
        if (error instanceof AppError && error.code === "TIMEOUT") {
          throw new AppError("TIMEOUT", error.message, { job_name: jobNameOf(job.id), status_endpoint: `/transcribe-job/${jobNameOf(job.id)}` });
        }
        throw error;
      });
      const body = await toAsyncDetail(app.jobsFor(ctx.principal), settled);
      sendJson(ctx.res, settled.status === "DONE" ? 200 : 422, body);
    }),
  );

  router.on(
    "GET",
    "/transcribe-job/:name",
    guard(async ({ res, params, principal }) => {
      const name = params.name!;
      const jobs = app.jobsFor(principal);
      let job: JobView;
      try {
        job = await jobs.get(jobIdOf(name));
      } catch (error) {
        if (error instanceof AppError && error.code === "NOT_FOUND") throw new AppError("NOT_FOUND", `Job not found: ${name}`);
        throw error;
      }
      noteJobId(res, job.id);
      sendJson(res, 200, await toAsyncDetail(jobs, job));
    }),
  );

  router.on(
    "GET",
    "/transcribe-jobs",
    guard(async ({ res, url, principal }) => {
      const query = listQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) throw new AppError("BAD_REQUEST", query.error.issues.map((issue) => issue.message).join("; "));
      const { jobs } = await app.jobsFor(principal).list({
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
