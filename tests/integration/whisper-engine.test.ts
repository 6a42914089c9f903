import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Engine, TranscriptSegment } from "../../src/server/asr/engine";
import { DEFAULT_WHISPER_OPTIONS, WhisperEngine } from "../../src/server/asr/whisper/whisper-engine";
import { librivoxClips, makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";

const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny");
const signal = () => new AbortController().signal;

function assertOrdered(segments: readonly TranscriptSegment[]): void {
  let previousEnd = 0;
  for (const segment of segments) {
    assert.ok(segment.startS >= previousEnd - 1e-6, `segment at ${segment.startS} overlaps the previous one ending ${previousEnd}`);
    assert.ok(segment.endS >= segment.startS);
    previousEnd = segment.endS;
  }
}

describe("WhisperEngine (tiny random-weight model, real speech layout)", () => {
  let engine: WhisperEngine;
  let files: TempDir;
  before(async () => {
    engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: MODEL_DIR, maxNewTokens: 24 });
    files = await makeTempDir();
  });
  after(async () => {
    await engine.close();
    await files.cleanup();
  });

  it("reports its model, provider and languages", () => {
    assert.equal(engine.info.name, "whisper-onnx");
    assert.equal(engine.info.provider, "cpu");
    assert.ok(engine.info.languages.includes("en"));
  });

  it("produces ordered segments inside the speech of a long file with long silences, and none in the silences", async () => {
    const clips = librivoxClips();
    // ~10 minutes: five speech clips, each followed by about 2 minutes of digital silence.
    const parts = clips.flatMap((clip) => [{ kind: "file" as const, path: clip.path }, { kind: "silence" as const, durationS: 115 }]);
    const file = await makeAudio(parts, { dir: files.dir, name: "long.wav" });
    const speech: [number, number][] = [];
    let cursor = 0;
    for (const clip of clips) {
      const { probeMedia } = await import("../../src/server/media/probe-media");
      const duration = (await probeMedia(clip.path)).durationS;
      speech.push([cursor, cursor + duration]);
      cursor += duration + 115;
    }
    assert.ok(cursor > 590, `the file lasts ${cursor} s`);
    const result = await engine.transcribe({ mediaPath: file, language: "en", signal: signal() });
    assert.equal(result.language, "en");
    assert.ok(result.segments.length > 0, "the speech produced segments");
    assertOrdered(result.segments);
    for (const segment of result.segments) {
      const inside = speech.some(([start, end]) => segment.startS >= start - 1 && segment.endS <= end + 1.5);
      assert.ok(inside, `segment ${segment.startS}–${segment.endS} "${segment.text}" lies in a silent stretch`);
    }
  });

  it("returns no segments for silence", async () => {
    const file = await makeAudio([{ kind: "silence", durationS: 20 }], { dir: files.dir, name: "silence.wav" });
    const result = await engine.transcribe({ mediaPath: file, language: "en", signal: signal() });
    assert.deepEqual(result.segments, []);
  });

  it("rejects a language the model does not have", async () => {
    const clip = librivoxClips()[0]!;
    await assert.rejects(engine.transcribe({ mediaPath: clip.path, language: "xx", signal: signal() }), /Language 'xx' is not supported by the whisper-onnx model/);
  });

  it("decodes with beam search when asked (5 beams)", async () => {
    const beamEngine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: MODEL_DIR, maxNewTokens: 24, beamSize: 5 });
    try {
      const result = await beamEngine.transcribe({ mediaPath: librivoxClips()[0]!.path, language: "en", signal: signal() });
      assert.ok(result.segments.length > 0);
      assertOrdered(result.segments);
    } finally {
      await beamEngine.close();
    }
  });

  it("translates when asked: the <|translate|> prompt changes the text, and the transcript is English", async () => {
    const clip = librivoxClips()[0]!.path;
    const transcribed = await engine.transcribe({ mediaPath: clip, language: "de", task: "transcribe", signal: signal() });
    const translated = await engine.transcribe({ mediaPath: clip, language: "de", task: "translate", signal: signal() });
    assert.equal(transcribed.language, "de");
    assert.equal(translated.language, "en");
    assert.ok(translated.segments.length > 0);
    assertOrdered(translated.segments);
    assert.notDeepEqual(
      translated.segments.map((segment) => segment.text),
      transcribed.segments.map((segment) => segment.text),
      "the task token reached the decoder",
    );
  });

  it("detects the language when asked for auto", async () => {
    const result = await engine.transcribe({ mediaPath: librivoxClips()[0]!.path, language: "auto", signal: signal() });
    assert.ok(engine.info.languages.includes(result.language));
  });
});

describe("parallel engines with Whisper", () => {
  it("gives identical output on 1 and 3 engine slots (one chunk plan, shared out)", async () => {
    const { transcribeMedia, groupChunks } = await import("../../src/server/asr/transcribe-media");
    const files = await makeTempDir();
    const engines = await Promise.all([1, 2, 3].map(() => WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: MODEL_DIR, maxNewTokens: 24 })));
    try {
      const clips = librivoxClips();
      // Five clips with 31 s gaps: five chunks, which no single 30 s window can merge.
      const parts = clips.flatMap((clip) => [{ kind: "file" as const, path: clip.path }, { kind: "silence" as const, durationS: 31 }]);
      const file = await makeAudio(parts, { dir: files.dir, name: "gappy.wav" });
      const one = await transcribeMedia({ mediaPath: file, language: "en", engines: [engines[0]!], signal: signal() });
      const three = await transcribeMedia({ mediaPath: file, language: "en", engines, signal: signal() });
      assert.ok(one.transcription.segments.length > 0);
      assert.deepEqual(three.transcription, one.transcription);

      // "auto" on three slots: detected once, and every slot transcribes in that language.
      const seen: string[] = [];
      let detections = 0;
      const spied: Engine[] = engines.map((engine) => ({
        info: engine.info,
        planChunks: (input) => engine.planChunks(input),
        detectLanguage: (input) => {
          detections++;
          return engine.detectLanguage(input);
        },
        transcribe: (input) => {
          seen.push(input.language);
          return engine.transcribe(input);
        },
        close: () => engine.close(),
      }));
      const oneAuto = await transcribeMedia({ mediaPath: file, language: "auto", engines: [engines[0]!], signal: signal() });
      const threeAuto = await transcribeMedia({ mediaPath: file, language: "auto", engines: spied, signal: signal() });
      assert.equal(detections, 1);
      assert.deepEqual(seen, [oneAuto.transcription.language, oneAuto.transcription.language, oneAuto.transcription.language]);
      assert.deepEqual(threeAuto.transcription, oneAuto.transcription);

      const plan = await engines[0]!.planChunks({ mediaPath: file, signal: signal() });
      assert.equal(plan.length, 5);
      assert.equal(groupChunks(plan, 3).length, 3);
    } finally {
      await Promise.all(engines.map((engine) => engine.close()));
      await files.cleanup();
    }
  });
});
