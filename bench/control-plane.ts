/**
 * Control-plane overhead benchmark (printed figures, not a timed test).
 *
 * Pushes N one-second WAV jobs at a fixed client concurrency, each client loop polling
 * GET /v2/jobs/{id} until DONE, against real server processes with an engine that answers at
 * once (bench/instant-engine.ts). Beside it, the request rate of a trivial Node HTTP server
 * measured with the same client, as the machine's ceiling.
 *
 *   npx tsx bench/control-plane.ts [--jobs 1000] [--concurrency 32] [--runs 3]
 *     [--database sqlite|postgres] [--replicas N] [--api v2|queue] [--parallel N]
 *     [--poll-ms 5] [--baseline-requests 20000] [--cpu-prof]
 *
 * --api v2 submits through POST /v2/jobs (the worker API: a job starts at once on the replica
 * that accepted it, or 503); --api queue through POST /transcribe-batch-async (queued in the
 * database and claimed by whichever replica has room: the scheduler's claim path).
 * --replicas N starts N control planes on one PostgreSQL database and one DATA_DIR, the client
 * loops spread over them. Each server reports its statements, transactions and claim timings
 * when it stops; the database reports its commits and each job's wait in the queue.
 *
 * Client, server and baseline share the machine, so the figures are for the whole loop on
 * that machine; the per-job CPU figures say which side spent it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { ServerProcess } from "../tests/helpers/server-process";
import { openSqlClient } from "../src/server/db/sql/open-sql-client";
import { toDate } from "../src/server/db/sql/row-mappers";
import { sql } from "../src/server/db/sql/sql-client";
import { createClient, type Client, type RequestSpec } from "./lib/http-client";
import { queuedJobRequest, v2JobRequest } from "./lib/job-requests";
import { addCleanup, removeCleanup, runBench, runCleanups, track } from "./lib/lifecycle";
import { machineCpuMs, processCpuMs } from "./lib/proc";
import { databaseFor, ROOT, startInstantServer, type DatabaseKind } from "./lib/servers";
import { median, percentile } from "./lib/stats";

const RESULTS_DIR = path.join(ROOT, "bench/results");

// ---------------------------------------------------------------------------------------
// Options

type Options = {
  jobs: number;
  /** Control-plane processes sharing the database (PostgreSQL only beyond 1). */
  replicas: number;
  /** v2: POST /v2/jobs, started at once; queue: POST /transcribe-batch-async, claimed from the queue. */
  api: "v2" | "queue";
  concurrency: number;
  runs: number;
  database: DatabaseKind;
  /** Engine slots of the server. */
  parallel: number;
  /** ms between GET polls of one job. */
  pollMs: number;
  /** ms a client loop waits before retrying a POST answered 503. */
  retryMs: number;
  baselineRequests: number;
  /** Write a V8 CPU profile of each server run to bench/results/. */
  cpuProf: boolean;
};

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: "string" },
      concurrency: { type: "string" },
      runs: { type: "string" },
      database: { type: "string" },
      replicas: { type: "string" },
      api: { type: "string" },
      parallel: { type: "string" },
      "poll-ms": { type: "string" },
      "baseline-requests": { type: "string" },
      "cpu-prof": { type: "boolean" },
    },
    strict: true,
  });
  const database = values.database ?? "sqlite";
  if (database !== "sqlite" && database !== "postgres") throw new Error(`--database must be sqlite or postgres, got ${database}`);
  const concurrency = positiveInt("concurrency", values.concurrency, 32);
  const replicas = positiveInt("replicas", values.replicas, 1);
  if (replicas > 1 && database !== "postgres") throw new Error("--replicas above 1 needs --database postgres (replicas share a PostgreSQL database)");
  const api = values.api ?? "v2";
  if (api !== "v2" && api !== "queue") throw new Error(`--api must be v2 or queue, got ${api}`);
  return {
    jobs: positiveInt("jobs", values.jobs, 1000),
    replicas,
    api,
    concurrency,
    runs: positiveInt("runs", values.runs, 3),
    database,
    // Twice the client concurrency: a job's slot is released just after its DONE is written,
    // so a client that saw DONE and submits at once could otherwise find its old slot still
    // held and get a 503. Slots of the instant engine cost nothing, and with more slots than
    // clients the engines can never be the bottleneck, which is the point here.
    parallel: Math.min(256, positiveInt("parallel", values.parallel, concurrency * 2)),
    pollMs: positiveInt("poll-ms", values["poll-ms"], 5),
    retryMs: 2,
    baselineRequests: positiveInt("baseline-requests", values["baseline-requests"], 20_000),
    cpuProf: values["cpu-prof"] ?? false,
  };
}

