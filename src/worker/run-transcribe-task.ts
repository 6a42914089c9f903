import { transcribeMedia } from "../server/asr/transcribe-media";
import { jobSeed } from "../server/asr/whisper/fallback";
import { describeError, isPermanent } from "../server/errors";
import type { TaskRuntime } from "./task-runtime";
import { TASK_CONTRACT_VERSION, type TaskResult, type TranscribeTask } from "./task-contract";

/** The worker side of a transcribe task: fetch the media, run the engines, report. */
export async function runTranscribeTask(task: TranscribeTask, runtime: TaskRuntime): Promise<TaskResult> {
  const started = performance.now();
  try {
    const mediaPath = await runtime.blobs.localPath(task.mediaBlobKey, runtime.signal);
    const output = await transcribeMedia({
      mediaPath,
      language: task.language,
      task: task.task,
      engines: runtime.engines,
      signal: runtime.signal,
      seed: jobSeed(task.jobId),
      ...(task.prompt !== undefined ? { prompt: task.prompt } : {}),
      ...(task.media ? { media: task.media } : {}),
      ...(runtime.onProgress ? { onProgress: runtime.onProgress } : {}),
    });
    return {
      version: TASK_CONTRACT_VERSION,
      ok: true,
      kind: "transcribe",
      jobId: task.jobId,
      attempt: task.attempt,
      media: output.media,
      engine: { name: output.engine.name, model: output.engine.model, provider: output.engine.provider },
      language: output.transcription.language,
      segments: output.transcription.segments,
      ...(output.transcription.wordTimings ? { wordTimings: output.transcription.wordTimings } : {}),
      elapsedS: (performance.now() - started) / 1000,
    };
  } catch (error) {
    if (runtime.signal.aborted) throw error;
    return { version: TASK_CONTRACT_VERSION, ok: false, jobId: task.jobId, attempt: task.attempt, error: describeError(error), permanent: isPermanent(error) };
  }
}
