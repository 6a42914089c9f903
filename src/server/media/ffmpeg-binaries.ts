import path from "node:path";
import { findExecutable } from "./run-process";

/**
 * Where ffmpeg and ffprobe live on this machine. Order: FFMPEG_PATH / FFPROBE_PATH, then
 * the system binaries on PATH, then the static ffmpeg of the npm package
 * @ffmpeg-installer/ffmpeg (which ships no ffprobe: `ffprobe` is then null and probing falls
 * back to parsing `ffmpeg -i`).
 */
export type FfmpegBinaries = {
  /** Absolute path of ffmpeg. */
  ffmpeg: string;
  /** Absolute path of ffprobe, or null when none is available. */
  ffprobe: string | null;
  /** Where ffmpeg was found. */
  source: "env" | "system" | "npm";
};

let cached: Promise<FfmpegBinaries> | undefined;

/** Resolves the binaries once per process; a failed resolution is retried on the next call. */
export function resolveFfmpegBinaries(): Promise<FfmpegBinaries> {
  if (!cached) {
    cached = locate();
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}

/** Forgets the cached resolution (tests that change FFMPEG_PATH / FFPROBE_PATH). */
export function resetFfmpegBinariesCache(): void {
  cached = undefined;
}

async function locate(): Promise<FfmpegBinaries> {
  const envFfmpeg = process.env.FFMPEG_PATH?.trim();
  const envFfprobe = process.env.FFPROBE_PATH?.trim();

  let ffmpeg: string | null;
  let source: FfmpegBinaries["source"];
  if (envFfmpeg) {
    // An explicit setting that points nowhere is a configuration error, not a cue to guess.
    ffmpeg = await findExecutable(envFfmpeg);
    if (!ffmpeg) throw new Error(`FFMPEG_PATH is set to "${envFfmpeg}" but no executable file is there`);
    source = "env";
  } else if ((ffmpeg = await findExecutable("ffmpeg"))) {
    source = "system";
  } else {
    ffmpeg = await npmFfmpeg();
    if (!ffmpeg) {
      throw new Error("ffmpeg not found: install it (apt-get install ffmpeg), set FFMPEG_PATH, or install @ffmpeg-installer/ffmpeg");
    }
    source = "npm";
  }

  let ffprobe: string | null;
  if (envFfprobe) {
    ffprobe = await findExecutable(envFfprobe);
    if (!ffprobe) throw new Error(`FFPROBE_PATH is set to "${envFfprobe}" but no executable file is there`);
  } else {
    // A sibling of the chosen ffmpeg first, so both come from the same build when possible.
    ffprobe = (await findExecutable(path.join(path.dirname(ffmpeg), "ffprobe"))) ?? (await findExecutable("ffprobe"));
  }
  return { ffmpeg, ffprobe, source };
}

async function npmFfmpeg(): Promise<string | null> {
  try {
    // Dynamic import: optional at run time, and the CommonJS package throws (a string) on
    // platforms it has no binary for.
    const installer: { path?: unknown; default?: { path?: unknown } } = await import("@ffmpeg-installer/ffmpeg");
    const binary = installer.default?.path ?? installer.path;
    return typeof binary === "string" ? await findExecutable(binary) : null;
  } catch {
    return null;
  }
}
