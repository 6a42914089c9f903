import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planChunks } from "../../src/server/asr/vad/plan-chunks";
import { speechRegionsFromProbabilities } from "../../src/server/asr/vad/silero-vad";

const WINDOW_S = 512 / 16_000;
const opts = { threshold: 0.5, minSpeechMs: 250, minSilenceMs: 100, speechPadMs: 30 };

/** Probabilities for windows: 1 where `speech(t)` holds, else 0. */
function probs(durationS: number, speech: (t: number) => boolean): Float32Array {
  return Float32Array.from({ length: Math.ceil(durationS / WINDOW_S) }, (_, w) => (speech(w * WINDOW_S) ? 0.9 : 0.05));
}

describe("speechRegionsFromProbabilities", () => {
  it("finds each speech stretch, padded, and nothing in silence", () => {
    const p = probs(10, (t) => (t >= 1 && t < 3) || (t >= 6 && t < 8));
    const regions = speechRegionsFromProbabilities(p, 10 * 16_000, opts);
    assert.equal(regions.length, 2);
    assert.ok(Math.abs(regions[0]!.startS - 1) < 0.1 && Math.abs(regions[0]!.endS - 3) < 0.1);
    assert.ok(Math.abs(regions[1]!.startS - 6) < 0.1 && Math.abs(regions[1]!.endS - 8) < 0.1);
  });

  it("drops bursts shorter than minSpeechMs and bridges pauses shorter than minSilenceMs", () => {
    const p = probs(5, (t) => (t >= 0.5 && t < 0.6) || (t >= 2 && t < 2.5) || (t >= 2.55 && t < 3.5));
    const regions = speechRegionsFromProbabilities(p, 5 * 16_000, opts);
    assert.equal(regions.length, 1, JSON.stringify(regions));
    assert.ok(regions[0]!.startS < 2.05 && regions[0]!.endS > 3.45);
  });
});

describe("planChunks", () => {
  it("packs neighbouring regions into chunks of at most 30 s and splits long regions", () => {
    const chunks = planChunks([
      { startS: 0, endS: 10 },
      { startS: 12, endS: 25 },
      { startS: 40, endS: 105 },
    ]);
    // 0–25 s fits one window; 65 s of unbroken speech needs three.
    assert.equal(chunks.length, 4, JSON.stringify(chunks));
    assert.deepEqual(chunks[0], { startS: 0, endS: 25 });
    assert.equal(chunks[1]!.startS, 40);
    assert.equal(chunks[3]!.endS, 105);
    for (let i = 1; i < chunks.length; i++) {
      assert.ok(chunks[i]!.endS - chunks[i]!.startS <= 30 + 1e-9);
      if (i > 1) assert.equal(chunks[i]!.startS, chunks[i - 1]!.endS, "a cut inside speech loses no audio");
    }
  });

  it("returns no chunk for no speech", () => {
    assert.deepEqual(planChunks([]), []);
  });
});

describe("planChunks with speech scores", () => {
  const frameS = 0.032;
  /** Speech everywhere (0.9) except one quiet frame at `quietS`. */
  const scoresWithPause = (totalS: number, quietS: number) => {
    const values = new Float32Array(Math.ceil(totalS / frameS)).fill(0.9);
    values[Math.floor(quietS / frameS)] = 0.2;
    return { values, frameS };
  };

  it("fills a chunk by cutting the overflowing region at its quietest moment before the limit", () => {
    // 0–12 s fits; 13–50 s overflows a chunk only 12 s full, so it is cut, at the pause near 27.5 s.
    const chunks = planChunks([{ startS: 0, endS: 12 }, { startS: 13, endS: 50 }], 30, scoresWithPause(50, 27.5));
    assert.equal(chunks.length, 2);
    assert.ok(Math.abs(chunks[0]!.endS - 27.5) < frameS, JSON.stringify(chunks));
    assert.equal(chunks[1]!.startS, chunks[0]!.endS);
    assert.equal(chunks[1]!.endS, 50);
  });

  it("prefers ending a chunk at a pause between regions to cutting inside one", () => {
    const chunks = planChunks([{ startS: 0, endS: 28 }, { startS: 28.5, endS: 40 }], 30, scoresWithPause(40, 29));
    assert.deepEqual(chunks, [{ startS: 0, endS: 28 }, { startS: 28.5, endS: 40 }]);
  });

  it("covers 59 s of speech with two chunks when one cut inside a sentence allows it", () => {
    // Silero's regions of a real 60 s LibriVox file: a greedy packer needs three chunks.
    const spans = [[0.32, 6.91], [7.33, 9.98], [10.34, 15.26], [15.65, 21.28], [21.7, 24.48], [24.96, 31.61], [32.07, 34.72], [35.07, 40], [40.39, 46.01], [46.43, 49.21], [49.7, 56.35], [56.8, 59.42]];
    const regions = spans.map(([startS, endS]) => ({ startS: startS!, endS: endS! }));
    const chunks = planChunks(regions, 30, scoresWithPause(60, 29.8));
    assert.equal(chunks.length, 2, JSON.stringify(chunks));
    assert.ok(Math.abs(chunks[0]!.endS - 29.8) < frameS, "the cut goes at the quiet frame");
  });

  it("covers continuous speech with as few chunks as the window allows, none over 30 s, no overlap", () => {
    // 602 s of speech in 12 s sentences with 0.3 s pauses: 21 windows of 30 s cover it; packing
    // whole sentences only would take 25.
    const regions = Array.from({ length: 49 }, (_, i) => ({ startS: i * 12.3, endS: i * 12.3 + 12 }));
    const values = new Float32Array(Math.ceil(603 / frameS)).fill(0.9);
    const chunks = planChunks(regions, 30, { values, frameS });
    assert.ok(chunks.length <= 21, `${chunks.length} chunks`);
    assert.equal(chunks[0]!.startS, 0);
    assert.equal(chunks.at(-1)!.endS, regions.at(-1)!.endS);
    chunks.forEach((chunk, i) => {
      assert.ok(chunk.endS - chunk.startS <= 30 + 1e-9);
      if (i > 0) assert.ok(chunk.startS >= chunks[i - 1]!.endS);
    });
  });
});
