/**
 * Continuous-batching benchmark: throughput of the Whisper engine on many short files of
 * real speech, today's per-slot designs against one batching engine with several
 * transcriptions in flight, with the decoded tokens per chunk fixed so all do equal work.
 *
 *   npm run bench:batching -- [--model DIR] [--files 120] [--tokens 32] [--runs 3] [--parallel 4] [--batch 8]
 *
 * Configurations (each run in a fresh child process; runs interleaved A, B, C, A, B, C, ...):
 *   A  today's default: 2 slots × 1 thread — two engine threads (createThreadedEngineFactory
 *      twice: each thread its own sessions), intraOpThreads 1, batch 4, one file per slot
 *   B  today's best: 1 slot × 2 threads — one engine, intraOpThreads 2, batch 4, one file at a time
 *   C  batching engine — one engine, intraOpThreads 2, batch --batch, --parallel files in flight
 * B and C run the engine in-process so its scheduler's counters can be read. Every engine
 * transcribes one file before the clock starts (onnxruntime's first run is slow).
 *
 * Prints, per configuration, RTFx (audio s / wall s), p50/p95 latency of a file's
 * transcribe() call, mean batch occupancy (decoder rows per step), peak RSS and each run's
 * wall time (medians over --runs), then one line of JSON.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { withMallocSettings } from "../scripts/malloc-env.mjs";
import type { Engine } from "../src/server/asr/engine";
import { machineCpuMs } from "./lib/proc";
import { cutSpeechFiles, mulberry32, wavDurationS } from "./lib/speech-files";
import { median, percentile } from "./lib/stats";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ENGINE_MODULE = pathToFileURL(path.join(ROOT, "src/server/asr/whisper/whisper-engine.ts")).href;
const SEED = 0x5eed_2024;
const MIN_LENGTH_S = 3;
const MAX_LENGTH_S = 25;

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "/tmp/whisper-base-positions" },
    files: { type: "string", default: "120" },
    tokens: { type: "string", default: "32" },
    runs: { type: "string", default: "3" },
    parallel: { type: "string", default: "4" },
    /** "false": no word alignment pass, to measure what alignment costs. */
    words: { type: "string", default: "true" },
    batch: { type: "string", default: "8" },
    /** Internal: the configuration a child process runs (A, B or C). */
    child: { type: "string" },
    /** Internal: the folder of input files a child process transcribes. */
    inputs: { type: "string" },
  },
});

type Config = "A" | "B" | "C";

type ChildResult = {
  config: Config;
  audioS: number;
  wallS: number;
  /** Seconds from each transcribe() call's start to its end, in file order. */
  latenciesS: number[];
  /** Chunks decoded (the scheduler's count); null where the engine is in another thread. */
  chunks: number | null;
  /** Mean decoder rows per step (rowSteps / steps); null where the engine is in another thread. */
  occupancy: number | null;
  peakRssMiB: number;
  /** CPU seconds the child process used in all (user + system, every thread). */
  cpuS: number;
};

function labelOf(config: Config): string {
  if (config === "A") return "A today's default: 2 slots × 1 thread";
  if (config === "B") return "B today's best: 1 slot × 2 threads";
  return `C batching engine: PARALLEL=${values.parallel}, batch ${values.batch}, 2 threads`;
}

function engineOptions(intraOpThreads: number, batchSize: number) {
  const tokens = Number(values.tokens);
  return { modelDir: path.resolve(values.model!), intraOpThreads, batchSize, maxNewTokens: tokens, minNewTokens: tokens, stopOnLoops: false, temperatures: [0], wordTimestamps: values.words !== "false" };
}

/**
 * Transcribes `files` with `loops` loops per engine, each taking the next file from one
 * shared queue as soon as its previous one is done; returns each call's latency.
 */
async function drain(engines: { engine: Engine; loops: number }[], files: readonly string[]): Promise<{ wallS: number; latenciesS: number[] }> {
  const signal = new AbortController().signal;
  const latenciesS = new Array<number>(files.length).fill(0);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    engines.flatMap(({ engine, loops }) =>
      Array.from({ length: loops }, async () => {
        for (let index = next++; index < files.length; index = next++) {
          const from = performance.now();
          await engine.transcribe({ mediaPath: files[index]!, language: "en", signal });
          latenciesS[index] = (performance.now() - from) / 1000;
        }
      }),
    ),
  );
  return { wallS: (performance.now() - started) / 1000, latenciesS };
}

