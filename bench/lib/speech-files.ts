/**
 * Speech inputs for the Whisper benchmarks: real speech (pocketsphinx-testdata's LibriVox
 * clips), cut with ffmpeg into 16 kHz mono WAV files, and a seeded PRNG for their lengths.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
export { mulberry32 } from "../../src/shared/seeded-random";

export const LIBRIVOX_DIR = "/usr/share/pocketsphinx/test/data/librivox";


export function ffmpeg(args: string[]): void {
  execFileSync("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args]);
}

/** The LibriVox clips, in name order; throws with a hint when the test data is not installed. */
export function librivoxClips(): string[] {
  if (!fs.existsSync(LIBRIVOX_DIR)) throw new Error(`No LibriVox clips at ${LIBRIVOX_DIR}: apt-get install pocketsphinx-testdata`);
  return fs
    .readdirSync(LIBRIVOX_DIR)
    .filter((name) => name.endsWith(".wav"))
    .sort()
    .map((name) => path.join(LIBRIVOX_DIR, name));
}

/** Seconds of audio in a PCM WAV file, from its header (the data chunk's size). */
export function wavDurationS(file: string): number {
  const bytes = fs.readFileSync(file);
  if (bytes.toString("latin1", 0, 4) !== "RIFF" || bytes.toString("latin1", 8, 12) !== "WAVE") throw new Error(`${file} is not a WAV file`);
  let byteRate = 0;
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = bytes.toString("latin1", offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (id === "fmt ") byteRate = bytes.readUInt32LE(offset + 16);
    // ffmpeg writes 0xFFFFFFFF (or a stale size) only when it cannot seek back; then the rest is data.
    if (id === "data") return Math.min(size, bytes.length - offset - 8) / byteRate;
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${file} has no data chunk`);
}

/**
 * Files of the given lengths (s), cut one after another from the LibriVox clips played
 * back to back and looped (each file starts where the previous one ended, modulo the
 * loop), written as `speech-NNN.wav` in `dir`, 16 kHz mono. Returns their paths in order.
 */
export function cutSpeechFiles(dir: string, lengthsS: readonly number[]): string[] {
  const clips = librivoxClips();
  const loopS = clips.reduce((sum, clip) => sum + wavDurationS(clip), 0);
  const longest = Math.max(0, ...lengthsS);
  // The stream: enough loops that a file starting anywhere in the first loop fits.
  const loops = Math.ceil(longest / loopS) + 1;
  const list = path.join(dir, "stream.txt");
  fs.writeFileSync(list, Array.from({ length: loops }, () => clips.map((clip) => `file '${clip}'`).join("\n")).join("\n"));
  const stream = path.join(dir, "stream.wav");
  ffmpeg(["-f", "concat", "-safe", "0", "-i", list, "-ar", "16000", "-ac", "1", stream]);
  let offsetS = 0;
  const files = lengthsS.map((lengthS, index) => {
    const out = path.join(dir, `speech-${String(index).padStart(3, "0")}.wav`);
    ffmpeg(["-ss", offsetS.toFixed(3), "-t", lengthS.toFixed(3), "-i", stream, "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", out]);
    offsetS = (offsetS + lengthS) % loopS;
    return out;
  });
  fs.rmSync(stream);
  fs.rmSync(list);
  return files;
}
