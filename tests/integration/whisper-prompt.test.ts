import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { GreedyGroup } from "../../src/server/asr/whisper/decode-groups";
import { DecodeScheduler } from "../../src/server/asr/whisper/decode-scheduler";
import { loadWhisperModelFiles } from "../../src/server/asr/whisper/model-files";
import { DEFAULT_WHISPER_OPTIONS, WhisperEngine } from "../../src/server/asr/whisper/whisper-engine";
import { WhisperSessions } from "../../src/server/asr/whisper/whisper-sessions";
import { assertSameTranscription } from "../helpers/assertions";
import { librivoxClips, makeAudio, makeTempDir } from "../helpers/fixtures";

/**
 * An initial prompt reaches the decoder: the engine builds `<|startofprev|>` + the prompt's
 * BPE tokens + the start sequence exactly as the PyTorch reference did (generate.py
 * `transcribe_with_prompt`), and the scheduler decodes the reference's tokens from it.
 */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, "whisper-tiny/reference/reference.json"), "utf8")) as {
  greedy: { name: string; prompt: number[]; tokens: number[]; prompt_text?: string }[];
};
const withPrompt = reference.greedy.find((case_) => case_.name === "transcribe_with_prompt")!;
const withoutPrompt = reference.greedy.find((case_) => case_.name === "transcribe")!;
const logMel = (() => {
  const bytes = fs.readFileSync(path.join(FIXTURES, "whisper-tiny/reference/log_mel.f32"));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
})();
const CLIP = path.join(FIXTURES, "whisper-tiny/reference/clip.wav");
const signal = () => new AbortController().signal;

describe("Whisper initial prompt", () => {
  let engine: WhisperEngine;
  before(async () => {
    engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: path.join(FIXTURES, "whisper-tiny-positions"), maxNewTokens: 24, temperatures: [0] });
  });
  after(() => engine.close());

  it("builds <|startofprev|> and the prompt's tokens as the reference (BPE encoding included)", () => {
    assert.ok(withPrompt.prompt_text);
    const startSequence = withoutPrompt.prompt;
    assert.deepEqual([...engine.promptTokens(withPrompt.prompt_text), ...startSequence], withPrompt.prompt);
    assert.deepEqual(engine.promptTokens("   "), [], "a blank prompt is no prompt");
    // Only the last 223 tokens are kept (half of Whisper's 448 positions, less one).
    const long = engine.promptTokens("word ".repeat(400));
    assert.equal(long.length, 1 + 223);
  });

  it("the prompt's tokens reach the decoder: the scheduler decodes the reference's tokens from it", async () => {
    const files = await loadWhisperModelFiles(path.join(FIXTURES, "whisper-tiny-positions"), "fp32");
    const sessions = await WhisperSessions.create(files, { provider: "cpu", intraOpThreads: 2 });
    try {
      const scheduler = new DecodeScheduler(sessions, { maxRows: 2, encodeBatch: 2 });
      // Both in one batch: rows at different positions (prompt lengths 3 and 3 + the prompt's).
      const [prompted, plain] = await scheduler.decode({
        chunks: [withPrompt, withoutPrompt].map((case_) => ({ features: () => logMel, prompt: case_.prompt, group: () => new GreedyGroup({ maxNewTokens: case_.tokens.length, endOfText: -1 }) })),
        weight: 1,
        signal: signal(),
      });
      assert.deepEqual(prompted!.tokens, withPrompt.tokens);
      assert.deepEqual(plain!.tokens, withoutPrompt.tokens);
      assert.notDeepEqual(withPrompt.tokens, withoutPrompt.tokens, "the prompt changes what the model says");
    } finally {
      await sessions.close();
    }
  });

  it("a transcription with a prompt decodes differently, and the alignment still covers its words", async () => {
    const plain = await engine.transcribe({ mediaPath: CLIP, language: "en", signal: signal() });
    const prompted = await engine.transcribe({ mediaPath: CLIP, language: "en", prompt: withPrompt.prompt_text!, signal: signal() });
    assert.notDeepEqual(
      prompted.segments.map((segment) => segment.text),
      plain.segments.map((segment) => segment.text),
    );
    for (const segment of prompted.segments) assert.ok(segment.words.length > 0 && segment.words.every((word) => word.startS >= 0 && word.endS <= 5));
  });

  it("conditions each window on the text before it when asked (condition_on_previous_text), alone or batched", async () => {
    const dir = await makeTempDir();
    const conditioned = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: path.join(FIXTURES, "whisper-tiny-positions"), maxNewTokens: 24, temperatures: [0], conditionOnPreviousText: true });
    try {
      const clips = librivoxClips();
      // Three windows: the clips are more than 30 s apart, so no window can hold two.
      const file = await makeAudio(clips.slice(0, 3).flatMap((clip) => [{ kind: "file" as const, path: clip.path }, { kind: "silence" as const, durationS: 31 }]), { dir: dir.dir, name: "three-windows.wav" });
      const chunks = await engine.planChunks({ mediaPath: file, signal: signal() });
      assert.equal(chunks.length, 3);
      const plain = await engine.transcribe({ mediaPath: file, chunks, language: "en", signal: signal() });
      const alone = await conditioned.transcribe({ mediaPath: file, chunks, language: "en", signal: signal() });
      const windowOf = (result: typeof plain, index: number) => result.segments.filter((segment) => segment.startS >= chunks[index]!.startS - 1e-6 && segment.startS < chunks[index]!.endS).map((segment) => segment.text);
      // The first window has nothing before it: as unconditioned. Later ones are prompted.
      assert.deepEqual(windowOf(alone, 0), windowOf(plain, 0));
      assert.notDeepEqual([windowOf(alone, 1), windowOf(alone, 2)], [windowOf(plain, 1), windowOf(plain, 2)], "the previous text changed later windows");
      const [batched] = await Promise.all([
        conditioned.transcribe({ mediaPath: file, chunks, language: "en", signal: signal() }),
        conditioned.transcribe({ mediaPath: CLIP, language: "en", signal: signal() }),
      ]);
      assertSameTranscription(batched, alone, "conditioned, batched with another file");
    } finally {
      await conditioned.close();
      await dir.cleanup();
    }
  });
});
