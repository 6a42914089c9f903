import { z } from "zod";
import { ownerFor } from "../../access";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { sendJson, sendText, v2ErrorShape } from "../../http/respond";
import type { Router } from "../../http/router";
import { noteJobId } from "../../observability/request-notes";
import { guardedRoute } from "./guard";
import { SUBTITLE_LAYOUT_LIMITS, transcriptionTaskSchema, type SubtitleLayout } from "../../jobs/job-types";
import type { JobStatus } from "../../jobs/job-status";
import { renderTranscript, TRANSCRIPT_FORMATS, type TranscriptFormat } from "../../transcripts/render-transcript";
import { parseConfigField, receiveMediaUpload } from "./upload-media";
import { statusStyleOf } from "./v2-shapes";
import { toV2Job, v2Status } from "../../wire/v2-job";
import { notificationConfigSchema, notificationWebhooks, redactNotificationConfig } from "../../webhooks/webhook-requests";
import { abortWhenClientGone } from "../../http/client-gone";
import { fetchDataSchema, parseAuthHeaders, redactFetchData, remoteMediaOf } from "../../services/remote-media";
import { MAX_PROMPT_CHARS } from "../../../shared/transcription-task";

/** X-SM-Processing-Data: how many engines the job takes and whose job it is. */
const processingDataSchema = z.object({
  parallel_engines: z.number().int().min(1).max(256).default(1),
  user_id: z.string().max(256).optional(),
});

/** An integer from 1 to `max`, with a message naming the config field. */
function layoutLimit(field: string, max: number): z.ZodOptional<z.ZodNumber> {
  const error = `config.output_config.srt_overrides.${field} must be an integer from 1 to ${max}`;
  return z.number({ error }).int({ error }).min(1, { error }).max(max, { error }).optional();
}

/**
 * The vendor's output_config: `srt_overrides` sets characters per line and lines per cue of
 * the subtitles (we apply it to vtt as well: both come from the same cues).
 */
const outputConfigSchema = z.looseObject({
  srt_overrides: z
    .looseObject({
      max_line_length: layoutLimit("max_line_length", SUBTITLE_LAYOUT_LIMITS.maxLineChars),
      max_lines: layoutLimit("max_lines", SUBTITLE_LAYOUT_LIMITS.maxLines),
    })
    .nullish(),
});

function subtitleLayoutOf(output: z.infer<typeof outputConfigSchema> | null | undefined): SubtitleLayout {
  const overrides = output?.srt_overrides;
  return {
    ...(overrides?.max_line_length !== undefined ? { maxLineChars: overrides.max_line_length } : {}),
    ...(overrides?.max_lines !== undefined ? { maxLines: overrides.max_lines } : {}),
  };
}

/**
 * The vendor's additional_vocab for Whisper: its words, as a list, become the decoder's
 * previous-text prompt (what faster-whisper's `hotwords` do), so the decoder favours those
 * spellings. `sounds_like` (pronunciations for a phonetic recogniser) has no use there.
 * Whisper reads the prompt's last 223 tokens; the list is cut to MAX_PROMPT_CHARS.
 */
function vocabularyPrompt(vocabulary: readonly { content: string }[]): string {
  let prompt = "";
  for (const { content } of vocabulary) {
    const next = prompt ? `${prompt}, ${content}` : content;
    if (next.length > MAX_PROMPT_CHARS) break;
    prompt = next;
  }
  return prompt;
}