// ---------------------------------------------------------------------------------------
// Media: distinct one-second 16 kHz mono s16 WAVs, so content addressing stores each once.

const SAMPLE_RATE_HZ = 16_000;

function wavHeader(dataBytes: number): Buffer {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(SAMPLE_RATE_HZ, 24);
  header.writeUInt32LE(SAMPLE_RATE_HZ * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write("data", 36, "ascii");
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

/** A one-second sine whose frequency differs per index (0.5 Hz steps), hence distinct bytes. */
function sineWav(index: number): Buffer {
  const frequencyHz = 200 + index * 0.5;
  const samples = Buffer.alloc(SAMPLE_RATE_HZ * 2);
  for (let n = 0; n < SAMPLE_RATE_HZ; n++) {
    samples.writeInt16LE(Math.round(10_000 * Math.sin((2 * Math.PI * frequencyHz * n) / SAMPLE_RATE_HZ)), n * 2);
  }
  return Buffer.concat([wavHeader(samples.length), samples]);
}

async function writeWavFiles(dir: string, count: number): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `tone-${String(i).padStart(5, "0")}.wav`);
    await writeFile(file, sineWav(i));
    files.push(file);
  }
  return files;
}

// ---------------------------------------------------------------------------------------
// CPU

function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

// ---------------------------------------------------------------------------------------
// The measured loop

