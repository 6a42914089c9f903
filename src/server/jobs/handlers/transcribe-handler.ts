import { randomUUID } from "node:crypto";
import type { Db } from "../../db/client";
import type { TaskSuccess } from "../../dispatch/task-contract";
import type { TaskTransport } from "../../dispatch/in-process-transport";
import { PermanentJobError } from "../../errors";
import type { JobHandler } from "../registry";
import { transcriptionParamsSchema, type TranscriptionResult } from "../job-types";

/**
 * transcribe and generate_srt: send the media to a worker, then store the transcript (and
 * what the worker learned about the media) in the transaction that completes the job.
 * Both types produce every output format; generate_srt only changes what the job is for.
 */
export function createTranscribeHandler(deps: { db: Db; transport: TaskTransport }): JobHandler {
  return async (ctx) => {
    const params = transcriptionParamsSchema.parse(JSON.parse(ctx.job.params));
    const media = await deps.db.mediaFile.findUnique({ where: { id: params.mediaFileId } });
    if (!media) throw new PermanentJobError(`The job's media file ${params.mediaFileId} no longer exists`);
    if (params.diarization !== "none") {
      ctx.log("warn", `diarization "${params.diarization}" is not supported by this engine; the transcript has no speaker labels`);
    }
    const result = await deps.transport.execute(
      {
        version: 1,
        kind: "transcribe",
        jobId: ctx.job.id,
        attempt: ctx.attempt,
        mediaBlobKey: media.blobKey,
        language: params.language,
        engines: ctx.engines.length,
      },
      { engines: ctx.engines, signal: ctx.signal, onProgress: ctx.reportProgress },
    );
    if (!result.ok) {
      if (result.permanent) throw new PermanentJobError(result.error);
      throw new Error(result.error);
    }
    const m = result.media;
    ctx.log("info", `Media: ${m.format}, ${m.durationS.toFixed(2)} s, ${m.sampleRateHz ?? "?"} Hz, ${m.channels ?? "?"} channel(s)`);
    const words = result.segments.reduce((sum, segment) => sum + segment.words.length, 0);
    const rtfx = result.elapsedS > 0 ? m.durationS / result.elapsedS : 0;
    ctx.log("info", `Transcribed ${words} words in ${result.segments.length} segments with ${result.engine.name} in ${result.elapsedS.toFixed(2)} s (${rtfx.toFixed(1)}x real time)`);
    const transcriptId = randomUUID();
    const summary: TranscriptionResult = { transcriptId, words, durationS: m.durationS, engine: result.engine.name, elapsedS: result.elapsedS };
    return {
      result: summary,
      writeOutputs: (tx) => writeTranscript(tx, ctx.job.id, params.mediaFileId, transcriptId, result),
    };
  };
}

async function writeTranscript(tx: Db, jobId: string, mediaFileId: string, transcriptId: string, result: TaskSuccess): Promise<void> {
  const m = result.media;
  await tx.mediaFile.update({
    where: { id: mediaFileId },
    data: { durationS: m.durationS, format: m.format, sampleRateHz: m.sampleRateHz, channels: m.channels },
  });
  await tx.transcript.create({
    data: {
      id: transcriptId,
      jobId,
      language: result.language,
      engine: result.engine.name,
      text: result.segments.map((segment) => segment.text).join(" ").trim(),
      durationS: m.durationS,
    },
  });
  if (result.segments.length > 0) {
    await tx.transcriptSegment.createMany({
      data: result.segments.map((segment, index) => ({
        transcriptId,
        index,
        startS: segment.startS,
        endS: segment.endS,
        text: segment.text,
        words: JSON.stringify(segment.words),
      })),
    });
  }
}