/** One transcription per engine before the clock starts: onnxruntime's first run of a session is slow. */
async function warmUp(engines: readonly Engine[], file: string): Promise<void> {
  const signal = new AbortController().signal;
  await Promise.all(engines.map((engine) => engine.transcribe({ mediaPath: file, language: "en", signal })));
}

async function runChild(config: Config, files: string[]): Promise<ChildResult> {
  const audioS = files.reduce((sum, file) => sum + wavDurationS(file), 0);
  const { WhisperEngine, DEFAULT_WHISPER_OPTIONS } = await import("../src/server/asr/whisper/whisper-engine");
  const finish = (result: Omit<ChildResult, "config" | "audioS" | "peakRssMiB" | "cpuS">): ChildResult => {
    const cpu = process.cpuUsage();
    return { config, audioS, ...result, peakRssMiB: process.resourceUsage().maxRSS / 1024, cpuS: (cpu.user + cpu.system) / 1e6 };
  };
  if (config === "A") {
    const { createThreadedEngineFactory } = await import("../src/server/asr/worker/threaded-engine");
    const options = { ...DEFAULT_WHISPER_OPTIONS, ...engineOptions(1, 4) };
    // Two factories: two worker threads, each with its own sessions (today's slot per thread).
    const slots = await Promise.all([0, 1].map(() => createThreadedEngineFactory({ module: ENGINE_MODULE, options })()));
    await warmUp(slots, files[0]!);
    const { wallS, latenciesS } = await drain(
      slots.map((engine) => ({ engine, loops: 1 })),
      files,
    );
    await Promise.all(slots.map((slot) => slot.close()));
    return finish({ wallS, latenciesS, chunks: null, occupancy: null });
  }
  const batchSize = config === "B" ? 4 : Number(values.batch);
  const loops = config === "B" ? 1 : Number(values.parallel);
  const engine = await WhisperEngine.create({ ...DEFAULT_WHISPER_OPTIONS, ...engineOptions(2, batchSize) });
  await warmUp([engine], files[0]!);
  const before = engine.schedulerStats();
  const { wallS, latenciesS } = await drain([{ engine, loops }], files);
  const after = engine.schedulerStats();
  await engine.close();
  const steps = after.steps - before.steps;
  return finish({ wallS, latenciesS, chunks: after.chunks - before.chunks, occupancy: steps ? (after.rowSteps - before.rowSteps) / steps : 0 });
}

function child(config: Config, dir: string): ChildResult {
  const args = ["--import", "tsx", fileURLToPath(import.meta.url), "--child", config, "--inputs", dir];
  for (const name of ["model", "tokens", "parallel", "batch", "words"] as const) args.push(`--${name}`, values[name]!);
  const result = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    // As `npm start` runs the server (scripts/start.mjs).
    env: withMallocSettings(process.env),
  });
  const line = result.stdout.trim().split("\n").pop() ?? "";
  if (result.status !== 0 || !line.startsWith("{")) throw new Error(`configuration ${config} failed (status ${result.status}):\n${result.stderr.slice(-3000)}`);
  return JSON.parse(line) as ChildResult;
}

const fixed = (value: number, digits = 2) => value.toFixed(digits);
const round2 = (value: number) => Math.round(value * 100) / 100;

