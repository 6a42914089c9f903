/**
 * Whisper engine benchmark: our engine against transformers.js's automatic-speech-recognition
 * pipeline on the same whisper-base-sized model (real architecture, random weights from
 * tools/whisper-test-model) and the same 10 files of 60 s, with the decoded tokens per chunk
 * fixed so both do equal work. Each engine runs in its own child process so peak RSS is its own.
 *
 *   npx tsx bench/whisper-engine.ts [--model DIR] [--tokens 32] [--files 10] [--runs 3] [--words false]
 *
 * Our engine decodes each chunk once at temperature 0 (no fallback: the random weights would
 * fail its checks on every chunk) and aligns words when the model can (--words false: not).
 *
 * "Ours" is the production configuration: one batching engine (2 threads, batch 8) with 4
 * files in flight (PARALLEL=4); today's default (2 slots × 1 thread, one file per slot) is
 * kept for comparison. Prints RTFx (audio seconds per wall second), the batched /
 * transformers.js ratio, peak RSS, and the speed-up of one 10-minute file on one engine
 * with batch 8 versus batch 1 (a chunk at a time).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { withMallocSettings } from "../scripts/malloc-env.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox";

type ChildResult = { label: string; audioS: number; wallS: number; chunks: number; peakRssMiB: number; occupancy: number | null };

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "/tmp/whisper-base-positions" },
    tokens: { type: "string", default: "32" },
    files: { type: "string", default: "10" },
    child: { type: "string" },
    slots: { type: "string", default: "1" },
    threads: { type: "string", default: "2" },
    batch: { type: "string", default: "8" },
    /** Files in flight on each slot at once. */
    parallel: { type: "string", default: "1" },
    inputs: { type: "string" },
    runs: { type: "string", default: "3" },
    /** "false": no word alignment pass (the engine's words are spread), to measure what alignment costs. */
    words: { type: "string", default: "true" },
  },
});

function ffmpeg(args: string[]): void {
  execFileSync("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args]);
}

/** 60 s of continuous real speech: LibriVox clips back to back, rotated per file, looped. */
function makeInputs(dir: string, count: number): string[] {
  const clips = fs.readdirSync(LIBRIVOX).filter((name) => name.endsWith(".wav")).sort().map((name) => path.join(LIBRIVOX, name));
  return Array.from({ length: count }, (_, i) => {
    const order = [...clips.slice(i % clips.length), ...clips.slice(0, i % clips.length)];
    const list = path.join(dir, `list-${i}.txt`);
    fs.writeFileSync(list, Array.from({ length: 4 }, () => order.map((clip) => `file '${clip}'`).join("\n")).join("\n"));
    const out = path.join(dir, `speech-${i}.wav`);
    ffmpeg(["-f", "concat", "-safe", "0", "-i", list, "-t", "60", "-ar", "16000", "-ac", "1", out]);
    return out;
  });
}

async function runOurs(inputs: string[], slots: number, threads: number, batchSize: number, parallel: number, tokens: number): Promise<ChildResult> {
  const { WhisperEngine, DEFAULT_WHISPER_OPTIONS } = await import("../src/server/asr/whisper/whisper-engine");
  const engines = await Promise.all(
    Array.from({ length: slots }, () =>
      WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: values.model!, intraOpThreads: threads, batchSize, maxNewTokens: tokens, minNewTokens: tokens, stopOnLoops: false, temperatures: [0], wordTimestamps: values.words !== "false" }),
    ),
  );
  const signal = new AbortController().signal;
  // Chunk counts (for comparing work), planned before the clock starts.
  let chunks = 0;
  for (const file of inputs) chunks += (await engines[0]!.planChunks({ mediaPath: file, signal })).length;
  const before = engines.map((engine) => engine.schedulerStats());
  const queue = [...inputs];
  const started = performance.now();
  // Each of a slot's `parallel` loops takes the next file, as the dispatcher hands jobs to
  // free slots; with parallel > 1 the slot's engine batches the files in flight together.
  await Promise.all(
    engines.flatMap((engine) =>
      Array.from({ length: parallel }, async () => {
        for (let file = queue.shift(); file; file = queue.shift()) await engine.transcribe({ mediaPath: file, language: "en", signal });
      }),
    ),
  );
  const wallS = (performance.now() - started) / 1000;
  const after = engines.map((engine) => engine.schedulerStats());
  await Promise.all(engines.map((engine) => engine.close()));
  const steps = after.reduce((sum, stats, index) => sum + stats.steps - before[index]!.steps, 0);
  const rowSteps = after.reduce((sum, stats, index) => sum + stats.rowSteps - before[index]!.rowSteps, 0);
  const label =
    parallel > 1
      ? `ours batched: PARALLEL=${parallel}, batch ${batchSize}, ${threads} threads`
      : `ours today's default: ${slots} slot${slots > 1 ? "s" : ""} × ${threads} thread${threads > 1 ? "s" : ""}`;
  return { label, audioS: inputs.length * 60, wallS, chunks, peakRssMiB: process.resourceUsage().maxRSS / 1024, occupancy: steps ? rowSteps / steps : null };
}