type LoadSamples = {
  submitToDoneMs: number[];
  postMs: number[];
  getMs: number[];
  retries503: number;
  failed: number;
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** POSTs one job, retrying 503 (all engines busy) after a short wait; returns its id. */
async function submitJob(client: Client, spec: RequestSpec, retryMs: number, samples: LoadSamples): Promise<string> {
  for (;;) {
    const res = await client.request(spec);
    if (res.status === 201) {
      samples.postMs.push(res.ms);
      const body = JSON.parse(res.body) as { job_id?: string; job_name?: string };
      return body.job_id ?? body.job_name!.replace(/^transcribe-/, "");
    }
    if (res.status !== 503) throw new Error(`POST ${spec.path} answered ${res.status}: ${res.body}`);
    samples.retries503 += 1;
    await sleep(retryMs);
  }
}

/** Polls until the job leaves QUEUED and RUNNING; returns whether it finished DONE. */
async function awaitJob(client: Client, jobId: string, pollMs: number, samples: LoadSamples): Promise<boolean> {
  for (;;) {
    await sleep(pollMs);
    const res = await client.request({ method: "GET", path: `/v2/jobs/${jobId}` });
    samples.getMs.push(res.ms);
    if (res.status !== 200) throw new Error(`GET /v2/jobs/${jobId} answered ${res.status}: ${res.body}`);
    const status = (JSON.parse(res.body) as { job: { status: string } }).job.status.toUpperCase();
    if (status !== "RUNNING" && status !== "QUEUED") return status === "DONE";
  }
}

/** `concurrency` loops, each taking the next file, submitting it and waiting for DONE; loop i talks to replica i mod N. */
async function driveJobs(clients: readonly Client[], files: readonly string[], options: Options): Promise<LoadSamples> {
  const samples: LoadSamples = { submitToDoneMs: [], postMs: [], getMs: [], retries503: 0, failed: 0 };
  let next = 0;
  const loop = async (loopIndex: number) => {
    const client = clients[loopIndex % clients.length]!;
    for (let index = next++; index < files.length; index = next++) {
      const file = files[index]!;
      const started = performance.now();
      const body = await readFile(file);
      const spec = options.api === "v2" ? v2JobRequest(path.basename(file), body) : queuedJobRequest(path.basename(file), body);
      const jobId = await submitJob(client, spec, options.retryMs, samples);
      if (await awaitJob(client, jobId, options.pollMs, samples)) samples.submitToDoneMs.push(performance.now() - started);
      else samples.failed += 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
  return samples;
}

// ---------------------------------------------------------------------------------------
// One run: a fresh database and server, the load, the figures.

const METRIC_LABELS = {
  jobsDone: "jobs DONE",
  jobsFailed: "jobs not DONE",
  wallS: "wall s",
  jobsPerS: "jobs/s end to end",
  doneP50Ms: "submit→DONE p50 ms",
  doneP90Ms: "submit→DONE p90 ms",
  doneP99Ms: "submit→DONE p99 ms",
  postP50Ms: "POST (submit) p50 ms",
  postP99Ms: "POST (submit) p99 ms",
  getP50Ms: "GET /v2/jobs/{id} p50 ms",
  getP99Ms: "GET /v2/jobs/{id} p99 ms",
  getsPerJob: "GETs per job",
  retries503: "503 retries",
  serverCpuMsPerJob: "server CPU ms/job",
  statementsPerJob: "job-system statements/job",
  transactionsPerJob: "job-system transactions/job",
  databaseCommitsPerJob: "database commits/job (PostgreSQL)",
  claims: "claim statements",
  claimP50Ms: "claim statement p50 ms",
  claimP99Ms: "claim statement p99 ms",
  queueWaitP50Ms: "queue wait p50 ms",
  queueWaitP99Ms: "queue wait p99 ms",
  clientCpuMsPerJob: "client CPU ms/job",
  // Cores other processes kept busy during the run: on a shared machine the figures above
  // only mean something next to this.
  otherCores: "other processes' load, cores",
} as const;

type MetricKey = keyof typeof METRIC_LABELS;
type RunMetrics = Record<MetricKey, number>;

/**
 * Node refuses --cpu-prof in NODE_OPTIONS (and startServerProcess owns the command line), so
 * the server is profiled by a preloaded module that drives the inspector's profiler and
 * writes the profile on exit. It must be plain JS: it becomes a data: URL for --import.
 */
const PROFILER_HOOK = `
import { Session } from "node:inspector";
import { mkdirSync, writeFileSync } from "node:fs";
const dir = process.env.BENCH_CPU_PROF_DIR;
const session = new Session();
session.connect();
session.post("Profiler.enable");
session.post("Profiler.start");
process.once("exit", () => {
  // A same-thread inspector session answers synchronously, as an exit handler needs.
  session.post("Profiler.stop", (error, result) => {
    if (error) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(dir + "/server-" + process.pid + ".cpuprofile", JSON.stringify(result.profile));
  });
});
`;

function profilerEnv(profileDir: string): Record<string, string> {
  const hook = `--import=data:text/javascript,${encodeURIComponent(PROFILER_HOOK)}`;
  return { BENCH_CPU_PROF_DIR: profileDir, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${hook}`.trim() };
}

/** What a server reports when it stops (the "job system statistics" log line). */
type ServerStats = { statements: number; transactions: number; claim: { claims: number; claimedJobs: number; p50Ms: number; p99Ms: number; maxMs: number } };

type BenchServers = {
  servers: ServerProcess[];
  databaseUrl: string;
  /** Stops every server (SIGTERM) and returns what each reported; the data go with them. */
  stop(): Promise<ServerStats[]>;
};

/** The servers on a fresh DATA_DIR (and, for postgres, a fresh database); stop() removes both. */
async function startBenchServers(options: Options, runIndex: number): Promise<BenchServers> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-control-plane-data-"));
  const database = await databaseFor(options.database);
  const discard = async () => {
    await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
  };
  addCleanup(discard);
  const profileDir = path.join(RESULTS_DIR, `cpu-prof-run${runIndex + 1}`);
  const servers: ServerProcess[] = [];
  for (let i = 0; i < options.replicas; i++) {
    const server = await startInstantServer({
      dataDir,
      ...(database ? { databaseUrl: database.url } : {}),
      parallel: options.parallel,
      ...(options.cpuProf ? { env: profilerEnv(profileDir) } : {}),
    });
    servers.push(server);
  }
  return {
    servers,
    databaseUrl: database?.url ?? `file:${path.join(dataDir, "transcribe.db")}`,
    stop: async () => {
      // SIGTERM drains (nothing runs by now) and exits normally, so the profiler hook can write.
      await Promise.all(servers.map((server) => server.kill("SIGTERM")));
      const stats = servers.map((server) => {
        const line = server.output().split("\n").find((text) => text.includes('"msg":"job system statistics"'));
        if (!line) throw new Error(`a server stopped without its statistics:\n${server.output().slice(-2000)}`);
        return JSON.parse(line) as ServerStats;
      });
      removeCleanup(discard);
      await discard();
      return stats;
    },
  };
}

/** Each job's wait from runnable to claimed (ms), and the database's commit counter (PostgreSQL). */
async function queueWaitsMs(databaseUrl: string): Promise<number[]> {
  const db = openSqlClient(databaseUrl);
  try {
    const rows = await db.all(sql(`SELECT "runAt", "startedAt" FROM "Job" WHERE "startedAt" IS NOT NULL`));
    return rows.map((row) => toDate(row.startedAt).getTime() - toDate(row.runAt).getTime());
  } finally {
    await db.close();
  }
}

async function databaseCommits(databaseUrl: string): Promise<number> {
  if (!databaseUrl.startsWith("postgres")) return Number.NaN;
  const db = openSqlClient(databaseUrl);
  try {
    // The statistics collector reports with a delay; a fresh snapshot is as current as it gets.
    await db.all(sql("SELECT pg_stat_clear_snapshot()"));
    const rows = await db.all(sql(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`));
    return Number(rows[0]?.xact_commit ?? Number.NaN);
  } finally {
    await db.close();
  }
}

/** CPU ms used during a run: by the server, by this process, by the whole machine. */
type CpuUse = { serverMs: number; clientMs: number; machineMs: number };

function cpuSnapshot(serverPids: readonly (number | undefined)[]): CpuUse {
  return { serverMs: serverPids.reduce<number>((total, pid) => total + processCpuMs(pid), 0), clientMs: ownCpuMs(), machineMs: machineCpuMs() };
}

function cpuSince(before: CpuUse, serverPids: readonly (number | undefined)[]): CpuUse {
  const now = cpuSnapshot(serverPids);
  return { serverMs: now.serverMs - before.serverMs, clientMs: now.clientMs - before.clientMs, machineMs: now.machineMs - before.machineMs };
}

type DatabaseFigures = { stats: ServerStats[]; commits: number; queueWaitsMs: number[] };

function toMetrics(samples: LoadSamples, wallS: number, cpu: CpuUse, jobs: number, db: DatabaseFigures): RunMetrics {
  const done = samples.submitToDoneMs.length;
  const sum = (pick: (stats: ServerStats) => number) => db.stats.reduce((total, stats) => total + pick(stats), 0);
  return {
    jobsDone: done,
    jobsFailed: samples.failed,
    wallS,
    jobsPerS: done / wallS,
    doneP50Ms: percentile(samples.submitToDoneMs, 50),
    doneP90Ms: percentile(samples.submitToDoneMs, 90),
    doneP99Ms: percentile(samples.submitToDoneMs, 99),
    postP50Ms: percentile(samples.postMs, 50),
    postP99Ms: percentile(samples.postMs, 99),
    getP50Ms: percentile(samples.getMs, 50),
    getP99Ms: percentile(samples.getMs, 99),
    getsPerJob: samples.getMs.length / jobs,
    retries503: samples.retries503,
    serverCpuMsPerJob: cpu.serverMs / jobs,
    statementsPerJob: sum((stats) => stats.statements) / jobs,
    transactionsPerJob: sum((stats) => stats.transactions) / jobs,
    databaseCommitsPerJob: db.commits / jobs,
    claims: sum((stats) => stats.claim.claims),
    // Per replica; the worst replica's figure.
    claimP50Ms: Math.max(...db.stats.map((stats) => stats.claim.p50Ms)),
    claimP99Ms: Math.max(...db.stats.map((stats) => stats.claim.p99Ms)),
    queueWaitP50Ms: percentile(db.queueWaitsMs, 50),
    queueWaitP99Ms: percentile(db.queueWaitsMs, 99),
    clientCpuMsPerJob: cpu.clientMs / jobs,
    otherCores: Math.max(0, cpu.machineMs - cpu.serverMs - cpu.clientMs) / 1000 / wallS,
  };
}

async function measureRun(options: Options, files: readonly string[], runIndex: number): Promise<RunMetrics> {
  const bench = await startBenchServers(options, runIndex);
  const clients = bench.servers.map((server) => createClient(server.baseUrl, { maxSockets: Math.ceil(options.concurrency / bench.servers.length) }));
  let stopped = false;
  try {
    const pids = bench.servers.map((server) => server.child.pid);
    const commitsBefore = await databaseCommits(bench.databaseUrl);
    const cpuBefore = cpuSnapshot(pids);
    const started = performance.now();
    const samples = await driveJobs(clients, files, options);
    const wallS = (performance.now() - started) / 1000;
    const cpu = cpuSince(cpuBefore, pids);
    const commits = (await databaseCommits(bench.databaseUrl)) - commitsBefore;
    const waits = await queueWaitsMs(bench.databaseUrl);
    stopped = true;
    const stats = await bench.stop();
    return toMetrics(samples, wallS, cpu, files.length, { stats, commits, queueWaitsMs: waits });
  } finally {
    for (const client of clients) client.close();
    if (!stopped) await bench.stop().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------
// Baseline: a trivial Node HTTP server in a child process, the same client.

type Baseline = { requests: number; wallS: number; requestsPerS: number; p50Ms: number; p99Ms: number; otherCores: number };

const TRIVIAL_SERVER = `
const server = require("node:http").createServer((req, res) => res.end("ok"));
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

function startTrivialServer(): Promise<{ baseUrl: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["-e", TRIVIAL_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  track(child);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`trivial server exited with ${code}`)));
    child.stdout!.once("data", (chunk: Buffer) => resolve({ baseUrl: `http://127.0.0.1:${chunk.toString().trim()}`, child }));
  });
}

