import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RealPowerSpectrum } from "../../src/server/asr/whisper/dft";
import { LogMelExtractor, melFilterBank } from "../../src/server/asr/whisper/log-mel";

const WHISPER = { featureSize: 80, samplingRate: 16_000, hopLength: 160, nFft: 400, nSamples: 480_000 };

function naivePower(x: readonly number[], k: number): number {
  let re = 0;
  let im = 0;
  for (let t = 0; t < x.length; t++) {
    const angle = (-2 * Math.PI * k * t) / x.length;
    re += x[t]! * Math.cos(angle);
    im += x[t]! * Math.sin(angle);
  }
  return re * re + im * im;
}

describe("RealPowerSpectrum (KissFFT real mixed-radix FFT)", () => {
  for (const n of [400, 402, 64]) {
    it(`matches a direct DFT for n = ${n} to float32 precision`, () => {
      const x = Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + 0.5 * Math.cos(i * 1.9) + ((i * 7919) % 13) / 13 - 0.5);
      const dft = new RealPowerSpectrum(n);
      const out = new Float64Array(dft.bins);
      dft.power(x, out);
      // Parseval: the bins sum to n·Σx², the scale float32 rounding errors are relative to.
      const energy = n * x.reduce((sum, v) => sum + v * v, 0);
      for (let k = 0; k < dft.bins; k++) {
        const expected = naivePower(x, k);
        assert.ok(Math.abs(out[k]! - expected) <= 1e-6 * energy, `bin ${k}: ${out[k]} vs ${expected}`);
      }
      dft.dispose();
    });
  }

  it("refuses an odd frame length", () => {
    assert.throws(() => new RealPowerSpectrum(401), /even frame length/);
  });
});

describe("melFilterBank (Slaney scale and norm)", () => {
  it("builds 80 triangular filters over 201 bins, each non-zero and peaking once", () => {
    const bank = melFilterBank(201, 80, 0, 8000, 16_000);
    for (let mel = 0; mel < 80; mel++) {
      const row = Array.from(bank.subarray(mel * 201, (mel + 1) * 201));
      assert.ok(row.some((weight) => weight > 0), `filter ${mel} is empty`);
      const peak = row.indexOf(Math.max(...row));
      for (let bin = 1; bin <= peak; bin++) assert.ok(row[bin]! >= row[bin - 1]! - 1e-15);
      for (let bin = peak + 1; bin < 201; bin++) assert.ok(row[bin]! <= row[bin - 1]! + 1e-15);
    }
  });

  it("normalises each filter to unit area in Hz (Slaney norm)", () => {
    const bank = melFilterBank(201, 80, 0, 8000, 16_000);
    // Wide (high) filters cover many 40 Hz bins, so their sum × 40 Hz approximates the area well.
    for (const mel of [60, 70, 78]) {
      const area = bank.subarray(mel * 201, (mel + 1) * 201).reduce((sum, weight) => sum + weight, 0) * 40;
      assert.ok(Math.abs(area - 1) < 0.05, `filter ${mel} area ${area}`);
    }
  });
});

describe("LogMelExtractor", () => {
  const extractor = new LogMelExtractor(WHISPER);

  it("returns 80 × 3000 features for any length of audio", () => {
    assert.equal(extractor.extract(new Float32Array(16_000)).length, 80 * 3000);
    assert.equal(extractor.extract(new Float32Array(600_000)).length, 80 * 3000);
  });

  it("maps digital silence to the floor value everywhere", () => {
    const features = extractor.extract(new Float32Array(32_000));
    // log10(1e-10) = -10 everywhere, so the max - 8 floor does not bite: (-10 + 4) / 4.
    assert.ok(features.every((value) => Math.abs(value - -1.5) < 1e-6));
  });

  it("puts a 1 kHz tone's energy in the mel band around 1 kHz", () => {
    const audio = Float32Array.from({ length: 16_000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16_000));
    const features = extractor.extract(audio);
    const frame = 50;
    const column = Array.from({ length: 80 }, (_, mel) => features[mel * 3000 + frame]!);
    const loudest = column.indexOf(Math.max(...column));
    // On the Slaney scale 1 kHz is mel 15; 80 bands span mel 0..~45.2, so band ≈ 15 / 45.2 × 81 - 1 ≈ 26.
    assert.ok(loudest >= 24 && loudest <= 28, `loudest band ${loudest}`);
    // Features are normalised so the loudest value is at most (max + 4) / 4 and the floor 2 below it.
    let max = -Infinity;
    let min = Infinity;
    for (const value of features) {
      max = Math.max(max, value);
      min = Math.min(min, value);
    }
    assert.ok(max - min <= 2 + 1e-6);
  });
});
