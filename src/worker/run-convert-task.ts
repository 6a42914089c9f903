import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { convertMedia } from "../server/media/convert-media";
import { describeError, isPermanent } from "../server/errors";
import type { TaskRuntime } from "./task-runtime";
import { TASK_CONTRACT_VERSION, type ConvertTask, type TaskResult } from "./task-contract";

/**
 * The worker side of a convert task: ffmpeg on the source, the output streamed into the
 * blob store under its content key (so a retried conversion stores nothing twice), and what
 * a probe of the output found. The control plane records the new media file when it applies
 * the result.
 */
export async function runConvertTask(task: ConvertTask, runtime: TaskRuntime): Promise<TaskResult> {
  const started = performance.now();
  await fs.mkdir(runtime.workDir, { recursive: true });
  const output = path.join(runtime.workDir, `${task.jobId}-${task.attempt}-${randomBytes(4).toString("hex")}.${task.options.format}`);
  try {
    const converted = await convertMedia({
      input: await runtime.blobs.localPath(task.mediaBlobKey, runtime.signal),
      output,
      options: task.options,
      durationS: task.sourceDurationS,
      signal: runtime.signal,
      ...(runtime.onProgress ? { onProgress: runtime.onProgress } : {}),
    });
    const stored = await runtime.blobs.put(createReadStream(output), { maxBytes: Number.MAX_SAFE_INTEGER, signal: runtime.signal });
    return {
      version: TASK_CONTRACT_VERSION,
      ok: true,
      kind: "convert",
      jobId: task.jobId,
      attempt: task.attempt,
      output: { blobKey: stored.key, sha256: stored.sha256, sizeBytes: stored.sizeBytes },
      converted: { format: converted.format, durationS: converted.durationS, videoCodec: converted.videoCodec, audioCodec: converted.audioCodec },
      elapsedS: (performance.now() - started) / 1000,
    };
  } catch (error) {
    if (runtime.signal.aborted) throw error;
    return { version: TASK_CONTRACT_VERSION, ok: false, jobId: task.jobId, attempt: task.attempt, error: describeError(error), permanent: isPermanent(error) };
  } finally {
    await fs.rm(output, { force: true });
  }
}
