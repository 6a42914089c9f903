import path from "node:path";
import OpenAI from "openai";
import { describeError, PermanentJobError } from "../../errors";
import { fixSrtCues, type Complete } from "../../llm/srt-fixer";
import type { MediaService } from "../../services/media-service";
import { parseSrt, renderSrt } from "../../subtitles/srt";
import type { LocalJobHandler } from "../registry";
import { fixSrtParamsSchema, type FixSrtResult } from "../job-types";

/**
 * fix_srt: an SRT corrected by an LLM (see llm/srt-fixer.ts). The corrected file is stored as
 * a new media file; the job's result holds its id and the per-cue before/after diff.
 * No engine slot is used: the process-wide LLM limiter bounds the work instead.
 */
export function createFixSrtHandler(deps: { media: MediaService; complete: Complete; endpoint: string }): LocalJobHandler {
  const run: LocalJobHandler["run"] = async (ctx) => {
    const params = fixSrtParamsSchema.parse(JSON.parse(ctx.job.params));
    const source = await deps.media.find(params.mediaFileId);
    if (!source) throw new PermanentJobError(`The job's SRT file ${params.mediaFileId} no longer exists`);
    let cues;
    try {
      cues = parseSrt((await deps.media.read(source)).toString("utf8"), { keepTimingLines: true });
    } catch (error) {
      throw new PermanentJobError(`The file is not a valid SRT: ${describeError(error)}`);
    }
    if (cues.length === 0) throw new PermanentJobError("The SRT file has no cues");

    let fixed;
    try {
      fixed = await fixSrtCues(cues, {
        model: params.model,
        ...(params.systemMessage ? { systemMessage: params.systemMessage } : {}),
        // The job's id rides along, so the LLM client's log lines name the job.
        complete: (request, signal) => deps.complete(request, signal, { jobId: ctx.job.id }),
        signal: ctx.signal,
        log: ctx.log,
        onProgress: ctx.reportProgress,
      });
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      const message = `The LLM endpoint ${deps.endpoint} failed: ${describeError(error)}`;
      // A refusal (401, 403, 404 model, 400) will not change on a retry; timeouts, 429 and 5xx might.
      if (error instanceof OpenAI.APIError && typeof error.status === "number" && error.status >= 400 && error.status < 500 && error.status !== 429) {
        throw new PermanentJobError(message);
      }
      throw new Error(message);
    }

    const output = renderSrt(fixed.cues);
    const base = path.basename(source.originalName, path.extname(source.originalName));
    const { media: stored, insert } = await deps.media.stageOutput(
      Buffer.from(output, "utf8"),
      // The corrected file belongs to whoever owns the job.
      { originalName: `${base}.fixed.srt`, contentType: "application/x-subrip", userId: ctx.job.userId },
      { format: "srt", durationS: source.durationS ?? 0, sampleRateHz: null, channels: null, audioCodec: null, hasAudio: false },
    );
    ctx.log("info", `Corrected ${fixed.changes.length} of ${cues.length} cues with ${params.model} in ${fixed.requests} LLM requests`);
    const result: FixSrtResult = {
      outputMediaFileId: stored.id,
      uri: deps.media.uri(stored),
      cues: cues.length,
      changed: fixed.changes.length,
      warnings: fixed.warnings,
      changes: fixed.changes,
      model: params.model,
      requests: fixed.requests,
    };
    return { result, outputs: [insert] };
  };
  return { kind: "local", run };
}
