import { RealPowerSpectrum } from "./dft";

/** What Whisper's preprocessor_config.json says about its features. */
export type LogMelConfig = {
  /** 80 or 128 */
  featureSize: number;
  /** Hz, 16000 */
  samplingRate: number;
  /** samples, 160 */
  hopLength: number;
  /** samples, 400 */
  nFft: number;
  /** samples per chunk, 480000 (30 s) */
  nSamples: number;
};

/** Frequencies (Hz) on the Slaney mel scale: linear below 1 kHz, logarithmic above. */
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = 15;
const LOG_STEP = 27 / Math.log(6.4);

function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) * LOG_STEP : (3 * hz) / 200;
}

function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp((mel - MIN_LOG_MEL) / LOG_STEP) : (200 * mel) / 3;
}

/**
 * Triangular filters on the Slaney mel scale with Slaney area normalisation, as
 * Hugging Face's `mel_filter_bank(norm="slaney", mel_scale="slaney")` and librosa build
 * them for Whisper. Returns [numMel][numBins] weights (row-major).
 */
export function melFilterBank(numBins: number, numMel: number, minHz: number, maxHz: number, samplingRate: number): Float64Array {
  const melMin = hzToMel(minHz);
  const melMax = hzToMel(maxHz);
  const edges = Array.from({ length: numMel + 2 }, (_, i) => melToHz(melMin + ((melMax - melMin) * i) / (numMel + 1)));
  const filters = new Float64Array(numMel * numBins);
  for (let bin = 0; bin < numBins; bin++) {
    const hz = ((samplingRate / 2) * bin) / (numBins - 1);
    for (let mel = 0; mel < numMel; mel++) {
      const down = (hz - edges[mel]!) / (edges[mel + 1]! - edges[mel]!);
      const up = (edges[mel + 2]! - hz) / (edges[mel + 2]! - edges[mel + 1]!);
      const weight = Math.max(0, Math.min(down, up));
      filters[mel * numBins + bin] = weight * (2 / (edges[mel + 2]! - edges[mel]!));
    }
  }
  return filters;
}

/** The periodic Hann window numpy's `hanning(n + 1)[:-1]` gives (what Whisper uses). */
export function periodicHann(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
}

/**
 * Whisper's log-mel spectrogram of one chunk: pad or trim to `nSamples`, reflect-padded
 * STFT (periodic Hann, `nFft`, `hopLength`), power spectrum, Slaney mel filters, log10
 * clamped at 1e-10, the last frame dropped, floored at max − 8, then (x + 4) / 4.
 * Returns [featureSize × frames] row-major float32 (frames = nSamples / hopLength).
 */
export class LogMelExtractor {
  readonly frames: number;
  private readonly spectrum: RealPowerSpectrum;
  private readonly window: Float64Array;
  private readonly filters: Float64Array;
  /** Per mel filter, the bin range holding its non-zero weights (most of the bank is zero). */
  private readonly ranges: { from: number; to: number }[];

  constructor(private readonly config: LogMelConfig) {
    this.frames = Math.floor(config.nSamples / config.hopLength);
    this.spectrum = new RealPowerSpectrum(config.nFft);
    this.window = periodicHann(config.nFft);
    const bins = this.spectrum.bins;
    this.filters = melFilterBank(bins, config.featureSize, 0, config.samplingRate / 2, config.samplingRate);
    this.ranges = Array.from({ length: config.featureSize }, (_, mel) => {
      let from = bins;
      let to = 0;
      for (let bin = 0; bin < bins; bin++) {
        if (this.filters[mel * bins + bin]! > 0) {
          from = Math.min(from, bin);
          to = bin + 1;
        }
      }
      return { from, to: Math.max(from, to) };
    });
  }

  /** `audio`: mono samples at the configured rate in [-1, 1]. */
  extract(audio: Float32Array): Float32Array {
    const { nFft, hopLength, nSamples, featureSize } = this.config;
    const half = nFft / 2;
    const padded = new Float64Array(nSamples + nFft);
    const length = Math.min(audio.length, nSamples);
    for (let i = 0; i < length; i++) padded[half + i] = audio[i]!;
    // Reflect padding mirrors around the first and last sample, excluding them (numpy's "reflect").
    for (let i = 1; i <= half; i++) {
      padded[half - i] = padded[half + i]!;
      padded[half + nSamples - 1 + i] = padded[half + nSamples - 1 - i]!;
    }

    const bins = this.spectrum.bins;
    const frame = new Float64Array(nFft);
    const power = new Float64Array(bins);
    const logMel = new Float64Array(featureSize * this.frames);
    let max = -Infinity;
    for (let t = 0; t < this.frames; t++) {
      const offset = t * hopLength;
      for (let i = 0; i < nFft; i++) frame[i] = padded[offset + i]! * this.window[i]!;
      this.spectrum.power(frame, power);
      for (let mel = 0; mel < featureSize; mel++) {
        const { from, to } = this.ranges[mel]!;
        let sum = 0;
        for (let bin = from; bin < to; bin++) sum += this.filters[mel * bins + bin]! * power[bin]!;
        const value = Math.log10(Math.max(sum, 1e-10));
        logMel[mel * this.frames + t] = value;
        if (value > max) max = value;
      }
    }
    const floor = max - 8;
    const out = new Float32Array(logMel.length);
    for (let i = 0; i < logMel.length; i++) out[i] = (Math.max(logMel[i]!, floor) + 4) / 4;
    return out;
  }
}
