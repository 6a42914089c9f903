import { z } from "zod";
import { transcriptSegmentSchema, wordTimingsSchema } from "../server/asr/transcript-schema";
import { convertOptionsSchema } from "../server/media/convert-options";
import { transcriptionPromptSchema, transcriptionTaskSchema } from "../shared/transcription-task";

/**
 * The messages a worker receives and the events it reports back. Workers never touch the
 * database: everything they need is in the task, everything they produce is in the result
 * and the blob store. Versioned so old workers reject new shapes loudly; fields added within
 * version 1 are optional, so a control plane and workers of neighbouring releases (a rolling
 * deploy) still understand each other.
 */
export const TASK_CONTRACT_VERSION = 1;


export const mediaInfoSchema = z.object({
  format: z.string(),
  durationS: z.number(),
  sampleRateHz: z.number().int().nullable(),
  channels: z.number().int().nullable(),
  audioCodec: z.string().nullable(),
  hasAudio: z.boolean(),
});

/** Fields every task carries: which job and attempt it belongs to, and how to behave while running. */
const taskBase = {
  version: z.literal(TASK_CONTRACT_VERSION),
  jobId: z.string().min(1),
  /** The job's attempt number this task belongs to; stale results carry an older one. */
  attempt: z.number().int().positive(),
  mediaBlobKey: z.string().min(1),
  /** Added within version 1: ms after which the worker gives up on the task (a permanent failure). */
  timeoutMs: z.number().int().positive().optional(),
  /**
   * Added within version 1: ms between the worker's heartbeats on the results queue. The
   * control plane renews the job's lease on each, so the lease follows the worker.
   */
  heartbeatMs: z.number().int().positive().optional(),
};

export const transcribeTaskSchema = z.object({
  ...taskBase,
  kind: z.literal("transcribe"),
  language: z.string().min(1),
  /** Added within version 1: a task without it is a transcription, as before. */
  task: transcriptionTaskSchema.default("transcribe"),
  /** Engine slots the job asked for (parallel_engines). */
  engines: z.number().int().positive(),
  /** Added within version 1: text the decoder is conditioned on (Whisper; others ignore it). */
  prompt: transcriptionPromptSchema.optional(),
  /**
   * What the control plane's probe found at upload. Blob keys are content hashes, so
   * these facts hold for these exact bytes and the worker need not probe again.
   */
  media: mediaInfoSchema.optional(),
});
export type TranscribeTask = z.infer<typeof transcribeTaskSchema>;

/** Media to MP4 or audio only with ffmpeg; the output goes to the blob store under its content key. */
export const convertTaskSchema = z.object({
  ...taskBase,
  kind: z.literal("convert"),
  options: convertOptionsSchema,
  /** s, from the upload's probe: ffmpeg's progress is measured against it. */
  sourceDurationS: z.number().min(0),
});
export type ConvertTask = z.infer<typeof convertTaskSchema>;

export const workerTaskSchema = z.discriminatedUnion("kind", [transcribeTaskSchema, convertTaskSchema]);
export type WorkerTask = z.infer<typeof workerTaskSchema>;


const transcribeSuccessSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  ok: z.literal(true),
  /** Added within version 1; a result without it is a transcription's. */
  kind: z.literal("transcribe").default("transcribe"),
  jobId: z.string(),
  attempt: z.number().int(),
  media: mediaInfoSchema,
  engine: z.object({ name: z.string(), model: z.string(), provider: z.string() }),
  language: z.string(),
  /** Empty when `segmentsBlobKey` is set. */
  segments: z.array(transcriptSegmentSchema),
  /** Where the words' times come from (absent from workers older than this field). */
  wordTimings: wordTimingsSchema.optional(),
  /**
   * A queue message holds at most 256 KiB, so a remote worker puts a long transcript's
   * segments (JSON) in the blob store and sends this key instead.
   */
  segmentsBlobKey: z.string().optional(),
  /** wall seconds the worker spent */
  elapsedS: z.number(),
});

const convertSuccessSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  ok: z.literal(true),
  kind: z.literal("convert"),
  jobId: z.string(),
  attempt: z.number().int(),
  /** The converted file, already in the blob store under its content key. */
  output: z.object({ blobKey: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), sizeBytes: z.number().int().min(0) }),
  /** What a probe of the output found. */
  converted: z.object({ format: z.string(), durationS: z.number(), videoCodec: z.string().nullable(), audioCodec: z.string().nullable() }),
  elapsedS: z.number(),
});

const taskFailureSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  ok: z.literal(false),
  jobId: z.string(),
  attempt: z.number().int(),
  /** One line for users (failure_reason). */
  error: z.string(),
  /** True when retrying cannot help (bad media, unsupported language, a timeout). */
  permanent: z.boolean(),
});

/** Convert first: a transcription's result may omit `kind`, a conversion's never does. */
export const taskResultSchema = z.union([convertSuccessSchema, transcribeSuccessSchema, taskFailureSchema]);
export type TaskResult = z.infer<typeof taskResultSchema>;
export type TaskSuccess = Extract<TaskResult, { ok: true }>;
export type TranscribeSuccess = z.infer<typeof transcribeSuccessSchema>;
export type ConvertSuccess = z.infer<typeof convertSuccessSchema>;

/**
 * A remote worker's report that one delivery of a task failed in a way a retry may fix.
 * The task goes back on the queue; after its last delivery SQS moves it to the dead-letter
 * queue, and the control plane fails the job with the last reported error.
 */
export const deliveryFailedSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  kind: z.literal("delivery-failed"),
  jobId: z.string(),
  attempt: z.number().int(),
  error: z.string(),
  /** SQS's ApproximateReceiveCount of the delivery that failed. */
  receiveCount: z.number().int(),
  worker: z.string(),
});
export type DeliveryFailed = z.infer<typeof deliveryFailedSchema>;

/**
 * Added within version 1: a worker holds the task and is alive. Sent when the task is
 * received and every `heartbeatMs` after, and sooner when progress moved; whichever
 * replica receives it renews the job's lease for the worker and records the progress.
 */
export const heartbeatSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  kind: z.literal("heartbeat"),
  jobId: z.string(),
  attempt: z.number().int(),
  worker: z.string(),
  /** 0..1, when the task reports it. */
  progress: z.number().min(0).max(1).optional(),
  receiveCount: z.number().int(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Added within version 1: a stopping worker gave the task back to the queue unfinished (no failure). */
export const handedBackSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  kind: z.literal("handed-back"),
  jobId: z.string(),
  attempt: z.number().int(),
  worker: z.string(),
});
export type HandedBack = z.infer<typeof handedBackSchema>;

/** Everything a worker puts on the results queue. */
export const resultsQueueMessageSchema = z.union([taskResultSchema, deliveryFailedSchema, heartbeatSchema, handedBackSchema]);
export type ResultsQueueMessage = z.infer<typeof resultsQueueMessageSchema>;
