import { describeError, isPermanent } from "../server/errors";
import type { BlobStore } from "../server/storage/blob-store";
import { TASK_CONTRACT_VERSION, type TaskResult, type TranscribeTask } from "./task-contract";
import type { Engine } from "../server/asr/engine";
import { transcribeMedia } from "../server/asr/transcribe-media";

export type TaskRuntime = {
  blobs: BlobStore;
  /** The engine slots leased for this task (as many as task.engines). */
  engines: Engine[];
  signal: AbortSignal;
  onProgress?: (fraction: number) => void;
};

/**
 * The worker side of a transcribe task: fetch the media, run the engines, report. Errors
 * become a failed result (never a throw), except an abort, which the caller owns.
 */
export async function executeTranscribeTask(task: TranscribeTask, runtime: TaskRuntime): Promise<TaskResult> {
  const started = performance.now();
  try {
    const mediaPath = await runtime.blobs.localPath(task.mediaBlobKey);
    const output = await transcribeMedia({
      mediaPath,
      language: task.language,
      task: task.task,
      engines: runtime.engines,
      signal: runtime.signal,
      ...(task.media ? { media: task.media } : {}),
      ...(runtime.onProgress ? { onProgress: runtime.onProgress } : {}),
    });
    return {
      version: TASK_CONTRACT_VERSION,
      ok: true,
      jobId: task.jobId,
      attempt: task.attempt,
      media: output.media,
      engine: { name: output.engine.name, model: output.engine.model, provider: output.engine.provider },
      language: output.transcription.language,
      segments: output.transcription.segments,
      elapsedS: (performance.now() - started) / 1000,
    };
  } catch (error) {
    if (runtime.signal.aborted) throw error;
    return {
      version: TASK_CONTRACT_VERSION,
      ok: false,
      jobId: task.jobId,
      attempt: task.attempt,
      error: describeError(error),
      permanent: isPermanent(error),
    };
  }
}
