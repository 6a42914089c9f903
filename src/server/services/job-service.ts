import type { Db } from "../db/client";
import type { Job, JobLog } from "../db/models";
import type { AsrCapacity } from "../dispatch/lanes/lane";
import { AppError } from "../errors";
import { normalizeLanguage } from "../asr/languages";
import type { TranscriptSegment } from "../asr/engine";
import { segmentDecodingSchema, wordTimingsSchema } from "../asr/transcript-schema";
import { createJobId } from "../jobs/job-id";
import type { JobEventBus } from "../jobs/job-events";
import { isTerminal, type JobStatus } from "../jobs/job-status";
import type { JobStore, NewJob } from "../jobs/job-store";
import { insertWebhookSteps, type NewWebhook } from "../jobs/webhook-outbox";
import { laneSchema } from "../jobs/lanes";
import { renderTranscript } from "../transcripts/render-transcript";
import { parseSrt, renderSrt } from "../subtitles/srt";
import type { Cue } from "../subtitles/cues";
import type { MediaFile } from "../db/models";
import { convertOptionsSchema, type ConvertOptions } from "../media/convert-media";
import { BATCH_CHILD_TYPE, isBatchType, type BatchJobType, type BatchResult, type SingleJobType, type ConvertParams, type FixSrtParams, type SubtitleLayout, type TranscriptionParams, subtitleLayoutSchema } from "../jobs/job-types";
import type { Logger } from "../logger";
import type { TranscriptDocument } from "../transcripts/render-transcript";
import type { MediaService, StagedMedia } from "./media-service";
import { toJobView, type JobView } from "./job-views";

export type Admission =
  /** Start now or answer BUSY (the batch worker API's contract). */
  | "immediate"
  /** Accept and queue until engines are free. */
  | "queue";

export type CreateTranscriptionInput = {
  type: Exclude<SingleJobType, "fix_srt" | "convert">;
  /** A stored file's id, or an upload staged with this request (its row is written with the job's). */
  media: string | StagedMedia;
  /** As the client sent it ("en", "en-US", "auto"). */
  language: string;
  enginesRequested: number;
  origin: string;
  admission: Admission;
  config?: unknown;
  userId?: string | null;
  diarization?: TranscriptionParams["diarization"];
  operatingPoint?: TranscriptionParams["operatingPoint"];
  task?: TranscriptionParams["task"];
  /** Layout of the job's srt and vtt outputs; absent: the defaults. */
  subtitles?: SubtitleLayout;
  /** Text the decoder is conditioned on (TranscriptionParams.prompt). */
  prompt?: string;
  /** Called when the job finishes (notification_config, callback_url); written in the job's transaction. */
  webhooks?: readonly NewWebhook[];
};

export type CreateBatchInput = {
  type: BatchJobType;
  mediaFileIds: string[];
  language: string;
  enginesRequested: number;
  origin: string;
  userId?: string | null;
  task?: TranscriptionParams["task"];
  /** batch_transcribe, batch_generate_srt: the subtitle layout every child's srt and vtt use. */
  subtitles?: SubtitleLayout;
  /** batch_transcribe, batch_generate_srt: the prompt every child is decoded with. */
  prompt?: string;
  /** batch_fix_srt: the model and extra system message every child uses. */
  fixSrt?: { model?: string; systemMessage?: string };
  /** batch_convert: the options every child uses. */
  convert?: ConvertOptions;
  /** Called once the whole batch has finished; written in the batch's transaction. */
  webhooks?: readonly NewWebhook[];
};

export type CreateConvertInput = { mediaFileId: string; options: ConvertOptions; origin: string; userId?: string | null };

export type CreateFixSrtInput = {
  /** An uploaded SRT, or (with `sourceJobId`) none: the SRT that job produced is used. */
  mediaFileId?: string;
  /** A finished transcription job whose SRT is corrected. */
  sourceJobId?: string;
  /** Default: LLM_MODEL. */
  model?: string;
  systemMessage?: string;
  origin: string;
  userId?: string | null;
};