async function measureBaseline(options: Options): Promise<Baseline> {
  const { baseUrl, child } = await startTrivialServer();
  const client = createClient(baseUrl, { maxSockets: options.concurrency });
  const latencies: number[] = [];
  let remaining = options.baselineRequests;
  const loop = async () => {
    while (remaining-- > 0) latencies.push((await client.request({ method: "GET", path: "/" })).ms);
  };
  try {
    const cpuBefore = cpuSnapshot([child.pid]);
    const started = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, loop));
    const wallS = (performance.now() - started) / 1000;
    const cpu = cpuSince(cpuBefore, [child.pid]);
    return {
      requests: latencies.length,
      wallS,
      requestsPerS: latencies.length / wallS,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      otherCores: Math.max(0, cpu.machineMs - cpu.serverMs - cpu.clientMs) / 1000 / wallS,
    };
  } finally {
    client.close();
    child.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------------------------------
// Report

function machine(): Record<string, string | number> {
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

function format(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 1);
}

function medians(runs: readonly RunMetrics[]): RunMetrics {
  const keys = Object.keys(METRIC_LABELS) as MetricKey[];
  return Object.fromEntries(keys.map((key) => [key, median(runs.map((run) => run[key]))])) as RunMetrics;
}

function printTable(runs: readonly RunMetrics[], summary: RunMetrics): void {
  const keys = Object.keys(METRIC_LABELS) as MetricKey[];
  const header = ["metric", ...runs.map((_, i) => `run ${i + 1}`), "median"];
  const rows = keys.map((key) => [METRIC_LABELS[key], ...runs.map((run) => format(run[key])), format(summary[key])]);
  const widths = header.map((_, col) => Math.max(...[header, ...rows].map((row) => (row[col] ?? "").length)));
  for (const row of [header, ...rows]) {
    console.log(row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join("  "));
  }
}

async function writeSummary(summary: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `control-plane-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
  return file;
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  console.log("machine:", machine());
  console.log(
    `options: ${options.jobs} jobs, concurrency ${options.concurrency}, ${options.runs} runs, ${options.database}, ${options.replicas} replica(s), api ${options.api}, PARALLEL=${options.parallel}, poll ${options.pollMs} ms`,
  );

  const mediaDir = await mkdtemp(path.join(os.tmpdir(), "bench-control-plane-media-"));
  addCleanup(() => rm(mediaDir, { recursive: true, force: true }));
  const files = await writeWavFiles(mediaDir, options.jobs);

  const runs: RunMetrics[] = [];
  for (let i = 0; i < options.runs; i++) {
    const run = await measureRun(options, files, i);
    console.log(`run ${i + 1}: ${format(run.jobsPerS)} jobs/s, submit→DONE p99 ${format(run.doneP99Ms)} ms, GET p99 ${format(run.getP99Ms)} ms, ${run.retries503} 503 retries`);
    runs.push(run);
  }
  const baseline = await measureBaseline(options);
  await runCleanups();

  const summary = medians(runs);
  console.log("");
  printTable(runs, summary);
  console.log(
    `\nbaseline (trivial node:http server, same client, concurrency ${options.concurrency}): ${format(baseline.requestsPerS)} req/s over ${baseline.requests} requests, p50 ${format(baseline.p50Ms)} ms, p99 ${format(baseline.p99Ms)} ms, other processes' load ${format(baseline.otherCores)} cores`,
  );
  const file = await writeSummary({ at: new Date().toISOString(), machine: machine(), options, runs, medians: summary, baseline });
  console.log(`summary: ${path.relative(ROOT, file)}`);
}

runBench("control-plane bench", main);
