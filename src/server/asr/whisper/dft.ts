import FFT from "fft.js";

/**
 * A discrete Fourier transform of any length n, for real input, returning the power
 * spectrum of the first n/2 + 1 bins. Whisper's n_fft is 400, which radix-2/4 FFTs cannot
 * do directly, so this is Bluestein's algorithm: the length-n DFT becomes a circular
 * convolution of power-of-two length m >= 2n - 1, computed with fft.js. Everything runs in
 * float64 so the features match numpy's reference to well within 1e-4.
 */
export class RealPowerSpectrum {
  readonly bins: number;
  private readonly m: number;
  private readonly fft: FFT;
  /** Interleaved complex chirp w_k = exp(-iπk²/n), k < n. */
  private readonly chirp: Float64Array;
  /** FFT of the conjugate chirp kernel, length m complex. */
  private readonly kernelSpectrum: Float64Array;
  private readonly work: Float64Array;
  private readonly workSpectrum: Float64Array;
  private readonly convolved: Float64Array;

  constructor(readonly n: number) {
    this.bins = Math.floor(n / 2) + 1;
    let m = 1;
    while (m < 2 * n - 1) m *= 2;
    this.m = m;
    this.fft = new FFT(m);
    this.chirp = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      // k² mod 2n keeps the angle small, so large k lose no precision.
      const angle = (-Math.PI * ((k * k) % (2 * n))) / n;
      this.chirp[2 * k] = Math.cos(angle);
      this.chirp[2 * k + 1] = Math.sin(angle);
    }
    const kernel = new Float64Array(2 * m);
    for (let k = 0; k < n; k++) {
      const re = this.chirp[2 * k]!;
      const im = -this.chirp[2 * k + 1]!;
      kernel[2 * k] = re;
      kernel[2 * k + 1] = im;
      if (k > 0) {
        kernel[2 * (m - k)] = re;
        kernel[2 * (m - k) + 1] = im;
      }
    }
    this.kernelSpectrum = new Float64Array(2 * m);
    this.fft.transform(this.kernelSpectrum, kernel);
    this.work = new Float64Array(2 * m);
    this.workSpectrum = new Float64Array(2 * m);
    this.convolved = new Float64Array(2 * m);
  }

  /** Writes |X_k|² for k < bins of the real frame `input` (length n) into `out`. */
  power(input: ArrayLike<number>, out: Float64Array): void {
    const { n, m, chirp, work, workSpectrum, kernelSpectrum, convolved } = this;
    work.fill(0);
    for (let k = 0; k < n; k++) {
      const x = input[k]!;
      work[2 * k] = x * chirp[2 * k]!;
      work[2 * k + 1] = x * chirp[2 * k + 1]!;
    }
    this.fft.transform(workSpectrum, work);
    for (let k = 0; k < m; k++) {
      const ar = workSpectrum[2 * k]!;
      const ai = workSpectrum[2 * k + 1]!;
      const br = kernelSpectrum[2 * k]!;
      const bi = kernelSpectrum[2 * k + 1]!;
      work[2 * k] = ar * br - ai * bi;
      work[2 * k + 1] = ar * bi + ai * br;
    }
    this.fft.inverseTransform(convolved, work);
    for (let k = 0; k < this.bins; k++) {
      const cr = convolved[2 * k]!;
      const ci = convolved[2 * k + 1]!;
      const wr = chirp[2 * k]!;
      const wi = chirp[2 * k + 1]!;
      const re = cr * wr - ci * wi;
      const im = cr * wi + ci * wr;
      out[k] = re * re + im * im;
    }
  }
}