/** Largest edited SRT saveSubtitles accepts, in bytes (UTF-8): hours of dense subtitles fit well within it. */
export const MAX_EDITED_SRT_BYTES = 5 * 1024 * 1024;

/** Job types whose transcript has subtitles a user can edit. */
const SUBTITLED_TYPES: readonly string[] = ["transcribe", "generate_srt"];

export type ListJobsInput = {
  statuses?: JobStatus[];
  types?: string[];
  /** Only jobs created strictly before / at or after this instant. */
  createdBefore?: Date;
  createdAfter?: Date;
  /** undefined: any; null: top-level jobs only; string: children of that batch. */
  parentId?: string | null;
  limit: number;
  /** Opaque cursor from a previous page (the last job's id). */
  cursor?: string;
  /** By creation time; "oldest" lists a batch's files in the order they were given. Default "newest". */
  order?: "newest" | "oldest";
  /** Only this user's jobs (a user's key); undefined: everyone's. */
  userId?: string;
};

export type ServiceDeps = {
  db: Db;
  store: JobStore;
  /** Transcription capacity: what the worker API reports, checks and reserves. */
  asr: AsrCapacity;
  media: MediaService;
  events: JobEventBus;
  logger: Logger;
  maxAttempts: number;
  /** ms: the lease of a job this process starts at once (immediate admission). */
  leaseMs: number;
  /** This process's lease owner id. */
  owner: string;
  /** The model fix_srt jobs use when they name none (LLM_MODEL). */
  defaultLlmModel: string;
};

/** Every job operation, callable without HTTP; the REST adapters and tRPC routers are thin over it. */
export class JobService {
  constructor(private readonly deps: ServiceDeps) {}

  /** The batch worker API's 503 message, verbatim from its spec. */
  async busyMessage(requested: number): Promise<string> {
    const capacity = await this.deps.asr.capacity();
    return `Server busy: ${requested} engines not available (${capacity.usedEngines} engines in use, ${capacity.maxEngines} parallel allowed)`;
  }

  /**
   * The checks createTranscription makes of `requested` engines under `admission`, made
   * before an upload so a refused request does not wait for its bytes: BUSY when immediate
   * admission finds them not free now (re-checked atomically at creation), BAD_REQUEST when a
   * queued job could never fit.
   */
  async assertAdmissible(requested: number, admission: Admission): Promise<void> {
    this.validateEngines(requested, admission);
    if (admission === "immediate" && requested > (await this.deps.asr.capacity()).unusedEngines) throw new AppError("BUSY", await this.busyMessage(requested));
  }

  async createTranscription(input: CreateTranscriptionInput): Promise<JobView> {
    const language = normalizeLanguage(input.language);
    this.validateEngines(input.enginesRequested, input.admission);
    const staged = typeof input.media === "string" ? null : input.media;
    const media = staged ? staged.media : await this.deps.media.get(input.media as string);
    const withMedia = staged ? [staged.insert] : [];
    const params: TranscriptionParams = {
      mediaFileId: media.id,
      language,
      diarization: input.diarization ?? "none",
      task: input.task ?? "transcribe",
      ...(input.operatingPoint ? { operatingPoint: input.operatingPoint } : {}),
      ...subtitlesParam(input.subtitles),
      ...(input.prompt?.trim() ? { prompt: input.prompt } : {}),
    };
    const job: NewJob = {
      id: createJobId(),
      type: input.type,
      origin: input.origin,
      params,
      config: input.config,
      mediaFileId: media.id,
      language,
      enginesRequested: input.enginesRequested,
      userId: input.userId ?? null,
      maxAttempts: this.deps.maxAttempts,
    };
    const accepted = [{ level: "info" as const, message: `Job accepted: ${input.type} of "${media.originalName}" (${media.sizeBytes} bytes), language ${input.language}` }];
    const webhooks = insertWebhookSteps(job.id!, input.webhooks ?? []);
    let created;
    if (input.admission === "immediate") {
      // Capacity is taken before the row exists, and the row is written RUNNING for this
      // process, so no other request and no other replica can take the same engines.
      const ticket = await this.deps.asr.admitNow(job.id!, job.enginesRequested!);
      if (!ticket) throw new AppError("BUSY", await this.busyMessage(input.enginesRequested));
      try {
        created = await this.deps.store.createRunning(job, this.deps.owner, this.deps.leaseMs, accepted, withMedia, webhooks);
      } catch (error) {
        ticket.release();
        throw error;
      }
      this.logAccepted(created);
      ticket.start({ ...created, mediaFile: media });
    } else {
      created = await this.deps.store.create(job, accepted, withMedia, webhooks);
      this.logAccepted(created);
    }
    // The row as written: re-reading it would cost a query on the hot path for nothing.
    return toJobView({ ...created, mediaFile: media }, (file) => this.deps.media.uri(file));
  }

