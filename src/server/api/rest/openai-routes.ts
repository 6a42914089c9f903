import { z } from "zod";
import { ownerFor } from "../../access";
import type { App } from "../../app";
import { normalizeLanguage } from "../../asr/languages";
import { AppError } from "../../errors";
import type { TranscriptionTask } from "../../jobs/job-types";
import { abortWhenClientGone } from "../../http/client-gone";
import { openAiErrorShape, sendJson, sendText } from "../../http/respond";
import type { Router } from "../../http/router";
import { noteJobId } from "../../observability/request-notes";
import type { JobView } from "../../services/job-views";
import type { ScopedJobs } from "../../services/scoped-jobs";
import { renderTranscript } from "../../transcripts/render-transcript";
import { guardedRoute, type ApiRouteContext } from "./guard";
import { OPENAI_RESPONSE_FORMATS, openAiText, toVerboseJson, type OpenAiResponseFormat, type TimestampGranularity } from "./openai-shapes";
import { receiveMediaUpload } from "./upload-media";

/**
 * OpenAI's audio API (`/v1/audio/transcriptions`, `/v1/audio/translations`, `/v1/models`),
 * so that OpenAI's SDKs and tools work with only their base URL changed. Synchronous like
 * OpenAI's, through the same job system as every other API: the job is queued, awaited for
 * at most SYNC_TRANSCRIBE_TIMEOUT_MS, and visible in the other APIs like any other.
 */

/** The name clients written for OpenAI send; it means this server's configured engine. */
const OPENAI_MODEL_ALIAS = "whisper-1";

/** Tells OpenAI's SDKs not to retry (they retry 409, 429 and 5xx by default): a retry would upload the file and run a new job again. */
const NO_RETRY = { "x-should-retry": "false" } as const;

/** "" is how some clients send a field they mean to leave out. */
const blankToUndefined = (value: unknown) => (value === "" ? undefined : value);

const requestSchema = z.object({
  model: z.string({ error: "you must provide a model parameter" }).trim().min(1, "you must provide a model parameter"),
  language: z.preprocess(blankToUndefined, z.string().trim().optional()),
  prompt: z.string().optional(),
  response_format: z.preprocess(
    blankToUndefined,
    z.enum(OPENAI_RESPONSE_FORMATS, { error: `response_format must be one of ${OPENAI_RESPONSE_FORMATS.join(", ")}` }).default("json"),
  ),
  temperature: z.preprocess(
    blankToUndefined,
    z.coerce.number({ error: "temperature must be a number between 0 and 1" }).min(0, "temperature must be between 0 and 1").max(1, "temperature must be between 0 and 1").default(0),
  ),
  timestamp_granularities: z.array(z.enum(["word", "segment"], { error: "timestamp_granularities[] must be word or segment" })),
  stream: z.preprocess(blankToUndefined, z.enum(["true", "false"], { error: "stream must be true or false" }).optional()),
});

type OpenAiRequest = {
  model: string;
  /** ISO 639-1 code or "auto". */
  language: string;
  prompt: string | undefined;
  responseFormat: OpenAiResponseFormat;
  temperature: number;
  granularities: Set<TimestampGranularity>;
};

/** A model as OpenAI's /v1/models lists it. */
type OpenAiModel = { id: string; object: "model"; created: number; owned_by: string };

