import type { Engine } from "../server/asr/engine";
import type { BlobStore } from "../server/storage/blob-store";
import { runConvertTask } from "./run-convert-task";
import { runTranscribeTask } from "./run-transcribe-task";
import type { TaskResult, WorkerTask } from "./task-contract";

/** What a task runs with, wherever it runs (the embedded lanes or a gpu-worker). */
export type TaskRuntime = {
  blobs: BlobStore;
  /** The engine slots leased for a transcription (as many as task.engines); none for a conversion. */
  engines: Engine[];
  signal: AbortSignal;
  onProgress?: (fraction: number) => void;
  /** Local scratch space (conversion outputs before they go to the blob store). */
  workDir: string;
};

/**
 * Runs one task and reports its result. Errors become a failed result (never a throw),
 * permanent when a retry cannot help; only an abort is thrown, since the caller owns it.
 */
export function runWorkerTask(task: WorkerTask, runtime: TaskRuntime): Promise<TaskResult> {
  return task.kind === "convert" ? runConvertTask(task, runtime) : runTranscribeTask(task, runtime);
}

/** Engine slots a task needs on the worker that runs it. */
export function enginesFor(task: WorkerTask): number {
  return task.kind === "transcribe" ? task.engines : 0;
}
