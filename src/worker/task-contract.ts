import { z } from "zod";

/**
 * The message a worker receives and the event it reports back. Workers never touch the
 * database: everything they need is in the task, everything they produce is in the result
 * (and, later, in the blob store). Versioned so old workers reject new shapes loudly.
 */
export const TASK_CONTRACT_VERSION = 1;

/** What the recogniser produces: the spoken language's text, or an English translation of it. */
export const transcriptionTaskSchema = z.enum(["transcribe", "translate"]);
export type TranscriptionTask = z.infer<typeof transcriptionTaskSchema>;

export const mediaInfoSchema = z.object({
  format: z.string(),
  durationS: z.number(),
  sampleRateHz: z.number().int().nullable(),
  channels: z.number().int().nullable(),
  audioCodec: z.string().nullable(),
  hasAudio: z.boolean(),
});

export const transcribeTaskSchema = z.object({
  version: z.literal(TASK_CONTRACT_VERSION),
  kind: z.literal("transcribe"),
  jobId: z.string().min(1),
  /** The job's attempt number this task belongs to; stale results carry an older one. */
  attempt: z.number().int().positive(),
  mediaBlobKey: z.string().min(1),
  language: z.string().min(1),
  /** Added within version 1: a task without it is a transcription, as before. */
  task: transcriptionTaskSchema.default("transcribe"),
  /** Engine slots the job asked for (parallel_engines). */
  engines: z.number().int().positive(),
  /**
   * What the control plane's probe found at upload. Blob keys are content hashes, so
   * these facts hold for these exact bytes and the worker need not probe again.
   */
  media: mediaInfoSchema.optional(),
});
export type TranscribeTask = z.infer<typeof transcribeTaskSchema>;

const wordSchema = z.object({ text: z.string(), startS: z.number(), endS: z.number(), confidence: z.number() });
const segmentSchema = z.object({ startS: z.number(), endS: z.number(), text: z.string(), words: z.array(wordSchema) });


export const taskResultSchema = z.discriminatedUnion("ok", [
  z.object({
    version: z.literal(TASK_CONTRACT_VERSION),
    ok: z.literal(true),
    jobId: z.string(),
    attempt: z.number().int(),
    media: mediaInfoSchema,
    engine: z.object({ name: z.string(), model: z.string(), provider: z.string() }),
    language: z.string(),
    /** Empty when `segmentsBlobKey` is set. */
    segments: z.array(segmentSchema),
    /**
     * A queue message holds at most 256 KiB, so a remote worker puts a long transcript's
     * segments (JSON) in the blob store and sends this key instead.
     */
    segmentsBlobKey: z.string().optional(),
    /** wall seconds the worker spent */
    elapsedS: z.number(),
  }),
  z.object({
    version: z.literal(TASK_CONTRACT_VERSION),
    ok: z.literal(false),
    jobId: z.string(),
    attempt: z.number().int(),
    /** One line for users (failure_reason). */
    error: z.string(),
    /** True when retrying cannot help (bad media, unsupported language). */
    permanent: z.boolean(),
  }),
]);
export type TaskResult = z.infer<typeof taskResultSchema>;
export type TaskSuccess = Extract<TaskResult, { ok: true }>;

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

/** Everything a worker puts on the results queue. */
export const resultsQueueMessageSchema = z.union([taskResultSchema, deliveryFailedSchema]);
export type ResultsQueueMessage = z.infer<typeof resultsQueueMessageSchema>;