async function runTransformersJs(inputs: string[], tokens: number): Promise<ChildResult> {
  const { pipeline, env } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  env.localModelPath = path.dirname(values.model!) + path.sep;
  const { decodePcm } = await import("../src/server/media/decode-pcm");
  const asr = await pipeline("automatic-speech-recognition", path.basename(values.model!), { dtype: "fp32", device: "cpu" });
  const started = performance.now();
  let chunks = 0;
  for (const file of inputs) {
    const audio = await decodePcm(file);
    chunks += Math.ceil(audio.length / 16_000 / 30);
    await asr(audio, { chunk_length_s: 30, stride_length_s: 0, language: "en", task: "transcribe", max_new_tokens: tokens, min_new_tokens: tokens, return_timestamps: true } as never);
  }
  const wallS = (performance.now() - started) / 1000;
  return { label: "transformers.js pipeline", audioS: inputs.length * 60, wallS, chunks, peakRssMiB: process.resourceUsage().maxRSS / 1024, occupancy: null };
}

/** One long file on one engine: its chunks decoded `batchSize` at a time (1 = a chunk at a time). */
async function runLong(file: string, batchSize: number, threads: number, tokens: number): Promise<ChildResult> {
  const { WhisperEngine, DEFAULT_WHISPER_OPTIONS } = await import("../src/server/asr/whisper/whisper-engine");
  const { transcribeMedia } = await import("../src/server/asr/transcribe-media");
  const engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, modelDir: values.model!, intraOpThreads: threads, batchSize, maxNewTokens: tokens, minNewTokens: tokens, stopOnLoops: false, temperatures: [0], wordTimestamps: values.words !== "false" });
  const started = performance.now();
  const out = await transcribeMedia({ mediaPath: file, language: "en", engines: [engine], signal: new AbortController().signal });
  const wallS = (performance.now() - started) / 1000;
  const stats = engine.schedulerStats();
  await engine.close();
  return {
    label: `${Math.round(out.media.durationS / 60)}-min file, batch ${batchSize} × ${threads} threads`,
    audioS: out.media.durationS,
    wallS,
    chunks: stats.chunks,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    occupancy: stats.steps ? stats.rowSteps / stats.steps : null,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function child(mode: string, extra: string[]): ChildResult {
  const result = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", mode, "--model", values.model!, "--tokens", values.tokens!, "--words", values.words!, ...extra], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    // As `npm start` runs the server (scripts/start.mjs); transformers.js gets the same.
    env: withMallocSettings(process.env),
  });
  const line = result.stdout.trim().split("\n").pop() ?? "";
  if (result.status !== 0 || !line.startsWith("{")) throw new Error(`${mode} failed:\n${result.stderr.slice(-3000)}`);
  return JSON.parse(line) as ChildResult;
}