  /**
   * A fix_srt job. It takes no engine slot (enginesRequested 0): it waits on the LLM, and the
   * process-wide MAX_LLM_CONCURRENCY limiter bounds it, however many run.
   */
  async createFixSrt(input: CreateFixSrtInput): Promise<JobView> {
    const media = input.sourceJobId ? await this.srtOfJob(input.sourceJobId) : await this.deps.media.get(input.mediaFileId ?? "");
    if (media.format !== "srt") throw new AppError("BAD_REQUEST", `fix_srt needs an SRT file; "${media.originalName}" is ${media.format ?? "not one"}`);
    const params: FixSrtParams = { mediaFileId: media.id, model: input.model ?? this.deps.defaultLlmModel, ...(input.systemMessage ? { systemMessage: input.systemMessage } : {}) };
    return this.queueJob(media, { type: "fix_srt", params, enginesRequested: 0, origin: input.origin, userId: input.userId }, `with ${params.model}`);
  }

  /** A convert job: ffmpeg, in the ffmpeg pool (MAX_CONVERT_CONCURRENCY) or on the remote fleet. */
  async createConvert(input: CreateConvertInput): Promise<JobView> {
    const media = await this.deps.media.get(input.mediaFileId);
    if (media.format === "srt") throw new AppError("BAD_REQUEST", `convert needs an audio or video file; "${media.originalName}" is subtitles`);
    const params: ConvertParams = { mediaFileId: media.id, options: input.options };
    return this.queueJob(media, { type: "convert", params, enginesRequested: 1, origin: input.origin, userId: input.userId }, `to ${input.options.format}`);
  }

  /** Writes a language-less single job (fix_srt, convert) with its "accepted" log line and queues it. */
  private async queueJob(
    media: MediaFile,
    job: { type: "fix_srt" | "convert"; params: FixSrtParams | ConvertParams; enginesRequested: number; origin: string; userId: string | null | undefined },
    detail: string,
  ): Promise<JobView> {
    const created = await this.deps.store.create(
      {
        type: job.type,
        origin: job.origin,
        params: job.params,
        mediaFileId: media.id,
        language: null,
        enginesRequested: job.enginesRequested,
        userId: job.userId ?? null,
        maxAttempts: this.deps.maxAttempts,
      },
      [{ level: "info", message: `Job accepted: ${job.type} of "${media.originalName}" ${detail}` }],
    );
    this.logAccepted(created);
    return toJobView({ ...created, mediaFile: media }, (file) => this.deps.media.uri(file));
  }

  /** The operator log's "job accepted" line (the job's own log has its "Job accepted" line). */
  private logAccepted(job: Pick<Job, "id" | "type" | "origin" | "userId" | "lane">, extra: Record<string, unknown> = {}): void {
    this.deps.logger.info("job accepted", { jobId: job.id, type: job.type, origin: job.origin, userId: job.userId, lane: job.lane, ...extra });
  }

