// kissfft-js ships no types; its declaration sits beside this module so that any program that
// compiles this file (a declaration build, another tsconfig) finds it, not only this project's.
/// <reference path="./kissfft-js.d.ts" />
import kissfft from "kissfft-js";

/**
 * The power spectrum of a real frame of even length n (bins 0 … n/2), through KissFFT's
 * real mixed-radix FFT (the npm package kissfft-js, KissFFT compiled to JavaScript).
 * Whisper's n_fft is 400 = 2⁴·5², which a power-of-two FFT cannot do directly; a mixed-radix
 * transform does it in about 5 µs a frame. KissFFT computes in float32; the power is summed
 * in float64, and the log-mel features still match numpy's float64 reference within 1e-4.
 */
export class RealPowerSpectrum {
  readonly bins: number;
  private readonly fft: kissfft.FFTR;
  private readonly frame: Float32Array;

  constructor(readonly n: number) {
    if (n % 2 !== 0 || n < 2) throw new Error(`RealPowerSpectrum needs an even frame length, got ${n}`);
    this.bins = n / 2 + 1;
    this.fft = new kissfft.FFTR(n);
    this.frame = new Float32Array(n);
  }

  /** Writes |X_k|² for k < bins of the real frame `input` (length n) into `out`. */
  power(input: ArrayLike<number>, out: Float64Array): void {
    for (let i = 0; i < this.n; i++) this.frame[i] = input[i]!;
    // Interleaved (re, im) of bins 0 … n/2, a view into KissFFT's heap: read it before the next call.
    const spectrum = this.fft.forward(this.frame);
    for (let k = 0; k < this.bins; k++) {
      const re = spectrum[2 * k]!;
      const im = spectrum[2 * k + 1]!;
      out[k] = re * re + im * im;
    }
  }

  /** Frees KissFFT's buffers (its heap is shared by every instance in the process). */
  dispose(): void {
    this.fft.dispose();
  }
}
