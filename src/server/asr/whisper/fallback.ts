import zlib from "node:zlib";
import { mulberry32 } from "../../../shared/seeded-random";

/**
 * openai-whisper's temperature fallback (transcribe.py, decode_with_fallback): a chunk whose
 * text is too repetitive (gzip compression ratio above 2.4) or too unlikely (mean token
 * log-probability below −1) is decoded again at the next temperature, 0.2 higher, up to 1.0,
 * by sampling best-of-5; the last attempt stands whatever it scores. A chunk the model judges
 * silent (p(no speech) above the threshold with the low log-probability) is not retried: it
 * is dropped, as there.
 */
export const OPENAI_TEMPERATURES: readonly number[] = [0, 0.2, 0.4, 0.6, 0.8, 1.0];
export const COMPRESSION_RATIO_THRESHOLD = 2.4;
export const LOG_PROB_THRESHOLD = -1;
export const BEST_OF = 5;

export type AttemptScore = {
  /** Mean log-probability per generated token (end-of-text included). */
  avgLogProb: number;
  /** UTF-8 length of the text over its zlib-compressed length. */
  compressionRatio: number;
  noSpeechProb: number;
  /** Decoding stopped early on a repeating loop (counts as too repetitive). */
  looped: boolean;
};

export type FallbackThresholds = { compressionRatio: number; logProb: number; noSpeech: number };

/** openai-whisper's compression ratio: bytes of the text over bytes of zlib.compress(text). */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length === 0) return 0;
  return bytes.length / zlib.deflateSync(bytes).length;
}

/** Whether the model itself judges the chunk speechless (openai's no-speech rule). */
export function judgedSilent(score: Pick<AttemptScore, "avgLogProb" | "noSpeechProb">, thresholds: FallbackThresholds): boolean {
  return score.noSpeechProb > thresholds.noSpeech && score.avgLogProb < thresholds.logProb;
}

/** Whether an attempt fails the checks and the chunk should be decoded at the next temperature. */
export function needsFallback(score: AttemptScore, thresholds: FallbackThresholds): boolean {
  const tooRepetitive = score.looped || score.compressionRatio > thresholds.compressionRatio;
  const tooUnlikely = score.avgLogProb < thresholds.logProb;
  if (judgedSilent(score, thresholds)) return false;
  return tooRepetitive || tooUnlikely;
}

/** The generator sampling draws from: seeded, so the same seed samples the same tokens everywhere. */
export const seededRandom = mulberry32;

/** The seed of one chunk's attempt: the job's seed mixed with the chunk and attempt numbers. */
export function attemptSeed(jobSeed: number, chunkIndex: number, attempt: number): number {
  let h = 0x811c9dc5;
  for (const part of [jobSeed >>> 0, chunkIndex >>> 0, attempt >>> 0]) {
    for (let shift = 0; shift < 32; shift += 8) {
      h ^= (part >>> shift) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h;
}

/** A job's sampling seed: its id hashed (FNV-1a), so every attempt of the job samples alike. */
export function jobSeed(jobId: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(jobId, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
