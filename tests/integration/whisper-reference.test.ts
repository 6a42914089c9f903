import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { beamDecode } from "../../src/server/asr/whisper/beam-decode";
import { greedyDecode } from "../../src/server/asr/whisper/greedy-decode";
import { LogMelExtractor, melFilterBank } from "../../src/server/asr/whisper/log-mel";
import { loadWhisperModelFiles, type ModelVariant } from "../../src/server/asr/whisper/model-files";
import { WhisperSessions } from "../../src/server/asr/whisper/whisper-sessions";
import { decodePcm } from "../../src/server/media/decode-pcm";

/**
 * The TypeScript engine against the reference forward pass of the tiny random-weight model
 * that tools/whisper-test-model/generate.py exported with PyTorch (same weights).
 */
const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny");
const REF_DIR = path.join(MODEL_DIR, "reference");

const referenceSchema = z.object({
  greedy: z.array(z.object({ name: z.string(), prompt: z.array(z.number()), steps: z.number(), tokens: z.array(z.number()), tokens_for_silence: z.array(z.number()) })),
  special_ids: z.object({ endoftext: z.number(), startoftranscript: z.number(), timestamp_begin: z.number() }),
});

async function readF32(name: string): Promise<Float32Array> {
  const bytes = await fs.readFile(path.join(REF_DIR, name));
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe("Whisper engine against the PyTorch reference (tiny random-weight model)", () => {
  let reference: z.infer<typeof referenceSchema>;
  let features: Float32Array;
  const sessions = new Map<string, WhisperSessions>();
  const sessionFor = async (variant: ModelVariant, decoder: "merged" | "split") => {
    const key = `${variant}/${decoder}`;
    if (!sessions.has(key)) {
      const files = await loadWhisperModelFiles(MODEL_DIR, variant);
      const chosen = decoder === "merged" ? files : { ...files, decoder: { kind: "split" as const, decoder: files.encoder.replace("encoder_model", "decoder_model"), withPast: files.encoder.replace("encoder_model", "decoder_with_past_model") } };
      sessions.set(key, await WhisperSessions.create(chosen, { provider: "cpu", intraOpThreads: 1 }));
    }
    return sessions.get(key)!;
  };

  before(async () => {
    reference = referenceSchema.parse(JSON.parse(await fs.readFile(path.join(REF_DIR, "reference.json"), "utf8")));
    const files = await loadWhisperModelFiles(MODEL_DIR);
    features = new LogMelExtractor(files.features).extract(await decodePcm(path.join(REF_DIR, "clip.wav")));
  });
  after(async () => {
    await Promise.all([...sessions.values()].map((s) => s.close()));
  });

  it("builds the same Slaney mel filterbank", async () => {
    const expected = await readF32("mel_filters.f32");
    assert.ok(maxAbsDiff(melFilterBank(201, 80, 0, 8000, 16_000), expected) < 1e-6);
  });

  it("computes log-mel features within 1e-4 of the reference", async () => {
    const diff = maxAbsDiff(features, await readF32("log_mel.f32"));
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
  });

  it("reads the model's special ids from its files", async () => {
    const files = await loadWhisperModelFiles(MODEL_DIR);
    assert.equal(files.tokenizer.special.endOfText, reference.special_ids.endoftext);
    assert.equal(files.tokenizer.special.startOfTranscript, reference.special_ids.startoftranscript);
    assert.equal(files.tokenizer.special.timestampBegin, reference.special_ids.timestamp_begin);
  });

  it("runs the encoder to the reference hidden states", async () => {
    const hidden = await (await sessionFor("fp32", "merged")).encode(features, 1);
    const diff = maxAbsDiff(hidden.data as Float32Array, await readF32("encoder_output.f32"));
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
  });

  for (const variant of ["fp32", "fp16", "quantized"] as const) {
    for (const decoder of ["merged", "split"] as const) {
      for (const useCache of [true, false]) {
        it(`decodes the reference greedy tokens (${variant}, ${decoder} decoder, ${useCache ? "KV cache" : "no cache"})`, async () => {
          const s = await sessionFor(variant, decoder);
          const hidden = await s.encode(features, 1);
          for (const case_ of reference.greedy) {
            const [tokens] = await greedyDecode(s, hidden, 1, { prompt: case_.prompt, maxNewTokens: case_.steps, endOfText: null, useCache });
            assert.deepEqual(tokens, case_.tokens, case_.name);
          }
        });
      }
    }
  }

  it("decodes a batch exactly as it decodes each sequence alone", async () => {
    const s = await sessionFor("fp32", "merged");
    const silence = new LogMelExtractor((await loadWhisperModelFiles(MODEL_DIR)).features).extract(new Float32Array(80_000));
    const batchFeatures = new Float32Array(features.length * 2);
    batchFeatures.set(features, 0);
    batchFeatures.set(silence, features.length);
    const hidden = await s.encode(batchFeatures, 2);
    for (const case_ of reference.greedy) {
      const batched = await greedyDecode(s, hidden, 2, { prompt: case_.prompt, maxNewTokens: case_.steps, endOfText: null, useCache: true });
      assert.deepEqual(batched, [case_.tokens, case_.tokens_for_silence], case_.name);
    }
  });

  it("beam search with one beam is greedy decoding", async () => {
    const s = await sessionFor("fp32", "merged");
    const hidden = await s.encode(features, 1);
    const eot = reference.special_ids.endoftext;
    for (const case_ of reference.greedy) {
      const [greedy] = await greedyDecode(s, hidden, 1, { prompt: case_.prompt, maxNewTokens: 24, endOfText: eot, useCache: true });
      const [beam] = await beamDecode(s, hidden, 1, { prompt: case_.prompt, beamSize: 1, maxNewTokens: 24, endOfText: eot });
      assert.deepEqual(beam!.tokens, greedy, case_.name);
    }
  });

  it("beam search with five beams finds a sequence at least as likely per token as greedy's", async () => {
    const s = await sessionFor("fp32", "merged");
    const hidden = await s.encode(features, 1);
    const eot = reference.special_ids.endoftext;
    const prompt = reference.greedy[0]!.prompt;
    let greedyLogProb = 0;
    const [greedy] = await greedyDecode(s, hidden, 1, { prompt, maxNewTokens: 16, endOfText: eot, useCache: true, onToken: (_seq, _token, logProb) => (greedyLogProb += logProb) });
    const [beam] = await beamDecode(s, hidden, 1, { prompt, beamSize: 5, maxNewTokens: 16, endOfText: eot });
    const greedyLength = greedy!.length + (greedy!.length < 16 ? 1 : 0);
    assert.ok(Number.isFinite(beam!.logProb));
    assert.ok(beam!.logProb / Math.max(1, beam!.tokens.length + 1) >= greedyLogProb / greedyLength - 1e-6 || beam!.logProb >= greedyLogProb - 1e-6, `beam ${beam!.logProb} over ${beam!.tokens.length} vs greedy ${greedyLogProb} over ${greedyLength}`);
    // The same search twice gives the same answer.
    const [again] = await beamDecode(s, hidden, 1, { prompt, beamSize: 5, maxNewTokens: 16, endOfText: eot });
    assert.deepEqual(again, beam);
  });
});
