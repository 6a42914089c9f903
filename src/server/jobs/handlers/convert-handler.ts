import path from "node:path";
import { CONVERT_CONTENT_TYPES } from "../../media/convert-media";
import type { MediaService } from "../../services/media-service";
import { TASK_CONTRACT_VERSION } from "../../../worker/task-contract";
import { convertParamsSchema, type ConvertResult } from "../job-types";
import type { TaskJobHandler } from "../registry";
import { mediaOfJob } from "./job-media";

/**
 * convert: media to MP4 (H.264/AAC) or audio only, as a worker task (the ffmpeg pool here,
 * or the remote fleet: a control plane in front of a fleet never transcodes). The output is
 * already in the blob store when the result arrives; it becomes a new media file in the
 * transaction that completes the job. Duration and codecs are probed from it, not assumed.
 */
export function createConvertHandler(deps: { media: MediaService }): TaskJobHandler {
  return {
    kind: "task",
    async buildTask(job, attempt) {
      const params = convertParamsSchema.parse(JSON.parse(job.params));
      const source = await mediaOfJob(job, params.mediaFileId, deps.media);
      return {
        version: TASK_CONTRACT_VERSION,
        kind: "convert",
        jobId: job.id,
        attempt,
        mediaBlobKey: source.blobKey,
        options: params.options,
        sourceDurationS: source.durationS ?? 0,
      };
    },
    async applyResult(job, result, log) {
      if (result.kind !== "convert") throw new Error(`A ${job.type} job received a ${result.kind} result`);
      const params = convertParamsSchema.parse(JSON.parse(job.params));
      const source = await deps.media.find(params.mediaFileId);
      const sourceName = source?.originalName ?? job.id;
      const base = path.basename(sourceName, path.extname(sourceName));
      const { converted, output } = result;
      const { media, insert } = deps.media.outputRecord(
        { key: output.blobKey, sha256: output.sha256, sizeBytes: output.sizeBytes },
        // The converted file belongs to whoever owns the job.
        { originalName: `${base}.${params.options.format}`, contentType: CONVERT_CONTENT_TYPES[params.options.format], userId: job.userId },
        { format: converted.format, durationS: converted.durationS, sampleRateHz: params.options.sampleRateHz ?? null, channels: params.options.channels ?? null, audioCodec: converted.audioCodec, hasAudio: converted.audioCodec !== null },
      );
      log("info", `Converted to ${params.options.format}: ${converted.durationS.toFixed(2)} s, video ${converted.videoCodec ?? "none"}, audio ${converted.audioCodec ?? "none"}, ${output.sizeBytes} bytes`);
      const summary: ConvertResult = { outputMediaFileId: media.id, uri: deps.media.uri(media), ...converted, sizeBytes: output.sizeBytes };
      return { result: summary, outputs: [insert] };
    },
  };
}
