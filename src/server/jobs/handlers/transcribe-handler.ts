import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { MediaFile } from "../../db/models";
import { sql, type BatchStep } from "../../db/sql/sql-client";
import type { MediaInfo } from "../../media/probe-media";
import type { MediaService } from "../../services/media-service";
import type { BlobStore } from "../../storage/blob-store";
import { TASK_CONTRACT_VERSION, taskResultSchema, type TranscribeSuccess } from "../../../worker/task-contract";
import { transcriptionParamsSchema, type TranscriptionResult } from "../job-types";
import type { TaskJobHandler } from "../registry";
import { mediaOfJob } from "./job-media";

/** Rows per multi-row INSERT: 6 columns × 100 stays far below SQLite's bound-parameter limit. */
const SEGMENT_ROWS_PER_INSERT = 100;

/**
 * transcribe and generate_srt: the media goes to a worker as a task; its result (the
 * transcript, and what the worker learned about the media) is stored in the transaction
 * that completes the job. Both types produce every output format; generate_srt only changes
 * what the job is for.
 */
export function createTranscribeHandler(deps: { media: MediaService; blobs: BlobStore }): TaskJobHandler {
  return {
    kind: "task",
    async buildTask(job, attempt) {
      const params = transcriptionParamsSchema.parse(JSON.parse(job.params));
      const media = await mediaOfJob(job, params.mediaFileId, deps.media);
      const known = probedMedia(media);
      return {
        version: TASK_CONTRACT_VERSION,
        kind: "transcribe",
        jobId: job.id,
        attempt,
        mediaBlobKey: media.blobKey,
        language: params.language,
        task: params.task,
        ...(params.prompt !== undefined ? { prompt: params.prompt } : {}),
        engines: job.enginesRequested,
        ...(known ? { media: known } : {}),
      };
    },
    async applyResult(job, result, log) {
      if (result.kind !== "transcribe") throw new Error(`A ${job.type} job received a ${result.kind} result`);
      const params = transcriptionParamsSchema.parse(JSON.parse(job.params));
      if (params.diarization !== "none") {
        log("warn", `diarization "${params.diarization}" is not supported by this engine; the transcript has no speaker labels`);
      }
      const full = await withInlineSegments(result, deps.blobs);
      const m = full.media;
      log("info", `Media: ${m.format}, ${m.durationS.toFixed(2)} s, ${m.sampleRateHz ?? "?"} Hz, ${m.channels ?? "?"} channel(s)`);
      const words = full.segments.reduce((sum, segment) => sum + segment.words.length, 0);
      const rtfx = full.elapsedS > 0 ? m.durationS / full.elapsedS : 0;
      log("info", `Transcribed ${words} words in ${full.segments.length} segments with ${full.engine.name} in ${full.elapsedS.toFixed(2)} s (${rtfx.toFixed(1)}x real time)`);
      const transcriptId = randomUUID();
      const summary: TranscriptionResult = { transcriptId, words, durationS: m.durationS, engine: full.engine.name, elapsedS: full.elapsedS };
      return { result: summary, outputs: transcriptSteps(job.id, params.mediaFileId, transcriptId, full) };
    },
  };
}

/** Segments a remote worker left in the blob store (too large for a queue message), read back in. */
async function withInlineSegments(result: TranscribeSuccess, blobs: BlobStore): Promise<TranscribeSuccess> {
  if (!result.segmentsBlobKey) return result;
  const segments = z.array(z.unknown()).parse(JSON.parse((await blobs.getObject(result.segmentsBlobKey)).toString("utf8")));
  const parsed = taskResultSchema.parse({ ...result, segments, segmentsBlobKey: undefined });
  if (!parsed.ok || parsed.kind !== "transcribe") throw new Error("The transcript's segments could not be read back");
  return parsed;
}

/** The upload's probe results, when complete enough to spare the worker a probe. */
function probedMedia(media: MediaFile): MediaInfo | null {
  if (media.durationS === null || media.format === null) return null;
  return { format: media.format, durationS: media.durationS, sampleRateHz: media.sampleRateHz, channels: media.channels, audioCodec: null, hasAudio: true };
}

function transcriptSteps(jobId: string, mediaFileId: string, transcriptId: string, result: TranscribeSuccess): BatchStep[] {
  const m = result.media;
  const steps: BatchStep[] = [
    // The worker's probe of the file it actually decoded is the authority on these facts.
    sql(`UPDATE "MediaFile" SET "durationS" = ?, "format" = ?, "sampleRateHz" = ?, "channels" = ? WHERE "id" = ?`, m.durationS, m.format, m.sampleRateHz, m.channels, mediaFileId),
    sql(
      `INSERT INTO "Transcript" ("id", "jobId", "language", "engine", "text", "durationS", "wordTimings", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      transcriptId, jobId, result.language, result.engine.name, result.segments.map((segment) => segment.text).join(" ").trim(), m.durationS, result.wordTimings ?? null, new Date(),
    ),
  ];
  for (let start = 0; start < result.segments.length; start += SEGMENT_ROWS_PER_INSERT) {
    const chunk = result.segments.slice(start, start + SEGMENT_ROWS_PER_INSERT);
    steps.push(
      sql(
        `INSERT INTO "TranscriptSegment" ("transcriptId", "index", "startS", "endS", "text", "words", "decoding") VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
        ...chunk.flatMap((segment, offset) => [transcriptId, start + offset, segment.startS, segment.endS, segment.text, JSON.stringify(segment.words), segment.decoding ? JSON.stringify(segment.decoding) : null]),
      ),
    );
  }
  return steps;
}
