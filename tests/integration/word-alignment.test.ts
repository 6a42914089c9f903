import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { DecodedSequence, GroupAdvance, SequenceGroup } from "../../src/server/asr/whisper/decode-groups";
import { DecodeScheduler, type ChunkDecode } from "../../src/server/asr/whisper/decode-scheduler";
import { loadWhisperModelFiles, type ModelVariant, type WhisperModelFiles } from "../../src/server/asr/whisper/model-files";
import { alignDecoderOutput, type AlignedWord, type WarpPath } from "../../src/server/asr/whisper/word-alignment";
import { DEFAULT_WHISPER_OPTIONS, WhisperEngine } from "../../src/server/asr/whisper/whisper-engine";
import { WhisperSessions } from "../../src/server/asr/whisper/whisper-sessions";
import { decodePcm } from "../../src/server/media/decode-pcm";
import { librivoxClips, makeAudio } from "../helpers/fixtures";

/**
 * Word timings through the decode scheduler's alignment call against openai-whisper's
 * find_alignment run by the generator on the PyTorch model (reference.json
 * `word_alignment`): the same DTW path and the same word times, for merged and split
 * decoders, with and without per-row positions, alone and in a batch with other chunks.
 */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, "whisper-tiny/reference/reference.json"), "utf8")) as {
  word_alignment: {
    tokens: number[];
    text_tokens: number[];
    num_frames: number;
    alignment_heads: [number, number][];
    text_indices: number[];
    time_indices: number[];
    words: { word: string; tokens: number[]; start: number; end: number; probability: number }[];
  };
};
const expected = reference.word_alignment;
const logMel = (() => {
  const bytes = fs.readFileSync(path.join(FIXTURES, "whisper-tiny/reference/log_mel.f32"));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
})();

/** Emits the given tokens, then end-of-text: the chunk "decodes" to exactly the reference text. */
class ForcedGroup implements SequenceGroup {
  readonly width = 1;
  readonly maxWidth = 1;
  private emitted = 0;
  constructor(
    private readonly forced: readonly number[],
    private readonly endOfText: number,
  ) {}
  get finished(): boolean {
    return this.emitted > this.forced.length;
  }
  advance(): GroupAdvance {
    const token = this.forced[this.emitted] ?? this.endOfText;
    this.emitted++;
    return { parents: [0], tokens: [token] };
  }
  result(): DecodedSequence {
    return { tokens: [...this.forced], meanLogProb: 0 };
  }
}

type Alignment = { words: AlignedWord[]; path: WarpPath };

function assertMatchesReference({ words, path }: Alignment, label: string): void {
  assert.deepEqual(path.textIndices, expected.text_indices, `${label}: DTW path (token rows)`);
  assert.deepEqual(path.timeIndices, expected.time_indices, `${label}: DTW path (frames)`);
  assert.deepEqual(
    words.map((word) => word.text),
    expected.words.map((word) => word.word),
    `${label}: words`,
  );
  words.forEach((word, i) => {
    const want = expected.words[i]!;
    assert.deepEqual(word.tokens, want.tokens, `${label}: tokens of ${want.word}`);
    assert.ok(Math.abs(word.startS - want.start) <= 0.02 + 1e-9, `${label}: ${want.word} starts ${word.startS}, reference ${want.start}`);
    assert.ok(Math.abs(word.endS - want.end) <= 0.02 + 1e-9, `${label}: ${want.word} ends ${word.endS}, reference ${want.end}`);
    assert.ok(Math.abs(word.probability - want.probability) <= 1e-4 + want.probability * 1e-3, `${label}: ${want.word} probability ${word.probability}, reference ${want.probability}`);
  });
}

const setups: { fixture: string; decoder: "merged" | "split" }[] = [
  { fixture: "whisper-tiny", decoder: "merged" },
  { fixture: "whisper-tiny", decoder: "split" },
  { fixture: "whisper-tiny-positions", decoder: "merged" },
  { fixture: "whisper-tiny-positions", decoder: "split" },
];