async function main(): Promise<void> {
  const tokens = Number(values.tokens);
  if (values.child) {
    const inputs = (values.inputs ?? "").split(",").filter(Boolean);
    const result =
      values.child === "ours"
        ? await runOurs(inputs, Number(values.slots), Number(values.threads), Number(values.batch), Number(values.parallel), tokens)
        : values.child === "hf"
          ? await runTransformersJs(inputs, tokens)
          : await runLong(inputs[0]!, Number(values.batch), Number(values.threads), tokens);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  if (!fs.existsSync(path.join(values.model!, "onnx", "encoder_model.onnx"))) {
    throw new Error(`No model at ${values.model}: run /usr/bin/python3 tools/whisper-test-model/generate.py --size base --decoder-inputs positions --split-variants fp32 --no-reference --out ${values.model}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "whisper-bench-"));
  try {
    const inputs = makeInputs(dir, Number(values.files));
    const long = path.join(dir, "ten-minutes.wav");
    fs.writeFileSync(path.join(dir, "long.txt"), inputs.map((file) => `file '${file}'`).join("\n"));
    ffmpeg(["-f", "concat", "-safe", "0", "-i", path.join(dir, "long.txt"), long]);
    const list = inputs.join(",");
    console.log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`);
    console.log(`model: ${values.model}, ${values.files} files × 60 s, ${tokens} tokens decoded per chunk (min = max), fp32, CPU`);
    const runs = Number(values.runs);
    console.log(`each row: the median of ${runs} runs (wall time, RTFx and peak RSS), every run in a fresh process`);
    const configurations: [string, string[]][] = [
      ["hf", ["--inputs", list]],
      // Production: one engine, every core, the files of PARALLEL=4 jobs batched together.
      ["ours", ["--inputs", list, "--slots", "1", "--threads", "2", "--batch", "8", "--parallel", "4"]],
      // Today's default: two slots of one thread each, one file per slot.
      ["ours", ["--inputs", list, "--slots", "2", "--threads", "1", "--batch", "4", "--parallel", "1"]],
      ["long", ["--inputs", long, "--batch", "8", "--threads", "2"]],
      ["long", ["--inputs", long, "--batch", "1", "--threads", "2"]],
    ];
    const samples: ChildResult[][] = configurations.map(() => []);
    // Interleaved, so a slow spell on the machine does not land on one configuration only.
    for (let run = 0; run < runs; run++) configurations.forEach(([mode, extra], index) => samples[index]!.push(child(mode, extra)));
    const rows = samples.map((results) => ({
      ...results[0]!,
      wallS: median(results.map((result) => result.wallS)),
      peakRssMiB: median(results.map((result) => result.peakRssMiB)),
      walls: results.map((result) => result.wallS),
    }));
    for (const row of rows) {
      console.log(
        `${row.label.padEnd(50)} RTFx ${(row.audioS / row.wallS).toFixed(2).padStart(6)}  wall ${row.wallS.toFixed(1).padStart(6)} s  chunks ${String(row.chunks).padStart(3)}  occupancy ${row.occupancy === null ? " n/a" : row.occupancy.toFixed(2)}  peak RSS ${row.peakRssMiB.toFixed(0)} MiB  (walls ${row.walls.map((wall) => wall.toFixed(1)).join(", ")} s)`,
      );
    }
    const [hf, batched, , batch8, batch1] = rows;
    console.log(`ours batched (PARALLEL=4, batch 8, 2 threads) / transformers.js RTFx ratio: ${((batched!.audioS / batched!.wallS) / (hf!.audioS / hf!.wallS)).toFixed(2)}`);
    console.log(`${Math.round(batch8!.audioS / 60)}-minute file speed-up, batch 8 vs batch 1 (chunk at a time), one engine × 2 threads: ${(batch1!.wallS / batch8!.wallS).toFixed(2)}x`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
