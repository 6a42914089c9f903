import { runConvertTask } from "./run-convert-task";
import { runTranscribeTask } from "./run-transcribe-task";
import type { TaskResult, WorkerTask } from "./task-contract";
import type { TaskRuntime } from "./task-runtime";

export type { TaskRuntime } from "./task-runtime";

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
