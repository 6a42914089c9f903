import { executeTranscribeTask, type TaskRuntime } from "../../worker/run-transcribe-task";
import type { BlobStore } from "../storage/blob-store";
import { taskResultSchema, transcribeTaskSchema, type TaskResult, type TranscribeTask } from "../../worker/task-contract";

/** Runs a task and returns its result event. In-process today; SQS carries the same messages later. */
export type TaskTransport = {
  execute(task: TranscribeTask, runtime: Omit<TaskRuntime, "blobs">): Promise<TaskResult>;
};

/**
 * The embedded transport: the worker code runs in this process on the leased engine slots.
 * Messages still go through the zod contract both ways, so the embedded mode exercises
 * exactly what a remote worker would receive and send.
 */
export function createInProcessTransport(blobs: BlobStore): TaskTransport {
  return {
    async execute(task, runtime) {
      const message = transcribeTaskSchema.parse(JSON.parse(JSON.stringify(task)));
      const result = await executeTranscribeTask(message, { ...runtime, blobs });
      return taskResultSchema.parse(result);
    },
  };
}
