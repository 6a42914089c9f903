import { z } from "zod";
import { jobStatusSchema } from "../../../jobs/job-status";
import { batchJobTypeSchema, isBatchType, singleJobTypeSchema, subtitleLayoutSchema, transcriptionPromptSchema, transcriptionTaskSchema } from "../../../jobs/job-types";
import { convertOptionsSchema } from "../../../media/convert-media";
import { jobChangeFilterSchema, streamJobChanges } from "../../../services/job-change-stream";
import { MAX_EDITED_SRT_BYTES } from "../../../services/job-service";
import { renderTranscript, TRANSCRIPT_FORMATS } from "../../../transcripts/render-transcript";
import { batchWebhook, batchWebhookSchema } from "../../../webhooks/webhook-requests";
import { publicProcedure, router } from "../init";
import { ownerFor } from "../../../access";
import { MAX_MEDIA_URLS, remoteMediaOf } from "../../../services/remote-media";

const idInput = z.object({ id: z.string().min(1) });

/** Job operations for the dashboard and typed clients. Thin: logic lives in JobService. */
export const jobsRouter = router({
  create: publicProcedure
    .input(
      z.object({
        mediaFileId: z.string().min(1),
        /** fix_srt has its own procedure (createFixSrt). */
        type: singleJobTypeSchema.extract(["transcribe", "generate_srt"]).default("transcribe"),
        language: z.string().min(1).default("en"),
        /** translate: English text whatever the spoken language (Whisper engines). */
        task: transcriptionTaskSchema.default("transcribe"),
        parallelEngines: z.number().int().min(1).default(1),
        /** false: start now or fail with SERVICE_UNAVAILABLE, as the worker API does. */
        queue: z.boolean().default(true),
        /** Characters per line and lines per cue of the srt and vtt outputs (default 42, 2). */
        subtitles: subtitleLayoutSchema.optional(),
        /** Text to condition the decoder on (names, spellings, style), as OpenAI's `prompt`. Whisper only. */
        prompt: transcriptionPromptSchema.optional(),
      }),
    )
    .mutation(({ ctx, input }) =>
      ctx.jobs.createTranscription({
        type: input.type,
        media: input.mediaFileId,
        language: input.language,
        task: input.task,
        ...(input.subtitles ? { subtitles: input.subtitles } : {}),
        ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
        enginesRequested: input.parallelEngines,
        origin: "trpc",
        admission: input.queue ? "queue" : "immediate",
      }),
    ),

  createBatch: publicProcedure
    .input(
      z.object({
        mediaFileIds: z.array(z.string().min(1)).max(10_000).default([]),
        /** Media fetched by the server (http(s):// under the SSRF guard, or s3://), after mediaFileIds. */
        mediaUrls: z.array(z.string().min(1).max(8192)).max(MAX_MEDIA_URLS).default([]),
        type: batchJobTypeSchema.default("batch_transcribe"),
        language: z.string().min(1).default("en"),
        /** batch_fix_srt: the LLM model (default LLM_MODEL) and an extra system message. */
        model: z.string().min(1).optional(),
        systemMessage: z.string().max(20_000).optional(),
        /** translate: English text whatever the spoken language (Whisper engines). */
        task: transcriptionTaskSchema.default("transcribe"),
        parallelEngines: z.number().int().min(1).default(1),
        /** batch_convert: the options every file is converted with. */
        convert: convertOptionsSchema.optional(),
        /** POSTed `{ batchId, status, counts, finishedAt }` once the whole batch has finished. */
        webhook: batchWebhookSchema.optional(),
        /** batch_transcribe, batch_generate_srt: characters per line and lines per cue of every file's srt and vtt. */
        subtitles: subtitleLayoutSchema.optional(),
        /** batch_transcribe, batch_generate_srt: text every file's decoding is conditioned on. Whisper only. */
        prompt: transcriptionPromptSchema.optional(),
      }).refine((input) => input.mediaFileIds.length + input.mediaUrls.length >= 1, "Give mediaFileIds or mediaUrls"),
    )
    .mutation(async ({ ctx, input }) => {
      // Every URL is fetched (4 at a time) before the batch exists: a bad one is a 400 naming it.
      const fetched = input.mediaUrls.length ? await remoteMediaOf(ctx.app).recordFromUrls(input.mediaUrls, { userId: ownerFor(ctx.principal) }) : [];
      try {
        return await ctx.jobs.createBatch({
          ...(input.convert ? { convert: input.convert } : {}),
          ...(input.webhook ? { webhooks: [batchWebhook(input.webhook)] } : {}),
          ...(input.subtitles ? { subtitles: input.subtitles } : {}),
          ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
          type: input.type,
          mediaFileIds: [...input.mediaFileIds, ...fetched],
          fixSrt: { ...(input.model ? { model: input.model } : {}), ...(input.systemMessage ? { systemMessage: input.systemMessage } : {}) },
          language: input.language,
          task: input.task,
          enginesRequested: input.parallelEngines,
          origin: "trpc",
        });
      } catch (error) {
        await ctx.app.media.deleteOrphans(fetched).catch(() => undefined);
        throw error;
      }
    }),

  /** fix_srt: an uploaded SRT (POST /api/uploads with a .srt file), or the SRT a finished job produced, corrected by the LLM. */
  createFixSrt: publicProcedure
    .input(
      z
        .object({ mediaFileId: z.string().min(1).optional(), sourceJobId: z.string().min(1).optional(), model: z.string().min(1).optional(), systemMessage: z.string().max(20_000).optional() })
        .refine((input) => Boolean(input.mediaFileId) !== Boolean(input.sourceJobId), "Give either mediaFileId (an uploaded SRT) or sourceJobId (a finished transcription)"),
    )
    .mutation(({ ctx, input }) =>
      ctx.jobs.createFixSrt({
        ...(input.mediaFileId ? { mediaFileId: input.mediaFileId } : {}),
        ...(input.sourceJobId ? { sourceJobId: input.sourceJobId } : {}),
        origin: "trpc",
        ...(input.model ? { model: input.model } : {}),
        ...(input.systemMessage ? { systemMessage: input.systemMessage } : {}),
      }),
    ),

  /** convert: media to MP4 (H.264/AAC) or audio only (m4a, mp3, wav). */
  createConvert: publicProcedure
    .input(z.object({ mediaFileId: z.string().min(1), options: convertOptionsSchema.prefault({}) }))
    .mutation(({ ctx, input }) => ctx.jobs.createConvert({ mediaFileId: input.mediaFileId, options: input.options, origin: "trpc" })),

  list: publicProcedure
    .input(
      z.object({
        status: z.array(jobStatusSchema).optional(),
        type: z.array(z.string()).optional(),
        createdBefore: z.date().optional(),
        createdAfter: z.date().optional(),
        /** null: top-level jobs only (default); an id: that batch's children. */
        parentId: z.string().nullable().default(null),
        limit: z.number().int().min(1).max(100).default(20),
        cursor: z.string().optional(),
        /** By creation time; "oldest" lists a batch's files in the order they were given. */
        order: z.enum(["newest", "oldest"]).default("newest"),
      }),
    )
    .query(({ ctx, input }) =>
      ctx.jobs.list({
        limit: input.limit,
        parentId: input.parentId,
        order: input.order,
        ...(input.status ? { statuses: input.status } : {}),
        ...(input.type ? { types: input.type } : {}),
        ...(input.createdBefore ? { createdBefore: input.createdBefore } : {}),
        ...(input.createdAfter ? { createdAfter: input.createdAfter } : {}),
        ...(input.cursor ? { cursor: input.cursor } : {}),
      }),
    ),

  get: publicProcedure.input(idInput).query(async ({ ctx, input }) => {
    const job = await ctx.jobs.get(input.id);
    const batch = isBatchType(job.type) ? await ctx.jobs.batchSummary(job.id) : null;
    return { job, batch };
  }),

  cancel: publicProcedure.input(idInput).mutation(({ ctx, input }) => ctx.jobs.cancel(input.id)),
  retry: publicProcedure.input(idInput).mutation(({ ctx, input }) => ctx.jobs.retry(input.id)),
  delete: publicProcedure
    .input(idInput.extend({ force: z.boolean().default(false) }))
    .mutation(({ ctx, input }) => ctx.jobs.delete(input.id, { force: input.force })),

  transcript: publicProcedure
    .input(idInput.extend({ format: z.enum(TRANSCRIPT_FORMATS).default("json") }))
    .query(async ({ ctx, input }) => {
      const { job, document, editedAt } = await ctx.jobs.transcript(input.id);
      const rendered = renderTranscript(document, input.format, { dataName: job.media?.originalName ?? job.id, language: job.language ?? document.language });
      return { format: input.format, contentType: rendered.contentType, body: rendered.body, document, editedAt };
    }),

  /** Saves the dashboard's edit of a finished transcription's subtitles (SRT text); srt, vtt and txt use it from then on. */
  saveSubtitles: publicProcedure
    // Characters bound the parse cheaply here; the service checks the exact UTF-8 size.
    .input(idInput.extend({ srt: z.string().max(MAX_EDITED_SRT_BYTES) }))
    .mutation(({ ctx, input }) => ctx.jobs.saveSubtitles(input.id, input.srt)),

  /** Drops the subtitle edit: srt, vtt and txt are the recogniser's again. */
  discardSubtitleEdits: publicProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    await ctx.jobs.discardSubtitleEdits(input.id);
    return { ok: true as const };
  }),

  log: publicProcedure.input(idInput).query(({ ctx, input }) => ctx.jobs.log(input.id)),

  /**
   * Live job changes (server-sent events): one job ({ jobId }), a batch and its children
   * ({ batchId }), top-level jobs ({ topLevel: true }) or everything ({}), from whichever
   * replica made them. Each message lists the latest state of the jobs that changed, or asks
   * the view to re-read everything (`resync`).
   */
  changes: publicProcedure.input(jobChangeFilterSchema.default({})).subscription(({ ctx, input, signal }) => streamJobChanges(ctx.app.events, input, { signal: signal ?? new AbortController().signal, visible: (ids) => ctx.jobs.visibleJobIds(ids) })),
});
