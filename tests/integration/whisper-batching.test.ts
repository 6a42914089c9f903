import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { AudioWindow, EngineTranscription } from "../../src/server/asr/engine";
import { DEFAULT_WHISPER_OPTIONS, WhisperEngine, type WhisperEngineOptions } from "../../src/server/asr/whisper/whisper-engine";
import { librivoxClips, makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";
import { assertSameTranscription } from "../helpers/assertions";

/**
 * Continuous batching across transcriptions: files decoded together in one engine's batch
 * give exactly what each gives alone, whatever the weights' precision, the decoder layout
 * (merged or split), the search (greedy or beam) and the export (optimum's, where rows share
 * a position, or one with per-row positions, where chunks join mid-flight).
 */
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");
const EXPORTS = { optimum: path.join(FIXTURES, "whisper-tiny"), positions: path.join(FIXTURES, "whisper-tiny-positions") } as const;
const signal = () => new AbortController().signal;
const TOKENS = 16;

type Input = { name: string; path: string; chunks: AudioWindow[] };

/** A model directory without the merged decoder, so the engine loads the split pair. */
async function splitModelDir(source: string, into: string): Promise<string> {
  const dir = path.join(into, `${path.basename(source)}-split`);
  if (await fs.stat(dir).then(() => true, () => false)) return dir;
  await fs.mkdir(path.join(dir, "onnx"), { recursive: true });
  for (const name of await fs.readdir(source)) if (name !== "onnx" && name !== "reference") await fs.symlink(path.join(source, name), path.join(dir, name));
  for (const name of await fs.readdir(path.join(source, "onnx"))) {
    if (!name.startsWith("decoder_model_merged")) await fs.symlink(path.join(source, "onnx", name), path.join(dir, "onnx", name));
  }
  return dir;
}


describe("Whisper continuous batching (tiny random-weight model, real speech)", () => {
  let files: TempDir;
  /** 1 s, 29 s, 31 s and 10 minutes (speech with long pauses: few chunks, a long file's positions). */
  let inputs: Input[];
  /** 10 minutes of speech throughout: 20 chunks, for fairness and cancelling. */
  let dense: Input;
  const engines: WhisperEngine[] = [];
  const engine = async (options: Partial<WhisperEngineOptions> & { modelDir: string }) => {
    // Decoded once at temperature 0 unless a test asks for the fallback: these tests are about
    // batching, and the random model fails the fallback's checks on nearly every chunk.
    const created = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, maxNewTokens: TOKENS, intraOpThreads: 2, temperatures: [0], ...options });
    engines.push(created);
    return created;
  };

  before(async () => {
    files = await makeTempDir();
    const clips = librivoxClips();
    assert.ok(clips.length >= 3, "pocketsphinx-testdata's LibriVox clips are needed");
    // Speech throughout: the clips back to back, looped, cut to each length.
    const looped = Array.from({ length: 40 }, () => clips.map((clip) => ({ kind: "file" as const, path: clip.path }))).flat();
    const long = await makeAudio(looped, { dir: files.dir, name: "speech-long.wav", outputArgs: ["-t", "600"] });
    const cut = async (name: string, seconds: number) => {
      const out = await makeAudio([{ kind: "file", path: long }], { dir: files.dir, name, outputArgs: ["-t", String(seconds)] });
      return out;
    };
    const planner = await engine({ modelDir: EXPORTS.optimum });
    const plan = async (name: string, file: string): Promise<Input> => ({ name, path: file, chunks: await planner.planChunks({ mediaPath: file, signal: signal() }) });
    const sparse = await makeAudio(
      clips.flatMap((clip) => [{ kind: "file" as const, path: clip.path }, { kind: "silence" as const, durationS: 115 }]),
      { dir: files.dir, name: "speech-pauses-10min.wav", outputArgs: ["-t", "600"] },
    );
    inputs = [await plan("1 s", await cut("speech-1s.wav", 1)), await plan("29 s", await cut("speech-29s.wav", 29)), await plan("31 s", await cut("speech-31s.wav", 31)), await plan("10 min", sparse)];
    dense = await plan("10 min of speech", long);
    assert.equal(inputs[2]!.chunks.length, 2);
    assert.ok(inputs[3]!.chunks.length >= 5 && inputs[3]!.chunks.at(-1)!.startS > 400, JSON.stringify(inputs[3]!.chunks));
    assert.ok(dense.chunks.length >= 15, `the 10-minute file plans ${dense.chunks.length} chunks`);
  });
  after(async () => {
    await Promise.all(engines.map((created) => created.close()));
    await files.cleanup();
  });

  for (const variant of ["fp32", "fp16", "quantized"] as const) {
    for (const beamSize of [1, 3]) {
      const search = beamSize === 1 ? "greedy" : `beam ${beamSize}`;
      it(`decodes 1 s, 29 s, 31 s and 10 min files in flight together exactly as each alone (${variant}, ${search}; both exports, merged and split decoders)`, async () => {
        // Alone: optimum's merged export, one chunk at a time, nothing else in flight.
        const single = await engine({ modelDir: EXPORTS.optimum, variant, beamSize, batchSize: 1 });
        const alone: EngineTranscription[] = [];
        for (const input of inputs) alone.push(await single.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", signal: signal() }));
        assert.ok(alone[3]!.segments.length > 0);
        for (const exportName of ["optimum", "positions"] as const) {
          for (const decoder of ["merged", "split"] as const) {
            const label = `${exportName} export, ${variant}, ${decoder} decoder, ${search}`;
            const modelDir = decoder === "merged" ? EXPORTS[exportName] : await splitModelDir(EXPORTS[exportName], files.dir);
            // Together: four requests in one batch of 4 chunks (× beams), joining as rows free up.
            const shared = await engine({ modelDir, variant, beamSize, batchSize: 4 });
            const together = await Promise.all(inputs.map((input) => shared.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", signal: signal() })));
            inputs.forEach((input, i) => assertSameTranscription(together[i]!, alone[i]!, `${input.name}, ${label}`));
            const stats = shared.schedulerStats();
            const rowsPerCall = stats.rowSteps / stats.steps;
            if (variant === "quantized") {
              // int8 scales activations per batch, so its chunks never share a call (see WhisperEngine).
              assert.ok(rowsPerCall <= beamSize, `${label}: ${rowsPerCall} rows per call`);
            } else {
              assert.ok(rowsPerCall > 1.5 * beamSize, `${label}: mean rows per decoder call ${rowsPerCall}: the files did share calls`);
            }
            await shared.close();
          }
        }
      });
    }
  }

  it("with the temperature fallback, files in flight together get exactly what each gets alone (seeded sampling)", async () => {
    const fallback = { temperatures: [...DEFAULT_WHISPER_OPTIONS.temperatures], modelDir: EXPORTS.positions };
    const single = await engine({ ...fallback, batchSize: 1 });
    const alone: EngineTranscription[] = [];
    for (const [i, input] of inputs.entries()) alone.push(await single.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", seed: i, signal: signal() }));
    const temperatures = alone.flatMap((result) => result.segments.map((segment) => segment.decoding!.temperature));
    assert.ok(temperatures.some((temperature) => temperature > 0), "some chunks were sampled");
    const shared = await engine({ ...fallback, batchSize: 4 });
    const together = await Promise.all(inputs.map((input, i) => shared.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", seed: i, signal: signal() })));
    inputs.forEach((input, i) => assertSameTranscription(together[i]!, alone[i]!, `${input.name}, with fallback`));
  });

  it("runs the whole pipeline (VAD, language detection) for concurrent calls as for one", async () => {
    const shared = await engine({ modelDir: EXPORTS.positions, batchSize: 4 });
    const alone: EngineTranscription[] = [];
    for (const input of inputs.slice(0, 3)) alone.push(await shared.transcribe({ mediaPath: input.path, language: "auto", signal: signal() }));
    const together = await Promise.all(inputs.slice(0, 3).map((input) => shared.transcribe({ mediaPath: input.path, language: "auto", signal: signal() })));
    together.forEach((result, i) => assertSameTranscription(result, alone[i]!, inputs[i]!.name));
  });

  it("is fair: short files finish while a long one runs", async () => {
    const shared = await engine({ modelDir: EXPORTS.positions, batchSize: 2 });
    const long = dense;
    const finished: string[] = [];
    let started!: () => void;
    const longRunning = new Promise<void>((resolve) => (started = resolve));
    const longDone = shared
      .transcribe({ mediaPath: long.path, chunks: long.chunks, language: "en", signal: signal(), onProgress: (fraction) => fraction > 0 && started() })
      .then(() => finished.push("long"));
    await longRunning;
    const shorts = inputs.slice(0, 3).map((input) => shared.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", signal: signal() }).then(() => finished.push(input.name)));
    await Promise.all([longDone, ...shorts]);
    assert.equal(finished[finished.length - 1], "long", `finishing order ${finished.join(", ")}`);
  });

  it("cancelling one transcription mid-batch removes its rows and leaves the others' results unchanged", async () => {
    const single = await engine({ modelDir: EXPORTS.positions, batchSize: 1 });
    const alone: EngineTranscription[] = [];
    for (const input of inputs.slice(0, 3)) alone.push(await single.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", signal: signal() }));

    const shared = await engine({ modelDir: EXPORTS.positions, batchSize: 4 });
    const long = dense;
    const controller = new AbortController();
    const cancelled = shared.transcribe({ mediaPath: long.path, chunks: long.chunks, language: "en", signal: controller.signal, onProgress: () => controller.abort(new Error("cancelled by the test")) });
    const others = Promise.all(inputs.slice(0, 3).map((input) => shared.transcribe({ mediaPath: input.path, chunks: input.chunks, language: "en", signal: signal() })));
    await assert.rejects(cancelled, /cancelled by the test/);
    const results = await others;
    results.forEach((result, i) => assertSameTranscription(result, alone[i]!, inputs[i]!.name));
    // The cancelled file stopped early: far fewer chunks were decoded than it has.
    assert.ok(shared.schedulerStats().chunks < long.chunks.length, `${shared.schedulerStats().chunks} chunks decoded`);
  });

  it("a corrupt file in flight with good ones fails alone; the good ones are unchanged", async () => {
    const corrupt = path.join(files.dir, "corrupt.mp3");
    await fs.writeFile(corrupt, Buffer.from("ID3 this is not audio at all ".repeat(2000)));
    const shared = await engine({ modelDir: EXPORTS.positions, batchSize: 4 });
    const alone: EngineTranscription[] = [];
    for (const input of inputs.slice(0, 3)) alone.push(await shared.transcribe({ mediaPath: input.path, language: "en", signal: signal() }));
    const broken = shared.transcribe({ mediaPath: corrupt, language: "en", signal: signal() });
    const together = Promise.all(inputs.slice(0, 3).map((input) => shared.transcribe({ mediaPath: input.path, language: "en", signal: signal() })));
    await assert.rejects(broken);
    (await together).forEach((result, i) => assertSameTranscription(result, alone[i]!, inputs[i]!.name));
  });
});
