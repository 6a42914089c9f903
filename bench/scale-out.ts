/**
 * Scale-out benchmark: batch throughput through SQS with 1, 4, 16 and 64 concurrent worker
 * loops, on fauxqs (SQS + S3) on loopback, with an engine that sleeps for the audio's
 * duration / 50 (bench/sleepy-engine.ts: an I/O-bound stand-in for a GPU).
 *
 *   npx tsx bench/scale-out.ts [--loops 1,4,16,64] [--files-per-loop 4] [--runs 3] [--audio-s 60]
 *
 * The control plane (SQLite, TRANSPORT=sqs, BLOB_STORE=s3) and the worker loops run in this
 * process, each loop with its own engine slot. Prints files/s, efficiency against linear
 * scaling from one loop, and dispatch latency (child job created → task received by a
 * worker), p50 and p99; every figure is the median over the runs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { createApp } from "../src/server/app";
import { createAwsClients } from "../src/server/aws/aws-env";
import { EnginePool } from "../src/worker/engine-pool";
import { loadConfig } from "../src/server/env";
import { createLogger } from "../src/server/logger";
import { createS3BlobStore } from "../src/server/storage/s3-blob-store";
import { startTaskLoops } from "../src/worker/sqs-task-loop";
import { startScaleOutInfra } from "../tests/helpers/fauxqs";
import { toneWav } from "../tests/helpers/wav";
import { createEngineFactory } from "./sleepy-engine";

const { values } = parseArgs({
  options: {
    loops: { type: "string", default: "1,4,16,64" },
    "files-per-loop": { type: "string", default: "4" },
    runs: { type: "string", default: "3" },
    "audio-s": { type: "string", default: "60" },
  },
});

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const median = (values: readonly number[]) => percentile(values, 50);

/** Dispatch latency over all children includes time queued behind busy loops; the first wave (one task per loop) is the pure hand-off. */
type RunResult = { filesPerS: number; dispatchP50Ms: number; dispatchP99Ms: number; firstWaveP50Ms: number; firstWaveP99Ms: number };

async function runOnce(loops: number, files: number, audioS: number): Promise<RunResult> {
  const infra = await startScaleOutInfra({ maxReceiveCount: 3, visibilityTimeoutS: 60 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scale-out-bench-"));
  Object.assign(process.env, infra.awsEnv);
  const config = loadConfig(
    {
      ...infra.controlPlaneEnv,
      DATA_DIR: path.join(dir, "control-plane"),
      SERVE_UI: "false",
      LOG_LEVEL: "error",
    },
    [],
  );
  const logger = createLogger("error");
  const app = await createApp(config, { logger });
  const { sqs, s3 } = createAwsClients(config.aws);
  const workerBlobs = createS3BlobStore({ client: s3, bucket: infra.bucket, prefix: "", workDir: path.join(dir, "worker") });
  const pool = new EnginePool(loops, createEngineFactory());
  await pool.warmUp();
  const received = new Map<string, number>();
  const worker = startTaskLoops({
    sqs,
    blobs: workerBlobs,
    pool,
    logger,
    tasksQueueUrl: infra.tasksQueueUrl,
    resultsQueueUrl: infra.resultsQueueUrl,
    loops,
    visibilityTimeoutS: 60,
    workDir: path.join(dir, "worker-work"),
    onReceived: (task) => received.set(task.jobId, Date.now()),
  });
  try {
    // One upload; content addressing makes every child of the batch point at it.
    const media = await app.media.ingest(Readable.from([toneWav({ durationS: audioS, amplitude: 1000 })]), { originalName: "bench.wav", contentType: "audio/wav" });
    const started = performance.now();
    const batch = await app.jobs.createBatch({ type: "batch_transcribe", mediaFileIds: Array.from({ length: files }, () => media.id), language: "en", enginesRequested: 1, origin: "bench" });
    const settled = await app.jobs.waitForSettled(batch.id, 30 * 60_000);
    const wallS = (performance.now() - started) / 1000;
    if (settled.status !== "DONE") throw new Error(`the batch ended ${settled.status}`);
    const children = await app.database.prisma.job.findMany({ where: { parentId: batch.id }, select: { id: true, createdAt: true }, orderBy: { createdAt: "asc" } });
    const latencies = children.map((child) => received.get(child.id)! - child.createdAt.getTime());
    const firstWave = latencies.slice(0, loops);
    return {
      filesPerS: files / wallS,
      dispatchP50Ms: percentile(latencies, 50),
      dispatchP99Ms: percentile(latencies, 99),
      firstWaveP50Ms: percentile(firstWave, 50),
      firstWaveP99Ms: percentile(firstWave, 99),
    };
  } finally {
    await worker.stop(0);
    await app.close({ force: true });
    await pool.close();
    await infra.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const loopCounts = values.loops!.split(",").map(Number);
  const runs = Number(values.runs);
  const audioS = Number(values["audio-s"]);
  const perLoop = Number(values["files-per-loop"]);
  const speedup = Number(process.env.SLEEPY_SPEEDUP ?? 50);
  console.log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`);
  console.log(`fauxqs 1.9.2 on loopback; engine sleeps audio / ${speedup} = ${((audioS * 1000) / speedup).toFixed(0)} ms per ${audioS} s file; ${perLoop} files per loop; median of ${runs} runs`);
  const rows: { loops: number; result: RunResult }[] = [];
  for (const loops of loopCounts) {
    const results: RunResult[] = [];
    for (let run = 0; run < runs; run++) results.push(await runOnce(loops, loops * perLoop, audioS));
    rows.push({
      loops,
      result: {
        filesPerS: median(results.map((r) => r.filesPerS)),
        dispatchP50Ms: median(results.map((r) => r.dispatchP50Ms)),
        dispatchP99Ms: median(results.map((r) => r.dispatchP99Ms)),
        firstWaveP50Ms: median(results.map((r) => r.firstWaveP50Ms)),
        firstWaveP99Ms: median(results.map((r) => r.firstWaveP99Ms)),
      },
    });
  }
  const base = rows.find((row) => row.loops === 1)?.result.filesPerS;
  console.log("loops  files/s  efficiency  dispatch p50 / p99 (all children)  first wave p50 / p99");
  for (const { loops, result } of rows) {
    const efficiency = base ? result.filesPerS / (base * loops) : Number.NaN;
    console.log(
      `${String(loops).padStart(5)}  ${result.filesPerS.toFixed(2).padStart(7)}  ${(efficiency * 100).toFixed(1).padStart(9)}%  ${`${result.dispatchP50Ms.toFixed(0)} / ${result.dispatchP99Ms.toFixed(0)} ms`.padStart(33)}  ${`${result.firstWaveP50Ms.toFixed(0)} / ${result.firstWaveP99Ms.toFixed(0)} ms`.padStart(20)}`,
    );
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