  /** Stores the SRT a finished transcription produced as a file, for fix_srt to read. */
  private async srtOfJob(jobId: string): Promise<MediaFile> {
    const { job, document } = await this.transcript(jobId);
    const srt = renderTranscript(document, "srt", { dataName: job.media?.originalName ?? job.id }).body;
    const cues = srt.match(/-->/g)?.length ?? 0;
    if (cues === 0) throw new AppError("BAD_REQUEST", `Job ${jobId}'s transcript has no cues to correct`);
    const base = (job.media?.originalName ?? job.id).replace(/\.[^.]+$/, "");
    return this.deps.media.storeOutput(
      Buffer.from(srt, "utf8"),
      { originalName: `${base}.srt`, contentType: "application/x-subrip", userId: job.userId },
      { format: "srt", durationS: job.media?.durationS ?? 0, sampleRateHz: null, channels: null, audioCodec: null, hasAudio: false },
    );
  }

  /** A batch parent with one queued child per file, written in one transaction. */
  async createBatch(input: CreateBatchInput): Promise<JobView> {
    if (input.mediaFileIds.length === 0) throw new AppError("BAD_REQUEST", "A batch needs at least one file");
    const language = normalizeLanguage(input.language);
    const childType = BATCH_CHILD_TYPE[input.type];
    const isFixSrt = childType === "fix_srt";
    const engines = isFixSrt ? 0 : childType === "convert" ? 1 : input.enginesRequested;
    if (!isFixSrt) this.validateEngines(engines, "queue");
    const found = await this.deps.db.mediaFile.findMany({ where: { id: { in: input.mediaFileIds } }, select: { id: true, format: true, originalName: true } });
    const missing = input.mediaFileIds.filter((id) => !found.some((media) => media.id === id));
    if (missing.length) throw new AppError("NOT_FOUND", `Media file not found: ${missing.slice(0, 5).join(", ")}`);
    // Subtitles for fix_srt, media for the rest: a wrong file is a 400 now, not a failed child later.
    const wrong = found.filter((media) => (media.format === "srt") !== isFixSrt);
    if (wrong.length) throw new AppError("BAD_REQUEST", `${input.type} needs ${isFixSrt ? "SRT files" : "audio or video files"}; not: ${wrong.slice(0, 5).map((media) => media.originalName).join(", ")}`);
    const model = input.fixSrt?.model ?? this.deps.defaultLlmModel;
    const convertOptions = convertOptionsSchema.parse(input.convert ?? {});
    const childParams = (mediaFileId: string): FixSrtParams | ConvertParams | TranscriptionParams =>
      isFixSrt
        ? { mediaFileId, model, ...(input.fixSrt?.systemMessage ? { systemMessage: input.fixSrt.systemMessage } : {}) }
        : childType === "convert"
          ? { mediaFileId, options: convertOptions }
          : { mediaFileId, language, diarization: "none", task: input.task ?? "transcribe", ...subtitlesParam(input.subtitles), ...(input.prompt?.trim() ? { prompt: input.prompt } : {}) };

    const parentId = createJobId();
    const { parent } = await this.deps.store.createBatch(
      {
        id: parentId,
        type: input.type,
        origin: input.origin,
        params: { childType, count: input.mediaFileIds.length, language },
        language,
        enginesRequested: engines,
        userId: input.userId ?? null,
        maxAttempts: this.deps.maxAttempts,
      },
      input.mediaFileIds.map((mediaFileId) => ({
        type: childType,
        origin: input.origin,
        params: childParams(mediaFileId),
        mediaFileId,
        language: isFixSrt || childType === "convert" ? null : language,
        enginesRequested: engines,
        userId: input.userId ?? null,
        maxAttempts: this.deps.maxAttempts,
      })),
      [{ level: "info", message: `Batch accepted: ${input.mediaFileIds.length} ${childType} jobs` }],
      insertWebhookSteps(parentId, input.webhooks ?? []),
    );
    // One line for the batch: its children's lines would be thousands.
    this.logAccepted(parent, { children: input.mediaFileIds.length });
    return this.get(parent.id);
  }

  /** Jobs waiting in the queue, in every lane, across replicas. */
  async queueDepth(): Promise<number> {
    return (await this.deps.store.countByStatus(laneSchema.options)).queued;
  }

