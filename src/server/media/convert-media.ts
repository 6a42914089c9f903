import { stat } from "node:fs/promises";
import { PermanentJobError } from "../errors";
import { resolveFfmpegBinaries } from "./ffmpeg-binaries";
import { probeMedia } from "./probe-media";
import { type ConvertOptions } from "./convert-options";
import { runProcess } from "./run-process";

export { convertOptionsSchema, type ConvertOptions } from "./convert-options";

/** What ffmpeg prints when the output cannot be written (disk full, quota, a failed flush). */
const WRITE_FAILURE = /No space left on device|Disk quota exceeded|Error writing trailer|Error closing file|Error submitting a packet to the muxer/i;

export const CONVERT_CONTENT_TYPES: Record<ConvertOptions["format"], string> = { mp4: "video/mp4", m4a: "audio/mp4", mp3: "audio/mpeg", wav: "audio/wav" };

export type ConvertedMedia = { format: string; durationS: number; videoCodec: string | null; audioCodec: string | null; sizeBytes?: number };

/** ffmpeg's arguments for one conversion; optional stream maps ("?") let audio-only input become audio-only MP4. */
export function convertArgs(input: string, output: string, options: ConvertOptions): string[] {
  const audio = [
    ...(options.format === "wav" ? ["-c:a", "pcm_s16le"] : ["-c:a", options.format === "mp3" ? "libmp3lame" : "aac", "-b:a", `${options.audioBitrateKbps}k`]),
    ...(options.sampleRateHz ? ["-ar", String(options.sampleRateHz)] : []),
    ...(options.channels ? ["-ac", String(options.channels)] : []),
  ];
  const video =
    options.format === "mp4"
      ? [
          "-map", "0:v:0?",
          "-c:v", "libx264", "-preset", options.preset, "-crf", String(options.crf), "-pix_fmt", "yuv420p",
          // Even dimensions, as yuv420p H.264 requires; never upscale.
          "-vf", options.maxHeight ? `scale=-2:'min(ih,${options.maxHeight})'` : "scale=trunc(iw/2)*2:trunc(ih/2)*2",
          "-movflags", "+faststart",
        ]
      : ["-vn"];
  return ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", input, ...video, "-map", "0:a:0?", ...audio, "-progress", "pipe:1", "-nostats", "-f", options.format === "m4a" ? "ipod" : options.format, output];
}

/**
 * Converts `input` to `output` with ffmpeg, reporting progress (0..1) from ffmpeg's
 * `-progress` output against the known duration, then probes the result for its duration
 * and codecs. ffmpeg's own error becomes a PermanentJobError (it will fail the same way again).
 */
export async function convertMedia(args: { input: string; output: string; options: ConvertOptions; durationS: number; signal: AbortSignal; onProgress?: (fraction: number) => void }): Promise<ConvertedMedia> {
  const { ffmpeg, ffprobe } = await resolveFfmpegBinaries();
  const result = await runProcess(ffmpeg, convertArgs(args.input, args.output, args.options), {
    timeoutMs: Math.max(10 * 60_000, args.durationS * 20_000),
    signal: args.signal,
    onStdoutLine: (line) => {
      const match = /^out_time_(?:us|ms)=(\d+)/.exec(line);
      if (match && args.durationS > 0) args.onProgress?.(Math.min(1, Number(match[1]) / 1e6 / args.durationS));
    },
  });
  const reason = result.stderrTail.trim().split("\n").filter(Boolean).slice(-2).join("; ") || `ffmpeg exited with ${result.exitCode ?? result.exitSignal}`;
  // ffmpeg may exit 0 after failing to write (a full disk gives an empty or truncated file
  // that even probes as whole): its write errors are this machine's problem, retried later.
  if (WRITE_FAILURE.test(result.stderrTail)) throw new Error(`The conversion could not write its output: ${reason}`);
  if (result.exitCode !== 0) throw new PermanentJobError(`The conversion failed: ${reason}`);
  if ((await stat(args.output)).size === 0) throw new Error("The conversion wrote an empty file");
  const info = await probeMedia(args.output, args.signal);
  const codecs = ffprobe ? await streamCodecs(ffprobe, args.output, args.signal) : { video: null, audio: info.audioCodec };
  return { format: args.options.format, durationS: info.durationS, videoCodec: codecs.video, audioCodec: codecs.audio };
}

async function streamCodecs(ffprobe: string, file: string, signal: AbortSignal): Promise<{ video: string | null; audio: string | null }> {
  const result = await runProcess(ffprobe, ["-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "json", file], { timeoutMs: 30_000, signal, stdout: "capture" });
  const streams = (JSON.parse(result.stdout || "{}") as { streams?: { codec_type?: string; codec_name?: string }[] }).streams ?? [];
  return {
    video: streams.find((stream) => stream.codec_type === "video")?.codec_name ?? null,
    audio: streams.find((stream) => stream.codec_type === "audio")?.codec_name ?? null,
  };
}