/** The job config form field; unknown keys are kept and echoed back, as the vendor API does. */
const jobConfigSchema = z.looseObject({
  type: z.literal("transcription", { error: 'config.type must be "transcription"' }).default("transcription"),
  transcription_config: z.looseObject({
    language: z.string({ error: "config.transcription_config.language is required" }).min(1),
    diarization: z.enum(["none", "speaker", "channel"]).optional(),
    operating_point: z.enum(["standard", "enhanced"]).optional(),
    /** Our extension: "translate" gives English text from any spoken language (Whisper engines). */
    task: transcriptionTaskSchema.optional(),
    /** The vendor's custom dictionary: words and phrases the audio contains (see vocabularyPrompt). */
    additional_vocab: z
      .array(
        z.looseObject({
          content: z.string({ error: "config.transcription_config.additional_vocab[].content is required" }).trim().min(1).max(200),
          sounds_like: z.array(z.string().max(200)).max(20).optional(),
        }),
      )
      .max(1000, { error: "config.transcription_config.additional_vocab holds at most 1000 entries" })
      .optional(),
  }),
  /** Webhooks called when the job finishes (the vendor's shape; see src/server/webhooks). */
  notification_config: notificationConfigSchema.nullish(),
  /** Media by URL instead of a data_file (the vendor's shape; its SDK's transcribe({ url })). */
  fetch_data: fetchDataSchema.nullish(),
  output_config: outputConfigSchema.nullish(),
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
    guard(async ({ req, res, principal }) => {
      const processing = parseProcessingData(req.headers["x-sm-processing-data"]);
      // V2_WHEN_BUSY=reject (seed 000): fail before the upload when the engines are not free
      // (re-checked atomically after it). queue (SaaS-style clients): accept and queue; only a
      // job that could never fit is refused.
      const admission = app.config.v2WhenBusy === "queue" ? "queue" : "immediate";
      await app.jobs.assertAdmissible(processing.parallel_engines, admission);
      const owner = ownerFor(principal, processing.user_id);
      const upload = await receiveMediaUpload(app, req, ["data_file"], owner);
      if (upload.fields.config === undefined) throw new AppError("BAD_REQUEST", 'Missing form field "config"');
      const config = jobConfigSchema.safeParse(parseConfigField(app, upload.fields.config));
      if (!config.success) throw new AppError("BAD_REQUEST", `Invalid config: ${zodMessage(config.error)}`);
      const fetchData = config.data.fetch_data;
      if (upload.file && fetchData) throw new AppError("BAD_REQUEST", "Give either data_file or config.fetch_data, not both");
      if (!upload.file && !fetchData) throw new AppError("BAD_REQUEST", 'Missing form field "data_file"');
      const media = upload.file
        ? upload.file.stored
        : await remoteMediaOf(app).stageFromUrl(fetchData!.url, { authHeaders: parseAuthHeaders(fetchData!.auth_headers, "fetch_data.auth_headers"), userId: owner, signal: abortWhenClientGone(res) });
      const tc = config.data.transcription_config;
      const job = await app.jobsFor(principal).createTranscription({
        type: "transcribe",
        media,
        language: tc.language,
        enginesRequested: processing.parallel_engines,
        origin: "v2",
        admission,
        config: redactFetchData(redactNotificationConfig(config.data)),
        webhooks: notificationWebhooks(config.data.notification_config),
        userId: owner,
        ...(tc.diarization ? { diarization: tc.diarization } : {}),
        ...(tc.operating_point ? { operatingPoint: tc.operating_point } : {}),
        ...(tc.task ? { task: tc.task } : {}),
        ...(tc.additional_vocab?.length ? { prompt: vocabularyPrompt(tc.additional_vocab) } : {}),
        subtitles: subtitleLayoutOf(config.data.output_config),
      });
      // `job_id` is what seed 000 specifies; `id` is what the vendor's v2 API (and its SDK) reads.
      noteJobId(res, job.id);
      sendJson(res, 201, { id: job.id, job_id: job.id });
    }),
  );

  router.on(
    "GET",
    "/v2/jobs",
    guard(async ({ req, res, url, principal }) => {
      const query = listQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!query.success) throw new AppError("BAD_REQUEST", zodMessage(query.error));
      const style = statusStyleOf(req, app.config);
      const { jobs } = await app.jobsFor(principal).list({
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
    guard(async ({ req, res, params, principal }) => {
      const job = await app.jobsFor(principal).get(params.id!);
      sendJson(res, 200, { job: { ...toV2Job(job, statusStyleOf(req, app.config)), request_id: job.id } });
    }),
  );

  router.on(
    "GET",
    "/v2/jobs/:id/transcript",
    guard(async ({ req, res, params, url, principal }) => {
      const style = statusStyleOf(req, app.config);
      const requested = url.searchParams.get("format") ?? "json-v2";
      const format = transcriptFormatSchema.safeParse(requested);
      if (!format.success) throw new AppError("NOT_FOUND", `Unsupported transcript format "${requested}"; use json-v2, json, txt, srt or vtt`);
      let found;
      try {
        found = await app.jobsFor(principal).transcript(params.id!);
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
    guard(async ({ res, params, principal }) => {
      const lines = await app.jobsFor(principal).log(params.id!);
      sendText(res, 200, lines.map((line) => `${line.at.toISOString()} ${line.level.toUpperCase()} ${line.message}`).join("\n") + "\n", "text/plain; charset=utf-8");
    }),
  );

  router.on(
    "DELETE",
    "/v2/jobs/:id",
    guard(async ({ req, res, params, url, principal }) => {
      const force = ["true", "1", "yes"].includes((url.searchParams.get("force") ?? "").toLowerCase());
      const deleted = await app.jobsFor(principal).delete(params.id!, { force });
      const style = statusStyleOf(req, app.config);
      sendJson(res, 200, { job: { ...toV2Job(deleted, style), status: style === "upper" ? "DELETED" : "deleted" } });
    }),
  );
}
