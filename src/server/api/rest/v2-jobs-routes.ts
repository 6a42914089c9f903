import { z } from "zod";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { sendJson, sendText, v2ErrorShape } from "../../http/respond";
import type { Router } from "../../http/router";
import { guardedRoute } from "./guard";
import { transcriptionTaskSchema } from "../../jobs/job-types";
import type { JobStatus } from "../../jobs/job-status";
import { renderTranscript, TRANSCRIPT_FORMATS, type TranscriptFormat } from "../../transcripts/render-transcript";
import { parseConfigField, receiveMediaUpload } from "./upload-media";
import { statusStyleOf, toV2Job, v2Status } from "./v2-shapes";

/** X-SM-Processing-Data: how many engines the job takes and whose job it is. */
const processingDataSchema = z.object({
  parallel_engines: z.number().int().min(1).max(256).default(1),
  user_id: z.string().max(256).optional(),
});

/** The job config form field; unknown keys are kept and echoed back, as the vendor API does. */
const jobConfigSchema = z.looseObject({
  type: z.literal("transcription", { error: 'config.type must be "transcription"' }).default("transcription"),
  transcription_config: z.looseObject({
    language: z.string({ error: "config.transcription_config.language is required" }).min(1),
    diarization: z.enum(["none", "speaker", "channel"]).optional(),
    operating_point: z.enum(["standard", "enhanced"]).optional(),
    /** Our extension: "translate" gives English text from any spoken language (Whisper engines). */
    task: transcriptionTaskSchema.optional(),
  }),
});

const listQuerySchema = z.object({
  created_before: z.iso.datetime({ offset: true, error: "created_before must be an ISO 8601 date-time" }).optional(),
  limit: z.coerce.number({ error: "limit must be a number" }).int().min(1, "limit must be between 1 and 100").max(100, "limit must be between 1 and 100").default(100),
});

const transcriptFormatSchema = z.enum(TRANSCRIPT_FORMATS);

function zodMessage(error: z.ZodError): string {
  return error.issues.map((issue) => issue.message).join("; ");
}

function parseProcessingData(header: string | string[] | undefined): z.infer<typeof processingDataSchema> {
  if (header === undefined) return { parallel_engines: 1 };
  const raw = Array.isArray(header) ? header[0] : header;
  let json: unknown;
  try {
    json = JSON.parse(raw ?? "");
  } catch {
    throw new AppError("BAD_REQUEST", "X-SM-Processing-Data is not valid JSON");
  }
  const parsed = processingDataSchema.safeParse(json);
  if (!parsed.success) throw new AppError("BAD_REQUEST", `X-SM-Processing-Data: ${zodMessage(parsed.error)}`);
  return parsed.data;
}

/** The batch worker API (seeds/000) and the vendor batch jobs API v2 it mirrors. */
export function registerV2Routes(router: Router, app: App): void {
  const guard = guardedRoute(app, v2ErrorShape);

  router.on(
    "POST",
    "/v2/jobs",
    guard(async ({ req, res }) => {
      const processing = parseProcessingData(req.headers["x-sm-processing-data"]);
      // Fail before the upload when the engines are not there; re-checked atomically after it.
      await app.jobs.assertCapacity(processing.parallel_engines);
      const upload = await receiveMediaUpload(app, req, ["data_file"]);
      if (upload.fields.config === undefined) throw new AppError("BAD_REQUEST", 'Missing form field "config"');
      if (!upload.file) {
        throw new AppError("BAD_REQUEST", upload.fields.fetch_data !== undefined ? "fetch_data is not supported; upload the media as data_file" : 'Missing form field "data_file"');
      }
      const config = jobConfigSchema.safeParse(parseConfigField(app, upload.fields.config));
      if (!config.success) throw new AppError("BAD_REQUEST", `Invalid config: ${zodMessage(config.error)}`);
      const tc = config.data.transcription_config;
      const job = await app.jobs.createTranscription({
        type: "transcribe",
        media: upload.file.stored,
        language: tc.language,
        enginesRequested: processing.parallel_engines,
        origin: "v2",
        admission: "immediate",
        config: config.data,
        userId: processing.user_id ?? null,
        ...(tc.diarization ? { diarization: tc.diarization } : {}),
        ...(tc.operating_point ? { operatingPoint: tc.operating_point } : {}),
        ...(tc.task ? { task: tc.task } : {}),
      });
      // `job_id` is what seed 000 specifies; `id` is what the vendor's v2 API (and its SDK) reads.
      sendJson(res, 201, { id: job.id, job_id: job.id });
    }),
  );

  router.on(
    "GET",
    "/v2/jobs",
    guard(async ({ req, res, url }) => {
      const query = listQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) throw new AppError("BAD_REQUEST", zodMessage(query.error));
      const style = statusStyleOf(req, app.config);
      const { jobs } = await app.jobs.list({
        limit: query.data.limit,
        parentId: null,
        ...(query.data.created_before ? { createdBefore: new Date(query.data.created_before) } : {}),
      });
      sendJson(res, 200, { jobs: jobs.map((job) => toV2Job(job, style)) });
    }),
  );

  router.on(
    "GET",
    "/v2/jobs/:id",
    guard(async ({ req, res, params }) => {
      const job = await app.jobs.get(params.id!);
      sendJson(res, 200, { job: { ...toV2Job(job, statusStyleOf(req, app.config)), request_id: job.id } });
    }),
  );

  router.on(
    "GET",
    "/v2/jobs/:id/transcript",
    guard(async ({ req, res, params, url }) => {
      const style = statusStyleOf(req, app.config);
      const requested = url.searchParams.get("format") ?? "json-v2";
      const format = transcriptFormatSchema.safeParse(requested);
      if (!format.success) throw new AppError("NOT_FOUND", `Unsupported transcript format "${requested}"; use json-v2, json, txt, srt or vtt`);
      let found;
      try {
        found = await app.jobs.transcript(params.id!);
      } catch (error) {
        if (error instanceof AppError && typeof error.details?.status === "string") {
          const status = v2Status(error.details.status as JobStatus, style);
          throw new AppError("NOT_FOUND", `Job ${params.id!} is not complete (status ${status})`, { status });
        }
        throw error;
      }
      // The worker spec's "json" is the vendor's json-v2 document.
      const renderAs: TranscriptFormat = format.data === "json" ? "json-v2" : format.data;
      const rendered = renderTranscript(found.document, renderAs, {
        dataName: found.job.media?.originalName ?? found.job.id,
        language: found.job.language ?? found.document.language,
      });
      sendText(res, 200, rendered.body, rendered.contentType);
    }),
  );

  router.on(
    "GET",
    "/v2/jobs/:id/log",
    guard(async ({ res, params }) => {
      const lines = await app.jobs.log(params.id!);
      sendText(res, 200, lines.map((line) => `${line.at.toISOString()} ${line.level.toUpperCase()} ${line.message}`).join("\n") + "\n", "text/plain; charset=utf-8");
    }),
  );

  router.on(
    "DELETE",
    "/v2/jobs/:id",
    guard(async ({ req, res, params, url }) => {
      const force = ["true", "1", "yes"].includes((url.searchParams.get("force") ?? "").toLowerCase());
      const deleted = await app.jobs.delete(params.id!, { force });
      const style = statusStyleOf(req, app.config);
      sendJson(res, 200, { job: { ...toV2Job(deleted, style), status: style === "upper" ? "DELETED" : "deleted" } });
    }),
  );
}
