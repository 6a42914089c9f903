import { randomUUID } from "node:crypto";
import type { TaskSuccess } from "../../../worker/task-contract";
import type { MediaFile } from "../../db/models";
import type { MediaInfo } from "../../media/probe-media";
import type { TaskTransport } from "../../dispatch/in-process-transport";
import { sql, type BatchStep } from "../../db/sql/sql-client";
import { PermanentJobError } from "../../errors";
import type { MediaService } from "../../services/media-service";
import type { JobHandler } from "../registry";
import { transcriptionParamsSchema, type TranscriptionResult } from "../job-types";

/** Rows per multi-row INSERT: 6 columns × 100 stays far below SQLite's bound-parameter limit. */
const SEGMENT_ROWS_PER_INSERT = 100;

/**
 * transcribe and generate_srt: send the media to a worker, then store the transcript (and
 * what the worker learned about the media) in the transaction that completes the job.
 * Both types produce every output format; generate_srt only changes what the job is for.
 */
export function createTranscribeHandler(deps: { media: MediaService; transport: TaskTransport }): JobHandler {
  return async (ctx) => {
    const params = transcriptionParamsSchema.parse(JSON.parse(ctx.job.params));
    const media = await deps.media.find(params.mediaFileId);
    if (!media) throw new PermanentJobError(`The job's media file ${params.mediaFileId} no longer exists`);
    if (params.diarization !== "none") {
      ctx.log("warn", `diarization "${params.diarization}" is not supported by this engine; the transcript has no speaker labels`);
    }
    const known = probedMedia(media);
    const result = await deps.transport.execute(
      {
        version: 1,
        kind: "transcribe",
        jobId: ctx.job.id,
        attempt: ctx.attempt,
        mediaBlobKey: media.blobKey,
        language: params.language,
        task: params.task,
        engines: ctx.engines.length,
        ...(known ? { media: known } : {}),
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
    return { result: summary, outputs: transcriptSteps(ctx.job.id, params.mediaFileId, transcriptId, result) };
  };
}

/** The upload's probe results, when complete enough to spare the worker a probe. */
function probedMedia(media: MediaFile): MediaInfo | null {
  if (media.durationS === null || media.format === null) return null;
  return { format: media.format, durationS: media.durationS, sampleRateHz: media.sampleRateHz, channels: media.channels, audioCodec: null, hasAudio: true };
}

function transcriptSteps(jobId: string, mediaFileId: string, transcriptId: string, result: TaskSuccess): BatchStep[] {
  const m = result.media;
  const steps: BatchStep[] = [
    // The worker's probe of the file it actually decoded is the authority on these facts.
    sql(`UPDATE "MediaFile" SET "durationS" = ?, "format" = ?, "sampleRateHz" = ?, "channels" = ? WHERE "id" = ?`, m.durationS, m.format, m.sampleRateHz, m.channels, mediaFileId),
    sql(
      `INSERT INTO "Transcript" ("id", "jobId", "language", "engine", "text", "durationS", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?)`,
      transcriptId, jobId, result.language, result.engine.name, result.segments.map((segment) => segment.text).join(" ").trim(), m.durationS, new Date(),
    ),
  ];
  for (let start = 0; start < result.segments.length; start += SEGMENT_ROWS_PER_INSERT) {
    const chunk = result.segments.slice(start, start + SEGMENT_ROWS_PER_INSERT);
    steps.push(
      sql(
        `INSERT INTO "TranscriptSegment" ("transcriptId", "index", "startS", "endS", "text", "words") VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}`,
        ...chunk.flatMap((segment, offset) => [transcriptId, start + offset, segment.startS, segment.endS, segment.text, JSON.stringify(segment.words)]),
      ),
    );
  }
  return steps;
}
