import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import type { EngineTranscription } from "../../src/server/asr/engine";
import { GreedyGroup, SampledGroup } from "../../src/server/asr/whisper/decode-groups";
import { endsInLoop } from "../../src/server/asr/whisper/repetition";
import { attemptSeed, compressionRatio, needsFallback, OPENAI_TEMPERATURES, seededRandom } from "../../src/server/asr/whisper/fallback";
import { assertSameTranscription } from "../helpers/assertions";
import { DEFAULT_WHISPER_OPTIONS, WhisperEngine, type WhisperEngineOptions } from "../../src/server/asr/whisper/whisper-engine";

/**
 * Temperature fallback as openai-whisper does it: thresholds and temperatures are the
 * reference's; a chunk that fails them is decoded again by sampling, its output changes, and
 * seeded runs repeat exactly, alone or batched.
 */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");
const MODEL_DIR = path.join(FIXTURES, "whisper-tiny-positions");
const CLIP = path.join(FIXTURES, "whisper-tiny/reference/clip.wav");
const signal = () => new AbortController().signal;
const thresholds = { compressionRatio: 2.4, logProb: -1, noSpeech: 0.6 };

async function withEngine<T>(options: Partial<WhisperEngineOptions>, run: (engine: WhisperEngine) => Promise<T>): Promise<T> {
  const engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: MODEL_DIR, maxNewTokens: 24, ...options });
  try {
    return await run(engine);
  } finally {
    await engine.close();
  }
}

const textOf = (result: EngineTranscription) => result.segments.map((segment) => segment.text).join(" ");

describe("temperature fallback", () => {
  it("uses openai-whisper's thresholds and temperatures", () => {
    assert.deepEqual(DEFAULT_WHISPER_OPTIONS.temperatures, [0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert.deepEqual(OPENAI_TEMPERATURES, [0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert.equal(DEFAULT_WHISPER_OPTIONS.compressionRatioThreshold, 2.4);
    assert.equal(DEFAULT_WHISPER_OPTIONS.logProbThreshold, -1);
    assert.equal(DEFAULT_WHISPER_OPTIONS.bestOf, 5);
    // Python's len(b) / len(zlib.compress(b)) on the same strings.
    assert.equal(compressionRatio("hello world"), 0.5789473684210527);
    assert.equal(compressionRatio("the the the the the the the the the the the the the the the the"), 4.2);
    const base = { avgLogProb: -0.5, compressionRatio: 1.2, noSpeechProb: 0.1, looped: false };
    assert.equal(needsFallback(base, thresholds), false);
    assert.equal(needsFallback({ ...base, compressionRatio: 2.41 }, thresholds), true, "too repetitive");
    assert.equal(needsFallback({ ...base, compressionRatio: 2.4 }, thresholds), false, "the threshold itself passes");
    assert.equal(needsFallback({ ...base, avgLogProb: -1.01 }, thresholds), true, "too unlikely");
    assert.equal(needsFallback({ ...base, looped: true }, thresholds), true, "stopped in a loop");
    // The model says silence and is unsure of its text: dropped, not retried.
    assert.equal(needsFallback({ ...base, avgLogProb: -1.5, noSpeechProb: 0.7 }, thresholds), false);
  });

  it("a chunk that loops stops at the loop and is marked for fallback", () => {
    // Logits whose argmax cycles 3, 4, 5: greedy decoding can only repeat the phrase.
    const group = new GreedyGroup({ maxNewTokens: 224, endOfText: 0, shouldStop: (generated) => endsInLoop(generated) });
    let step = 0;
    while (!group.finished) {
      const logits = new Float32Array(10);
      logits[3 + (step++ % 3)] = 5;
      group.advance([logits]);
    }
    const result = group.result();
    assert.equal(result.looped, true);
    assert.equal(result.tokens.length, 12, "stopped at the fourth repeat, not at the token limit");
    const score = { avgLogProb: result.meanLogProb, compressionRatio: 1, noSpeechProb: 0, looped: result.looped ?? false };
    assert.ok(score.avgLogProb > -1, "likely enough: only the loop fails it");
    assert.equal(needsFallback(score, thresholds), true);
  });

  it("samples best-of-n at a temperature from a seeded generator: the same seed, the same tokens", () => {
    const vocab = 50;
    const logits = () => Float32Array.from({ length: vocab }, (_, i) => Math.sin(i * 1.7) * 3);
    const run = (seed: number) => {
      // No end-of-text: every sample runs its 6 tokens.
      const group = new SampledGroup({ maxNewTokens: 6, endOfText: -1 }, 1.0, 5, seededRandom(seed));
      let advance = group.advance([logits()]);
      while (!group.finished) advance = group.advance(advance.tokens.map(() => logits()));
      return group.result();
    };
    assert.deepEqual(run(attemptSeed(7, 0, 1)), run(attemptSeed(7, 0, 1)));
    assert.notDeepEqual(run(attemptSeed(7, 0, 1)).tokens, run(attemptSeed(7, 0, 2)).tokens);
    // At a temperature near 0 sampling is argmax.
    const cold = new SampledGroup({ maxNewTokens: 1, endOfText: 49 }, 1e-6, 3, seededRandom(1));
    const greedy = new GreedyGroup({ maxNewTokens: 1, endOfText: 49 });
    cold.advance([logits()]);
    greedy.advance([logits()]);
    assert.deepEqual(cold.result().tokens, greedy.result().tokens);
  });

  it("decodes a chunk that fails the checks again at higher temperatures, and its output changes", async () => {
    const greedyOnly = await withEngine({ temperatures: [0] }, (engine) => engine.transcribe({ mediaPath: CLIP, language: "en", signal: signal() }));
    const first = greedyOnly.segments[0]!.decoding!;
    assert.equal(first.temperature, 0);
    // The random-weight model's greedy text on real speech is unlikely (or loops): it fails.
    assert.ok(needsFallback({ ...first, looped: false }, thresholds) || first.compressionRatio > 2.4, JSON.stringify(first));
    const withFallback = await withEngine({}, (engine) => engine.transcribe({ mediaPath: CLIP, language: "en", seed: 42, signal: signal() }));
    const kept = withFallback.segments[0]!.decoding!;
    assert.ok(kept.temperature > 0, `the attempt kept was sampled: ${JSON.stringify(kept)}`);
    assert.ok(OPENAI_TEMPERATURES.includes(kept.temperature));
    assert.notEqual(textOf(withFallback), textOf(greedyOnly));
  });

  it("repeats exactly with the same seed, alone and batched with other files", async () => {
    await withEngine({}, async (engine) => {
      const alone = await engine.transcribe({ mediaPath: CLIP, language: "en", seed: 42, signal: signal() });
      const again = await engine.transcribe({ mediaPath: CLIP, language: "en", seed: 42, signal: signal() });
      assert.deepEqual(again, alone, "the same seed, alone: exactly the same");
      const together = await Promise.all([
        engine.transcribe({ mediaPath: CLIP, language: "en", seed: 7, signal: signal() }),
        engine.transcribe({ mediaPath: CLIP, language: "en", seed: 42, signal: signal() }),
        engine.transcribe({ mediaPath: CLIP, language: "en", seed: 9, signal: signal() }),
      ]);
      assertSameTranscription(together[1]!, alone, "batched with two other jobs' chunks");
      assert.ok(together.some((result) => textOf(result) !== textOf(alone)), "another seed samples other text");
    });
  });
});