async function main(): Promise<void> {
  if (values.child) {
    const dir = values.inputs!;
    const files = fs
      .readdirSync(dir)
      .filter((name) => /^speech-\d+\.wav$/.test(name))
      .sort()
      .map((name) => path.join(dir, name));
    process.stdout.write(`${JSON.stringify(await runChild(values.child as Config, files))}\n`);
    return;
  }
  const model = path.resolve(values.model!);
  if (!fs.existsSync(path.join(model, "onnx", "encoder_model.onnx"))) {
    console.error(
      `No model at ${model}. Generate it with:\n  /usr/bin/python3 tools/whisper-test-model/generate.py --size base --decoder-inputs positions --split-variants fp32 --no-reference --out ${model}`,
    );
    process.exit(1);
  }
  const count = Number(values.files);
  const runs = Number(values.runs);
  const random = mulberry32(SEED);
  const lengthsS = Array.from({ length: count }, () => Math.round((MIN_LENGTH_S + random() * (MAX_LENGTH_S - MIN_LENGTH_S)) * 100) / 100);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "batching-bench-"));
  try {
    cutSpeechFiles(dir, lengthsS);
    const totalS = lengthsS.reduce((sum, length) => sum + length, 0);
    const cpus = os.cpus();
    console.log(`machine: ${cpus[0]?.model ?? "?"}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`);
    console.log(
      `model: ${model}, ${count} files of LibriVox speech (${MIN_LENGTH_S}–${MAX_LENGTH_S} s uniform, seed ${SEED.toString(16)}, ${fixed(totalS, 1)} s in all), ${values.tokens} tokens decoded per chunk (min = max), fp32, CPU`,
    );
    console.log(`each figure: the median of ${runs} runs, every run in a fresh process, runs interleaved A, B, C`);
    const configs: Config[] = ["A", "B", "C"];
    const samples = new Map<Config, ChildResult[]>(configs.map((config) => [config, []]));
    const benchStarted = performance.now();
    const disturbance: string[] = [];
    for (let run = 0; run < runs; run++) {
      for (const config of configs) {
        const from = performance.now();
        const machineFrom = machineCpuMs();
        const result = child(config, dir);
        const elapsedS = (performance.now() - from) / 1000;
        // CPU the rest of the machine used meanwhile: a disturbed run shows here.
        const othersS = Math.max(0, (machineCpuMs() - machineFrom) / 1000 - result.cpuS);
        samples.get(config)!.push(result);
        disturbance.push(`${run + 1}${config} ${fixed(othersS / elapsedS)}`);
        // Progress on stderr: stdout's last line stays the JSON summary.
        console.error(
          `run ${run + 1}/${runs} ${config}: wall ${fixed(result.wallS, 1)} s, child process ${fixed(elapsedS, 1)} s, other processes ${fixed(othersS, 1)} CPU s (${fixed(othersS / elapsedS)} cores)`,
        );
      }
    }
    const rows = configs.map((config) => {
      const results = samples.get(config)!;
      const wallS = median(results.map((result) => result.wallS));
      const occupancies = results.map((result) => result.occupancy);
      return {
        config,
        rtfx: results[0]!.audioS / wallS,
        wallS,
        walls: results.map((result) => result.wallS),
        p50: median(results.map((result) => percentile(result.latenciesS, 50))),
        p95: median(results.map((result) => percentile(result.latenciesS, 95))),
        occupancy: occupancies.every((value) => value !== null) ? median(occupancies as number[]) : null,
        chunks: results[0]!.chunks,
        peakRssMiB: median(results.map((result) => result.peakRssMiB)),
      };
    });
    for (const row of rows) {
      console.log(labelOf(row.config));
      console.log(
        `  RTFx ${fixed(row.rtfx).padStart(6)}  latency p50 ${fixed(row.p50)} s  p95 ${fixed(row.p95)} s  occupancy ${row.occupancy === null ? "n/a" : fixed(row.occupancy)}  chunks ${row.chunks ?? "n/a"}  peak RSS ${fixed(row.peakRssMiB, 0)} MiB  (walls ${row.walls.map((wall) => fixed(wall, 1)).join(", ")} s)`,
      );
    }
    console.log(`other processes' load during each run (cores busy outside the bench, of ${cpus.length}): ${disturbance.join(", ")}`);
    console.log(`total bench time ${fixed((performance.now() - benchStarted) / 1000, 0)} s`);
    const [a, b, c] = rows as [(typeof rows)[number], (typeof rows)[number], (typeof rows)[number]];
    console.log(JSON.stringify({ baseline_rtfx: round2(a.rtfx), best_slot_rtfx: round2(b.rtfx), batched_rtfx: round2(c.rtfx), ratio: round2(c.rtfx / a.rtfx), peak_rss_mib: round2(c.peakRssMiB) }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
