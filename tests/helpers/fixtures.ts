import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Debian's pocketsphinx-testdata: LibriVox speech (16 kHz mono s16 WAV) with reference texts. */
export const LIBRIVOX_DIR = "/usr/share/pocketsphinx/test/data/librivox";
/** pocketsphinx-testdata's other recordings with references: spoken playing cards (a grammar test, another speaker). */
export const CARDS_DIR = "/usr/share/pocketsphinx/test/data/cards";

export type SpeechClip = {
  /** e.g. "sense_and_sensibility_01_austen_64kb-0870" */
  id: string;
  /** Absolute path of the WAV. */
  path: string;
  /** Reference transcript, lowercase, without `<s>`/`</s>`. */
  reference: string;
};

/** Parses a Sphinx `transcription` file: `<s> words </s> (utterance-id)` per line. */
export function parseSphinxTranscription(text: string, dir: string): SpeechClip[] {
  const clips: SpeechClip[] = [];
  for (const line of text.split(/\r?\n/)) {
    const match = /^(.*)\(([^()]+)\)\s*$/.exec(line.trim());
    if (!match?.[1] || !match[2]) continue;
    const reference = match[1].replace(/<\/?s>/g, " ").replace(/\s+/g, " ").trim();
    clips.push({ id: match[2], path: path.join(dir, `${match[2]}.wav`), reference });
  }
  return clips;
}

const clipsCache = new Map<string, SpeechClip[]>();

/** The clips listed in `dir`'s Sphinx transcription file (empty when it is not installed). */
function sphinxClips(dir: string, transcription: string): SpeechClip[] {
  let clips = clipsCache.get(dir);
  if (!clips) {
    try {
      clips = parseSphinxTranscription(readFileSync(path.join(dir, transcription), "utf8"), dir);
    } catch {
      clips = [];
    }
    clipsCache.set(dir, clips);
  }
  return clips;
}

/** The LibriVox clips (empty when pocketsphinx-testdata is not installed). */
export function librivoxClips(): SpeechClip[] {
  return sphinxClips(LIBRIVOX_DIR, "transcription");
}

/** The playing-card clips (empty when pocketsphinx-testdata is not installed). */
export function cardsClips(): SpeechClip[] {
  return sphinxClips(CARDS_DIR, "cards.transcription");
}

/** A temporary directory and its removal. */
export type TempDir = { dir: string; file(name: string): string; cleanup(): Promise<void> };

export async function makeTempDir(prefix = "transcribe-test-"): Promise<TempDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, file: (name) => path.join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A piece of generated audio. Durations in s, frequency in Hz, volume as a linear factor. */
export type AudioPart =
  | { kind: "sine"; durationS: number; frequencyHz?: number; volume?: number }
  /** Digital silence (anullsrc). */
  | { kind: "silence"; durationS: number }
  /** White noise at a linear amplitude (0..1), for "not silent, not speech". */
  | { kind: "noise"; durationS: number; amplitude?: number }
  /** An existing media file (its first audio stream). */
  | { kind: "file"; path: string };

let sharedDir: string | undefined;

/** A per-process temp dir, removed when the process exits (for callers that pass no `dir`). */
export function sharedTempDir(): string {
  if (!sharedDir) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "transcribe-fixtures-"));
    sharedDir = dir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return sharedDir;
}

let fileCounter = 0;

export type MakeAudioOptions = {
  /** Output file name; its extension picks the container (wav, mp3, m4a, ogg, flac). Default a unique .wav name. */
  name?: string;
  /** Directory to write into. Default `sharedTempDir()`. */
  dir?: string;
  /** Hz. Default 16 000. */
  sampleRateHz?: number;
  /** Default 1. */
  channels?: number;
  /** Extra ffmpeg output options (codec, bitrate, `-rf64 always`, ...). */
  outputArgs?: string[];
};

/** Runs ffmpeg with a 2-minute limit; rejects with its stderr on failure. */
export async function ffmpeg(args: readonly string[]): Promise<void> {
  await run("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
}

/**
 * Generates audio with ffmpeg lavfi sources and concatenates the parts in order,
 * resampled to one rate and channel count. Returns the output path.
 */
export async function makeAudio(parts: readonly AudioPart[], options: MakeAudioOptions = {}): Promise<string> {
  if (parts.length === 0) throw new Error("makeAudio needs at least one part");
  const rate = options.sampleRateHz ?? 16_000;
  const channels = options.channels ?? 1;
  const layout = channels === 1 ? "mono" : channels === 2 ? "stereo" : `${channels}c`;
  const inputs: string[] = [];
  parts.forEach((part) => {
    switch (part.kind) {
      case "sine":
        inputs.push("-f", "lavfi", "-t", String(part.durationS), "-i", `sine=frequency=${part.frequencyHz ?? 440}:sample_rate=${rate}`);
        break;
      case "silence":
        inputs.push("-f", "lavfi", "-t", String(part.durationS), "-i", `anullsrc=r=${rate}:cl=${layout}`);
        break;
      case "noise":
        inputs.push("-f", "lavfi", "-t", String(part.durationS), "-i", `anoisesrc=r=${rate}:a=${part.amplitude ?? 0.1}:c=white`);
        break;
      case "file":
        inputs.push("-i", part.path);
        break;
    }
  });
  const chains = parts.map((part, i) => {
    const volume = part.kind === "sine" && part.volume !== undefined ? `,volume=${part.volume}` : "";
    return `[${i}:a:0]aresample=${rate},aformat=sample_fmts=s16:channel_layouts=${layout}${volume}[a${i}]`;
  });
  const labels = parts.map((_, i) => `[a${i}]`).join("");
  const graph = `${chains.join(";")};${labels}concat=n=${parts.length}:v=0:a=1[out]`;
  const output = path.join(options.dir ?? sharedTempDir(), options.name ?? `audio-${process.pid}-${++fileCounter}.wav`);
  await ffmpeg([...inputs, "-filter_complex", graph, "-map", "[out]", "-ar", String(rate), "-ac", String(channels), ...(options.outputArgs ?? []), output]);
  return output;
}

/** A video file (test pattern), with or without a sine audio track. Returns its path. */
export async function makeVideo(options: { dir?: string; name?: string; durationS: number; withAudio: boolean }): Promise<string> {
  const output = path.join(options.dir ?? sharedTempDir(), options.name ?? `video-${process.pid}-${++fileCounter}.mp4`);
  const audio = options.withAudio ? ["-f", "lavfi", "-t", String(options.durationS), "-i", "sine=frequency=440:sample_rate=16000"] : [];
  await ffmpeg([
    "-f", "lavfi", "-t", String(options.durationS), "-i", "testsrc=size=160x120:rate=10",
    ...audio,
    "-c:v", "mpeg4",
    ...(options.withAudio ? ["-c:a", "aac"] : ["-an"]),
    output,
  ]);
  return output;
}

/** Writes arbitrary bytes or text to a file in `dir`. Returns its path. */
export async function writeFixture(dir: string, name: string, content: string | Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content);
  return file;
}
