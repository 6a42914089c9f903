import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { PermanentJobError } from "../../errors";
import { CONVERT_CONTENT_TYPES, convertMedia } from "../../media/convert-media";
import type { MediaService } from "../../services/media-service";
import type { JobHandler } from "../registry";
import { convertParamsSchema, type ConvertResult } from "../job-types";

/**
 * convert: media to MP4 (H.264/AAC) or audio only, with ffmpeg's progress as the job's. The
 * output becomes a new media file; duration and codecs are probed from it, not assumed.
 */
export function createConvertHandler(deps: { media: MediaService; workDir: string }): JobHandler {
  return async (ctx) => {
    const params = convertParamsSchema.parse(JSON.parse(ctx.job.params));
    const source = await deps.media.find(params.mediaFileId);
    if (!source) throw new PermanentJobError(`The job's media file ${params.mediaFileId} no longer exists`);
    await fs.mkdir(deps.workDir, { recursive: true });
    const output = path.join(deps.workDir, `${ctx.job.id}-${randomBytes(4).toString("hex")}.${params.options.format}`);
    try {
      const converted = await convertMedia({
        input: await deps.media.localPath(source),
        output,
        options: params.options,
        durationS: source.durationS ?? 0,
        signal: ctx.signal,
        onProgress: ctx.reportProgress,
      });
      const base = path.basename(source.originalName, path.extname(source.originalName));
      const stored = await deps.media.storeOutputFile(
        output,
        { originalName: `${base}.${params.options.format}`, contentType: CONVERT_CONTENT_TYPES[params.options.format] },
        { format: converted.format, durationS: converted.durationS, sampleRateHz: params.options.sampleRateHz ?? null, channels: params.options.channels ?? null, audioCodec: converted.audioCodec, hasAudio: converted.audioCodec !== null },
      );
      ctx.log("info", `Converted to ${params.options.format}: ${converted.durationS.toFixed(2)} s, video ${converted.videoCodec ?? "none"}, audio ${converted.audioCodec ?? "none"}, ${Number(stored.sizeBytes)} bytes`);
      const result: ConvertResult = { outputMediaFileId: stored.id, uri: deps.media.uri(stored), ...converted, sizeBytes: Number(stored.sizeBytes) };
      return { result };
    } finally {
      await fs.rm(output, { force: true });
    }
  };
}