for (const setup of setups) {
  describe(`word alignment: ${setup.fixture}, ${setup.decoder} decoder (fp32)`, () => {
    let files: WhisperModelFiles;
    let sessions: WhisperSessions;
    before(async () => {
      const loaded = await loadWhisperModelFiles(path.join(FIXTURES, setup.fixture), "fp32" satisfies ModelVariant);
      // Both layouts are in the fixture; pick the one under test.
      const decoder =
        setup.decoder === "merged"
          ? { kind: "merged" as const, merged: path.join(loaded.dir, "onnx/decoder_model_merged.onnx") }
          : { kind: "split" as const, decoder: path.join(loaded.dir, "onnx/decoder_model.onnx"), withPast: path.join(loaded.dir, "onnx/decoder_with_past_model.onnx") };
      files = { ...loaded, decoder };
      sessions = await WhisperSessions.create(files, { provider: "cpu", intraOpThreads: 2 });
    });
    after(() => sessions.close());

    const chunk = (words: Alignment[], slot: number, forced = expected.text_tokens): ChunkDecode => {
      const { special } = files.tokenizer;
      const prompt = [special.startOfTranscript, special.languages.get("en")!, special.transcribe];
      return {
        features: () => logMel,
        prompt,
        group: () => new ForcedGroup(forced, special.endOfText),
        alignment: {
          layers: [...new Set(expected.alignment_heads.map(([layer]) => layer))],
          tokensFor: ({ tokens }) => [...prompt, special.noTimestamps, ...tokens, special.endOfText],
          read: (output, tokens) => {
            words[slot] = alignDecoderOutput(output, {
              tokens,
              promptLength: prompt.length,
              alignmentHeads: files.generation.alignment_heads!,
              audioFrames: Math.floor(expected.num_frames / 2),
              medianWidth: files.config.median_filter_width,
              tokenizer: files.tokenizer,
              language: "en",
            });
          },
        },
      };
    };

    it("the model declares its alignment heads and its decoders return their cross-attention", () => {
      assert.deepEqual(files.generation.alignment_heads, expected.alignment_heads);
      assert.ok(sessions.returnsCrossAttention(expected.alignment_heads.map(([layer]) => layer)));
    });

    it("alone: the alignment call gives the PyTorch reference's words and times", async () => {
      const words: Alignment[] = [];
      const scheduler = new DecodeScheduler(sessions, { maxRows: 1, encodeBatch: 1 });
      const [result] = await scheduler.decode({ chunks: [chunk(words, 0)], weight: 1, signal: new AbortController().signal });
      assert.deepEqual(result!.tokens, expected.text_tokens);
      assert.equal(scheduler.stats().alignments, 1);
      assertMatchesReference(words[0]!, "alone");
    });

    it("batched: chunks of other lengths in flight around it change nothing", async () => {
      const words: Alignment[] = [];
      const scheduler = new DecodeScheduler(sessions, { maxRows: 3, encodeBatch: 3 });
      // Shorter and longer texts: rows leave and join around the reference chunk.
      const others = [expected.text_tokens.slice(0, 3), expected.text_tokens.slice(0, 20), [...expected.text_tokens, ...expected.text_tokens.slice(0, 6)]];
      const chunks = [chunk(words, 0, others[0]), chunk(words, 1, others[1]), chunk(words, 2), chunk(words, 3, others[2]), chunk(words, 4)];
      const results = await scheduler.decode({ chunks, weight: 1, signal: new AbortController().signal });
      assert.equal(results.length, 5);
      assert.equal(scheduler.stats().alignments, 5);
      assertMatchesReference(words[2]!, "batched, third chunk");
      assertMatchesReference(words[4]!, "batched, last chunk (joined mid-flight)");
    });
  });
}