export function registerOpenAiRoutes(router: Router, app: App): void {
  const guard = guardedRoute(app, openAiErrorShape);
  // OpenAI dates each model; ours date from this process's start.
  const created = Math.floor(Date.now() / 1000);

  /** whisper-1 and the engine's and its model's names ("pocketsphinx", "en-us"; "whisper-onnx", "whisper-tiny"), all meaning the configured engine. */
  const models = (): OpenAiModel[] => {
    const info = app.engine.info;
    const ids = [OPENAI_MODEL_ALIAS, ...(info ? [slug(info.name), slug(info.model.replace(/\s*\(.*\)\s*$/, ""))] : [])];
    return [...new Set(ids.filter((id) => id.length > 0))].map((id) => ({ id, object: "model", created, owned_by: "transcribe-platform" }));
  };

  const findModel = (id: string): OpenAiModel => {
    const model = models().find((candidate) => candidate.id === id);
    if (!model) {
      throw new AppError("NOT_FOUND", `The model '${id}' does not exist; this server offers ${models().map((m) => m.id).join(", ")}`, { param: "model", code: "model_not_found" });
    }
    return model;
  };

  const transcribe = (task: TranscriptionTask) =>
    guard(async (ctx) => {
      const jobs = app.jobsFor(ctx.principal);
      const upload = await receiveMediaUpload(app, ctx.req, ["file"], ownerFor(ctx.principal));
      if (!upload.file) throw new AppError("BAD_REQUEST", 'Missing form field "file": send the audio as a multipart file part named file', { param: "file" });
      const request = parseRequest(upload.fields, upload.fieldValues, task);
      findModel(request.model);
      const job = await jobs.createTranscription({
        type: "transcribe",
        media: upload.file.stored,
        language: request.language,
        enginesRequested: 1,
        origin: "openai",
        admission: "queue",
        task,
        userId: ownerFor(ctx.principal),
        // OpenAI's prompt: previous-text context for the decoder (spellings, names, style).
        ...(request.prompt !== undefined ? { prompt: request.prompt } : {}),
        config: {
          model: request.model,
          response_format: request.responseFormat,
          ...(request.granularities.size ? { timestamp_granularities: [...request.granularities] } : {}),
          temperature: request.temperature,
          ...(request.prompt !== undefined ? { prompt: request.prompt } : {}),
        },
      });
      // OpenAI's SDKs expose this header as the response's request id: here, the job's id,
      // under which the other APIs show the job.
      ctx.res.setHeader("x-request-id", job.id);
      noteJobId(ctx.res, job.id);
      const settled = await settleUnlessAbandoned(app, jobs, ctx, job.id);
      if (settled === null) return;
      if (settled.status !== "DONE") {
        const reason = settled.status === "CANCELLED" ? `Job ${job.id} was cancelled` : `Job ${job.id} failed: ${settled.failureReason ?? "unknown reason"}`;
        const code = settled.status === "CANCELLED" ? "job_cancelled" : "transcription_failed";
        sendJson(ctx.res, 422, openAiErrorShape(422, new AppError("BAD_REQUEST", reason, { code })), NO_RETRY);
        return;
      }
      const { document } = await jobs.transcript(job.id);
      switch (request.responseFormat) {
        case "json":
          sendJson(ctx.res, 200, { text: openAiText(document) });
          return;
        case "verbose_json":
          sendJson(ctx.res, 200, toVerboseJson(document, task, request.granularities));
          return;
        case "text":
          sendText(ctx.res, 200, `${openAiText(document)}\n`, "text/plain; charset=utf-8");
          return;
        // OpenAI sends subtitles as text/plain too; its SDKs return any non-JSON body as a string.
        case "srt":
        case "vtt":
          sendText(ctx.res, 200, renderTranscript(document, request.responseFormat).body, "text/plain; charset=utf-8");
          return;
        default: {
          const unknown: never = request.responseFormat;
          throw new Error(`Unknown response_format ${String(unknown)}`);
        }
      }
    });

  router.on("POST", "/v1/audio/transcriptions", transcribe("transcribe"));
  router.on("POST", "/v1/audio/translations", transcribe("translate"));

  router.on(
    "GET",
    "/v1/models",
    guard(async ({ res }) => {
      sendJson(res, 200, { object: "list", data: models() });
    }),
  );

  router.on(
    "GET",
    "/v1/models/:id",
    guard(async ({ res, params }) => {
      sendJson(res, 200, findModel(params.id!));
    }),
  );
}

