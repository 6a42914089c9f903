import { PermanentJobError } from "../errors";
import { resolveFfmpegBinaries } from "./ffmpeg-binaries";
import { launchProcess } from "./process-launcher";

export type DecodePcmOptions = {
  /** Hz, default 16000 */
  sampleRateHz?: number;
  /** Decode only this window (seconds). */
  startS?: number;
  endS?: number;
  signal?: AbortSignal;
  /** ms, default 10 minutes */
  timeoutMs?: number;
};

/** bytes: 4 h of 16 kHz float32 mono; longer inputs must be decoded in windows. */
const MAX_PCM_BYTES = 4 * 3600 * 16_000 * 4;

/**
 * Decodes any media ffmpeg reads to mono float32 samples in [-1, 1] (the input of VAD and
 * Whisper's features). The child is killed on abort and on timeout; a decode failure is a
 * PermanentJobError carrying ffmpeg's last line. ffmpeg is started by the process launcher:
 * the engine process that calls this holds a model, and forking it per file cost more than
 * the decode (process-launcher.ts).
 */
export async function decodePcm(mediaPath: string, options: DecodePcmOptions = {}): Promise<Float32Array> {
  const { ffmpeg } = await resolveFfmpegBinaries();
  const rate = options.sampleRateHz ?? 16_000;
  const window = [
    ...(options.startS !== undefined ? ["-ss", options.startS.toFixed(3)] : []),
    ...(options.endS !== undefined ? ["-to", options.endS.toFixed(3)] : []),
  ];
  const args = ["-nostdin", "-hide_banner", "-loglevel", "error", ...window, "-i", mediaPath, "-map", "0:a:0", "-ac", "1", "-ar", String(rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"];
  options.signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const child = launchProcess(ffmpeg, args);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = "";
    let failure: Error | null = null;
    const stop = (error: Error) => {
      failure ??= error;
      child.kill("SIGKILL");
    };
    const onAbort = () => stop(options.signal?.reason instanceof Error ? options.signal.reason : new Error("aborted"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => stop(new Error(`ffmpeg decode timed out after ${options.timeoutMs ?? 600_000} ms`)), options.timeoutMs ?? 600_000);
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_PCM_BYTES) stop(new PermanentJobError("The audio is too long to decode at once (over 4 hours)"));
      else chunks.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4096);
    });
    child.once("error", (error) => stop(error));
    child.once("close", (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (failure) return reject(failure);
      if (code !== 0) {
        const last = stderr.trim().split("\n").pop() ?? "";
        return reject(new PermanentJobError(`The audio could not be decoded${last ? ` (${last})` : ""}`));
      }
      const all = Buffer.concat(chunks);
      // Copy into an aligned buffer: Buffer.concat may hand back a slice at any byte offset.
      const samples = new Float32Array(Math.floor(all.length / 4));
      new Uint8Array(samples.buffer).set(all.subarray(0, samples.length * 4));
      resolve(samples);
    });
  });
}
