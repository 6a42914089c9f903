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
    assert.deepEqual(chunks, [
      { startS: 0, endS: 25 },
      { startS: 40, endS: 70 },
      { startS: 70, endS: 100 },
      { startS: 100, endS: 105 },
    ]);
    for (const chunk of chunks) assert.ok(chunk.endS - chunk.startS <= 30);
  });

  it("returns no chunk for no speech", () => {
    assert.deepEqual(planChunks([]), []);
  });
});