  async get(id: string): Promise<JobView> {
    const job = await this.deps.store.findWithMedia(id);
    if (!job) throw new AppError("NOT_FOUND", `Job not found: ${id}`);
    return toJobView(job, (media) => this.deps.media.uri(media));
  }

  async list(input: ListJobsInput): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
    const jobs = await this.deps.db.job.findMany({
      where: {
        ...(input.statuses?.length ? { status: { in: input.statuses } } : {}),
        ...(input.types?.length ? { type: { in: input.types } } : {}),
        ...(input.createdBefore || input.createdAfter
          ? { createdAt: { ...(input.createdBefore ? { lt: input.createdBefore } : {}), ...(input.createdAfter ? { gte: input.createdAfter } : {}) } }
          : {}),
        ...(input.parentId !== undefined ? { parentId: input.parentId } : {}),
        ...(input.userId !== undefined ? { userId: input.userId } : {}),
      },
      include: { mediaFile: true },
      orderBy: input.order === "oldest" ? [{ createdAt: "asc" }, { id: "asc" }] : [{ createdAt: "desc" }, { id: "desc" }],
      take: input.limit + 1,
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
    });
    const page = jobs.slice(0, input.limit);
    return {
      jobs: page.map((job) => toJobView(job, (media) => this.deps.media.uri(media))),
      nextCursor: jobs.length > input.limit ? (page[page.length - 1]?.id ?? null) : null,
    };
  }

  /** Cancels a queued or running job (and a batch's unfinished children), in one statement. Finished jobs are left as they are. */
  async cancel(id: string): Promise<JobView> {
    const job = await this.get(id);
    if (isTerminal(job.status)) throw new AppError("CONFLICT", `Job ${id} is already ${job.status} and cannot be cancelled`);
    // Attempts running anywhere hear of it through the event bus and stop.
    const cancelled = await this.deps.store.cancel(id);
    if (cancelled.length) this.deps.logger.info("jobs cancelled", { jobId: id, count: cancelled.length });
    return this.get(id);
  }

  /** Re-queues a failed or cancelled job; for a batch, only its failed and cancelled children. */
  async retry(id: string): Promise<JobView> {
    const job = await this.get(id);
    if (isBatchType(job.type)) {
      const retried = await this.deps.store.retry(id);
      if (retried.length === 0) throw new AppError("CONFLICT", `Batch ${id} has no failed or cancelled jobs to retry`);
      await this.deps.store.appendLog(id, [{ level: "info", message: `Retrying ${retried.length} failed or cancelled jobs` }]);
      return this.get(id);
    }
    if (job.status !== "FAILED" && job.status !== "CANCELLED") throw new AppError("CONFLICT", `Job ${id} is ${job.status}; only FAILED or CANCELLED jobs can be retried`);
    await this.deps.store.retry(id);
    return this.get(id);
  }

  /** Deletes a job with its outputs and logs; a running job only with `force` (it is cancelled first). */
  async delete(id: string, opts: { force: boolean }): Promise<JobView> {
    const job = await this.get(id);
    if (!isTerminal(job.status)) {
      if (!opts.force) throw new AppError("CONFLICT", `Job ${id} is ${job.status}; cancel it first or delete with force=true`);
      await this.deps.store.cancel(id);
    }
    const { deleted, mediaFileIds } = await this.deps.store.deleteFinished([id]);
    if (deleted.length === 0) throw new AppError("CONFLICT", `Job ${id} changed while it was being deleted; try again`);
    await this.deps.media.deleteOrphans(mediaFileIds);
    return { ...job, status: "CANCELLED" };
  }

  /**
   * Saves the user's edit of a finished transcription's subtitles; from then on the srt, vtt
   * and txt renderings (downloads, exports, fix_srt from this job) use these cues. The SRT is
   * stored as renderSrt writes it, renumbered from 1, so every reader parses one normal form.
   */
  async saveSubtitles(jobId: string, srt: string): Promise<{ cues: number; editedAt: Date }> {
    await this.assertEditable(jobId);
    if (Buffer.byteLength(srt, "utf8") > MAX_EDITED_SRT_BYTES) {
      throw new AppError("PAYLOAD_TOO_LARGE", `The subtitles are larger than ${MAX_EDITED_SRT_BYTES} bytes`);
    }
    const cues = validateEditedCues(parseSrt(srt));
    const editedAt = new Date();
    const { count } = await this.deps.db.transcript.updateMany({ where: { jobId }, data: { editedSrt: renderSrt(cues), editedAt } });
    if (count === 0) throw new AppError("NOT_FOUND", `Job ${jobId} has no transcript`);
    await this.deps.store.appendLog(jobId, [{ level: "info", message: `Subtitles edited: ${cues.length} cues saved` }]);
    return { cues: cues.length, editedAt };
  }

  /** Drops the user's subtitle edit: the renderings go back to the recogniser's cues. */
  async discardSubtitleEdits(jobId: string): Promise<void> {
    await this.assertEditable(jobId);
    const { count } = await this.deps.db.transcript.updateMany({ where: { jobId, editedAt: { not: null } }, data: { editedSrt: null, editedAt: null } });
    // Discarding twice is harmless; only a real change is worth a log line.
    if (count > 0) await this.deps.store.appendLog(jobId, [{ level: "info", message: "Subtitle edits discarded" }]);
  }

  /** BAD_REQUEST unless the job is a transcription, CONFLICT unless it is DONE. */
  private async assertEditable(jobId: string): Promise<void> {
    const job = await this.get(jobId);
    if (!SUBTITLED_TYPES.includes(job.type)) {
      throw new AppError("BAD_REQUEST", `Job ${jobId} is a ${job.type} job; only transcribe and generate_srt jobs have subtitles to edit`);
    }
    if (job.status !== "DONE") {
      throw new AppError("CONFLICT", `Job ${jobId} is ${job.status}; its subtitles can be edited once it is DONE`, { status: job.status });
    }
  }

  /** The transcript of a finished job; NOT_FOUND naming the current status otherwise. */
  async transcript(id: string): Promise<{ job: JobView; document: TranscriptDocument; editedAt: Date | null }> {
    const job = await this.get(id);
    if (job.status !== "DONE") {
      throw new AppError("NOT_FOUND", `Job ${id} is not complete (status ${job.status})`, { status: job.status });
    }
    const transcript = await this.deps.db.transcript.findUnique({ where: { jobId: id }, include: { segments: { orderBy: { index: "asc" } } } });
    if (!transcript) throw new AppError("NOT_FOUND", `Job ${id} has no transcript`, { status: job.status });
    return {
      job,
      editedAt: transcript.editedAt,
      document: {
        ...(transcript.editedSrt !== null ? { editedCues: parseSrt(transcript.editedSrt) } : {}),
        ...cueRulesOf(job.params),
        jobId: id,
        language: transcript.language,
        engine: transcript.engine,
        durationS: transcript.durationS,
        createdAt: transcript.createdAt,
        ...storedWordTimings(transcript.wordTimings),
        segments: transcript.segments.map((segment) => ({
          startS: segment.startS,
          endS: segment.endS,
          text: segment.text,
          words: JSON.parse(segment.words) as TranscriptDocument["segments"][number]["words"],
          ...storedDecoding(segment.decoding),
        })),
      },
    };
  }

  async log(id: string): Promise<JobLog[]> {
    await this.get(id);
    return this.deps.db.jobLog.findMany({ where: { jobId: id }, orderBy: { id: "asc" } });
  }

  /** Outcome counts of a batch's children. */
  async batchSummary(parentId: string): Promise<BatchResult & { queued: number; running: number }> {
    const [counts, childIds] = await Promise.all([this.deps.store.childCounts(parentId), this.deps.store.childIds(parentId)]);
    return { total: childIds.length, done: counts.DONE, failed: counts.FAILED, cancelled: counts.CANCELLED, queued: counts.QUEUED, running: counts.RUNNING, childIds };
  }

  /**
   * Resolves once the job is DONE, FAILED or CANCELLED, or rejects with TIMEOUT. Hears the
   * job settle on whichever replica settles it (the event bus), and re-reads it after a
   * reconnect, when events may have been missed.
   */
  async waitForSettled(id: string, timeoutMs: number): Promise<JobView> {
    let unsubscribe = () => {};
    const settled = new Promise<void>((resolve) => {
      unsubscribe = this.deps.events.subscribe((event) => {
        if (event.type === "changed" && event.jobId === id && isTerminal(event.status)) resolve();
        if (event.type === "resync") void this.get(id).then((job) => isTerminal(job.status) && resolve(), () => undefined);
      });
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const current = await this.get(id);
      if (isTerminal(current.status)) return current;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const outcome = await Promise.race([settled.then(() => "settled" as const), timedOut]);
      if (outcome === "timeout") throw new AppError("TIMEOUT", `Job ${id} did not finish within ${Math.round(timeoutMs / 1000)} s; poll its status instead`, { jobId: id });
      return this.get(id);
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  private validateEngines(requested: number, admission: Admission): void {
    if (!Number.isInteger(requested) || requested < 1) throw new AppError("BAD_REQUEST", "parallel_engines must be a positive integer");
    // The worker API answers 503 for this (its spec); queueing paths would wait forever, so 400.
    if (admission === "queue" && requested > this.deps.asr.maxEnginesPerJob) {
      throw new AppError("BAD_REQUEST", `parallel_engines ${requested} exceeds the ${this.deps.asr.maxEnginesPerJob} engines of this server`);
    }
  }
}

/**
 * Checks what parseSrt lets through but a player cannot show: a cue that is never on screen
 * or has no text. Numbers cues from 1 (the user's numbering may have gaps after deletions)
 * and names the cue, counted from 1 in file order, in the message.
 */
function validateEditedCues(parsed: Cue[]): Cue[] {
  if (parsed.length === 0) throw new AppError("BAD_REQUEST", "The subtitles have no cues");
  return parsed.map((cue, i) => {
    const number = i + 1;
    const name = cue.index === number ? `Cue ${number}` : `Cue ${number} (numbered ${cue.index} in the file)`;
    if (cue.endS <= cue.startS) throw new AppError("BAD_REQUEST", `${name} ends at or before its start; give it an end time after the start`);
    const lines = cue.lines.map((line) => line.trim()).filter((line) => line.length > 0);
    if (lines.length === 0) throw new AppError("BAD_REQUEST", `${name} has no text`);
    return { index: number, startS: cue.startS, endS: cue.endS, lines };
  });
}

/** The `subtitles` param when it sets anything: jobs without a layout keep the params they always had. */
function subtitlesParam(layout: SubtitleLayout | undefined): Pick<TranscriptionParams, "subtitles"> {
  const set = Object.entries(layout ?? {}).filter(([, value]) => value !== undefined);
  return set.length > 0 ? { subtitles: Object.fromEntries(set) as SubtitleLayout } : {};
}

/** The subtitle layout a transcription job was created with, as the document's cue rules. */
function cueRulesOf(params: unknown): Pick<TranscriptDocument, "cueRules"> {
  const layout = subtitleLayoutSchema.safeParse((params as { subtitles?: unknown } | null)?.subtitles);
  return layout.success && layout.data ? { cueRules: layout.data } : {};
}

/** The transcript's word-timing source as stored; a value this version does not know is left out. */
function storedWordTimings(stored: string | null): Pick<TranscriptDocument, "wordTimings"> {
  const parsed = wordTimingsSchema.safeParse(stored);
  return parsed.success ? { wordTimings: parsed.data } : {};
}

/** A segment's stored decoding figures (JSON written by the transcribe handler), if any. */
function storedDecoding(stored: string | null): Pick<TranscriptSegment, "decoding"> {
  if (stored === null) return {};
  try {
    const parsed = segmentDecodingSchema.safeParse(JSON.parse(stored));
    return parsed.success ? { decoding: parsed.data } : {};
  } catch {
    return {};
  }
}
