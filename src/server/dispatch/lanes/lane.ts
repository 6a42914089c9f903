import type { Job } from "../../db/models";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { JobStore, JobWithMedia } from "../../jobs/job-store";
import type { Logger } from "../../logger";
import type { AttemptSettler } from "../attempt-settler";
import { PermanentJobError } from "../../errors";
import type { Lane } from "../../jobs/lanes";
import type { JobHandlerRegistry, TaskJobHandler } from "../../jobs/registry";
import type { BlobStore } from "../../storage/blob-store";
import type { Engine } from "../../asr/engine";
import { runWorkerTask } from "../../../worker/run-task";
import { taskResultSchema, workerTaskSchema } from "../../../worker/task-contract";
import type { AttemptWork } from "../local-attempts";

export type FillResult = { claimed: number; drained: boolean };

/** What both ends of the remote fleet's traffic (sending tasks, applying results) work with. */
export type FleetDeps = {
  sqs: SQSClient;
  store: JobStore;
  registry: JobHandlerRegistry;
  settler: AttemptSettler;
  logger: Logger;
  tasksQueueUrl: string;
  /** ms a task may wait for a worker before its attempt is presumed lost (SQS_TASK_PICKUP_TIMEOUT_MS). */
  pickupTimeoutMs: number;
};

/** What a lane reports for capacity views. */
export type LaneSnapshot = { name: string; lanes: readonly Lane[]; limit: number; running: number };

/**
 * One kind of capacity in this process: it claims jobs of its lanes from the queue as far
 * as it has room and starts them. The scheduler calls `fill` one at a time per runner.
 */
export type LaneRunner = {
  readonly name: string;
  readonly lanes: readonly Lane[];
  /** Whether one more job could start now, as far as this process knows. */
  hasRoom(): boolean;
  /**
   * Claims and starts what fits. `drained`: a claim got fewer jobs than it asked for, so
   * nothing more is runnable now (or what is does not fit); false when it was not asked.
   */
  fill(): Promise<FillResult>;
  snapshot(): Promise<LaneSnapshot>;
};

/** Engines as the worker API reports them (GET /jobs): this process's slots, or the fleet's in-flight tasks. */
export type EngineCapacity = {
  maxEngines: number;
  usedEngines: number;
  unusedEngines: number;
  activeJobs: { jobId: string; parallelEngines: number }[];
};

/** Transcription capacity as the APIs see it: reported, checked before an upload, and taken by an immediate admission. */
export type AsrCapacity = {
  /** The most engines one job may ask for. */
  readonly maxEnginesPerJob: number;
  capacity(): Promise<EngineCapacity>;
  /** Takes capacity for a job about to be written RUNNING here; null when there is not enough. */
  admitNow(jobId: string, engines: number): Promise<AdmissionTicket | null>;
};

/** A job started here without going through the queue (the worker API's immediate admission). */
export type AdmissionTicket = {
  /** Starts the job, written RUNNING for this process. */
  start(job: JobWithMedia): void;
  /** Gives the capacity back when the job could not be written. */
  release(): void;
};

/**
 * The work of a task job run in this process: the same task message a remote worker would
 * get (round-tripped through the contract's schemas, so the embedded mode exercises exactly
 * what crosses the queue), run by the worker runtime, its result applied by the handler.
 */
export function taskWork(job: JobWithMedia, registry: JobHandlerRegistry, runtime: { blobs: BlobStore; workDir: string; engines: () => Promise<Engine[]> }): AttemptWork {
  return async (ctx) => {
    const handler = taskHandlerFor(job, registry);
    const task = workerTaskSchema.parse(JSON.parse(JSON.stringify(await handler.buildTask(job, ctx.attempt))));
    const result = taskResultSchema.parse(
      await runWorkerTask(task, { blobs: runtime.blobs, engines: await runtime.engines(), signal: ctx.signal, onProgress: ctx.reportProgress, workDir: runtime.workDir }),
    );
    if (!result.ok) throw result.permanent ? new PermanentJobError(result.error) : new Error(result.error);
    return handler.applyResult(job, result, ctx.log);
  };
}

/** The job's handler when it runs as a worker task; a permanent failure otherwise. */
export function taskHandlerFor(job: Pick<Job, "type">, registry: JobHandlerRegistry): TaskJobHandler {
  const handler = registry.get(job.type);
  if (!handler) throw new PermanentJobError(`Unknown job type "${job.type}": no handler is registered for it`);
  if (handler.kind !== "task") throw new PermanentJobError(`Job type "${job.type}" does not run as a worker task`);
  return handler;
}

/** The work of a job this process runs start to end (fix_srt). */
export function localWork(job: Job, registry: JobHandlerRegistry): AttemptWork {
  return async (ctx) => {
    const handler = registry.get(job.type);
    if (!handler) throw new PermanentJobError(`Unknown job type "${job.type}": no handler is registered for it`);
    if (handler.kind !== "local") throw new PermanentJobError(`Job type "${job.type}" runs as a worker task, not in the control plane`);
    return handler.run(ctx);
  };
}
