import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { engineConfigFrom, engineEnvSchema, type EngineConfig } from "../src/server/asr/engine-env";
import { awsConfigFrom, awsEnvSchema, queueUrlSchema, type AwsConfig } from "../src/server/aws/aws-env";
import { describeEnvIssues, positiveInt } from "../src/server/env-types";

/**
 * Everything a worker is configured with. Workers hold no database credentials: there is
 * deliberately no database setting here (a test checks that), because all a worker needs is
 * in the task, and all it produces goes to the results queue and the blob store.
 */
export const workerEnvSchema = z.object({
  ...engineEnvSchema.shape,
  ...awsEnvSchema.shape,
  SQS_TASKS_QUEUE_URL: queueUrlSchema,
  SQS_RESULTS_QUEUE_URL: queueUrlSchema,
  S3_BUCKET: z.string().min(3),
  S3_PREFIX: z.string().default(""),
  /**
   * Tasks in flight in this process. Whisper batches them all on one model (continuous
   * batching), so more in flight means fuller batches, not more memory; PocketSphinx runs a
   * process per task. Default ASR_BATCH_SIZE: enough short files to fill the batch.
   */
  PARALLEL: positiveInt.max(256).optional(),
  /** The former name of PARALLEL (PARALLEL wins when both are set). */
  WORKER_SLOTS: positiveInt.max(256).optional(),
  /** Concurrent receive loops; default one per task in flight. More loops than slots keep tasks queued here, fewer idle slots. */
  WORKER_LOOPS: positiveInt.max(1024).optional(),
  /** s a received task stays invisible to other workers; renewed every third of it while it runs. */
  VISIBILITY_TIMEOUT_S: positiveInt.max(43_200).default(300),
  /** s SIGTERM waits for running tasks before handing them back to the queue. */
  DRAIN_TIMEOUT_S: z.coerce.number().min(0).default(60),
  /** Transcripts whose segments JSON exceeds this go through the blob store instead of the message. */
  WORKER_INLINE_SEGMENTS_MAX_BYTES: positiveInt.max(240_000).default(200_000),
  /** Local scratch: downloaded media, model cache. */
  WORKER_DIR: z.string().min(1).default(path.join(os.tmpdir(), "transcribe-worker")),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
});

export type WorkerConfig = EngineConfig & {
  aws: AwsConfig;
  tasksQueueUrl: string;
  resultsQueueUrl: string;
  bucket: string;
  prefix: string;
  slots: number;
  loops: number;
  visibilityTimeoutS: number;
  drainTimeoutS: number;
  inlineSegmentsMaxBytes: number;
  workDir: string;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
};

export function loadWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const parsed = workerEnvSchema.safeParse(env);
  if (!parsed.success) throw new Error(`Invalid worker environment:\n  ${describeEnvIssues(parsed.error)}`);
  const e = parsed.data;
  const workDir = path.resolve(e.WORKER_DIR);
  return {
    ...engineConfigFrom(e, workDir),
    aws: awsConfigFrom(e),
    tasksQueueUrl: e.SQS_TASKS_QUEUE_URL,
    resultsQueueUrl: e.SQS_RESULTS_QUEUE_URL,
    bucket: e.S3_BUCKET,
    prefix: e.S3_PREFIX,
    slots: e.PARALLEL ?? e.WORKER_SLOTS ?? e.ASR_BATCH_SIZE,
    loops: e.WORKER_LOOPS ?? e.PARALLEL ?? e.WORKER_SLOTS ?? e.ASR_BATCH_SIZE,
    visibilityTimeoutS: e.VISIBILITY_TIMEOUT_S,
    drainTimeoutS: e.DRAIN_TIMEOUT_S,
    inlineSegmentsMaxBytes: e.WORKER_INLINE_SEGMENTS_MAX_BYTES,
    workDir,
    logLevel: e.LOG_LEVEL,
  };
}