describe("WhisperEngine word timings", () => {
  const clip = path.join(FIXTURES, "whisper-tiny/reference/clip.wav");
  const transcribe = async (modelDir: string, variant: ModelVariant = "fp32") => {
    const engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir, variant, maxNewTokens: 24, temperatures: [0] });
    try {
      return await engine.transcribe({ mediaPath: clip, language: "en", signal: new AbortController().signal });
    } finally {
      await engine.close();
    }
  };

  it("aligns words to the audio when the model has alignment heads, and says so", async () => {
    const result = await transcribe(path.join(FIXTURES, "whisper-tiny-positions"));
    assert.equal(result.wordTimings, "aligned");
    const words = result.segments.flatMap((segment) => segment.words);
    assert.ok(words.length > 0, JSON.stringify(result.segments));
    for (const segment of result.segments) {
      assert.ok(segment.words.length > 0, `segment "${segment.text}" has words`);
      assert.equal(segment.startS, segment.words[0]!.startS, "a segment starts with its first word");
      assert.equal(segment.endS, Math.max(segment.startS, segment.words[segment.words.length - 1]!.endS), "and ends with its last");
    }
    words.forEach((word, i) => {
      assert.ok(word.startS >= 0 && word.endS <= 5 && word.startS <= word.endS, JSON.stringify(word));
      if (i > 0) assert.ok(word.startS >= words[i - 1]!.startS, "words run forward");
      assert.ok(word.confidence >= 0 && word.confidence <= 1);
    });
    // The alignment, not a spread: no random-weight spread would give these per-word confidences.
    assert.ok(new Set(words.map((word) => word.confidence)).size > 1, "per-word probabilities, not the segment's");
  });

  it("falls back to spreading words over segments when the model names no alignment heads, and says so", async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "whisper-no-heads-"));
    try {
      const source = path.join(FIXTURES, "whisper-tiny-positions");
      await fs.promises.cp(source, dir, { recursive: true });
      const generation = JSON.parse(await fs.promises.readFile(path.join(source, "generation_config.json"), "utf8")) as Record<string, unknown>;
      delete generation.alignment_heads;
      await fs.promises.writeFile(path.join(dir, "generation_config.json"), JSON.stringify(generation));
      const result = await transcribe(dir);
      assert.equal(result.wordTimings, "proportional");
      for (const segment of result.segments) {
        assert.equal(segment.words[0]!.startS, segment.startS);
        assert.equal(new Set(segment.words.map((word) => word.confidence)).size, 1, "every word has the segment's confidence");
      }
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps words on the VAD's speech when a chunk holds a silence between two regions", async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "whisper-gap-"));
    const engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: path.join(FIXTURES, "whisper-tiny-positions"), maxNewTokens: 24, temperatures: [0] });
    try {
      const clips = librivoxClips();
      // Two clips 8 s apart: one 30 s window holds both, silence in the middle.
      const file = await makeAudio([{ kind: "file", path: clips[0]!.path }, { kind: "silence", durationS: 8 }, { kind: "file", path: clips[1]!.path }], { dir, name: "gap.wav" });
      const chunks = await engine.planChunks({ mediaPath: file, signal: new AbortController().signal });
      assert.equal(chunks.length, 1, JSON.stringify(chunks));
      const result = await engine.transcribe({ mediaPath: file, language: "en", signal: new AbortController().signal });
      const firstEndS = (await decodePcm(clips[0]!.path, { signal: new AbortController().signal })).length / 16_000;
      const secondStartS = firstEndS + 8;
      const words = result.segments.flatMap((segment) => segment.words);
      assert.ok(words.length > 1);
      for (const word of words) {
        // Nothing but an edge of the silence (the VAD pads speech a little) may lie inside it.
        const inside = Math.max(0, Math.min(word.endS, secondStartS - 0.5) - Math.max(word.startS, firstEndS + 0.5));
        assert.equal(inside, 0, `"${word.text}" ${word.startS}–${word.endS} lies in the silence ${firstEndS}–${secondStartS}`);
      }
    } finally {
      await engine.close();
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  });
});