/**
 * The request's form fields, checked; BAD_REQUEST naming the field (OpenAI's `param`)
 * otherwise. Translations take no language (OpenAI's translations detect it) and no
 * timestamp granularities (their verbose_json has segments only); both are ignored there.
 */
function parseRequest(fields: Record<string, string>, fieldValues: Record<string, string[]>, task: TranscriptionTask): OpenAiRequest {
  const parsed = requestSchema.safeParse({
    model: fields.model,
    language: fields.language,
    prompt: fields.prompt,
    response_format: fields.response_format,
    temperature: fields.temperature,
    // The SDKs send an array as repeated `name[]` parts; some clients leave out the brackets.
    timestamp_granularities: task === "translate" ? [] : [...(fieldValues["timestamp_granularities[]"] ?? []), ...(fieldValues.timestamp_granularities ?? [])],
    stream: fields.stream,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError("BAD_REQUEST", issue.message, { param: String(issue.path[0] ?? "") || null });
  }
  const request = parsed.data;
  if (request.stream === "true") throw new AppError("BAD_REQUEST", "Streaming is not supported: send stream=false or leave it out", { param: "stream" });
  const granularities = new Set(request.timestamp_granularities);
  if (granularities.size > 0 && request.response_format !== "verbose_json") {
    throw new AppError("BAD_REQUEST", "timestamp_granularities needs response_format=verbose_json", { param: "timestamp_granularities" });
  }
  let language = "auto";
  if (task === "transcribe" && request.language !== undefined) {
    try {
      language = normalizeLanguage(request.language);
    } catch (error) {
      if (error instanceof AppError) throw new AppError("BAD_REQUEST", error.message, { param: "language" });
      throw error;
    }
  }
  return { model: request.model, language, prompt: request.prompt, responseFormat: request.response_format, temperature: request.temperature, granularities };
}

/**
 * Waits for the job like OpenAI's synchronous API, bounded by SYNC_TRANSCRIBE_TIMEOUT_MS (504
 * naming the job, which keeps running and can be fetched from the other APIs). A client that
 * hangs up first is not waiting for the answer any more: its job is cancelled rather than
 * run for nobody, and null is returned (there is no one to answer).
 */
async function settleUnlessAbandoned(app: App, jobs: ScopedJobs, ctx: ApiRouteContext, jobId: string): Promise<JobView | null> {
  const { res } = ctx;
  const gone = abortWhenClientGone(res);
  const abandoned = new Promise<"abandoned">((resolve) => {
    if (gone.aborted || ctx.req.socket.destroyed) resolve("abandoned");
    else gone.addEventListener("abort", () => resolve("abandoned"), { once: true });
  });
  const settled = jobs.waitForSettled(jobId, app.config.syncTranscribeTimeoutMs);
  // Once abandoned, the wait's outcome (even a timeout) has no one to go to.
  settled.catch(() => undefined);
  try {
    const outcome = await Promise.race([settled, abandoned]);
    if (outcome !== "abandoned") return outcome;
    await jobs.cancel(jobId).then(
      () => app.logger.info("openai: client disconnected while waiting; job cancelled", { jobId }),
      // Finished meanwhile (CONFLICT): nothing to stop.
      (error: unknown) => {
        if (!(error instanceof AppError && error.code === "CONFLICT")) throw error;
      },
    );
    return null;
  } catch (error) {
    if (error instanceof AppError && error.code === "TIMEOUT") {
      res.setHeader("x-should-retry", "false");
      throw new AppError(
        "TIMEOUT",
        `Job ${jobId} did not finish within ${Math.round(app.config.syncTranscribeTimeoutMs / 1000)} s (SYNC_TRANSCRIBE_TIMEOUT_MS); it keeps running: fetch it with GET /v2/jobs/${jobId}/transcript when it is done`,
      );
    }
    throw error;
  }
}

/** A model id from an engine or model name: "remote workers (SQS)" → "remote-workers-sqs". */
function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, "-")
    .replace(/^-+|-+$/g, "");
}
