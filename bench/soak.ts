/**
 * Soak benchmark (printed figures, not a timed test): does one server process stay flat
 * under sustained mixed traffic, and does it lose jobs?
 *
 *   npm run bench:soak -- [--minutes 10] [--database sqlite|postgres|both] [--rate 20]
 *     [--max-in-flight 64] [--timeout-ms 30000] [--sample-s 10] [--drain-timeout-s 120]
 *     [--burst-jobs 1000] [--burst-concurrency 32] [--seed 1]
 *
 * Phase 1, per database (one after the other, each on a fresh DATA_DIR and, for PostgreSQL,
 * a fresh database dropped afterwards): `--minutes` of open-loop traffic at `--rate`
 * requests/s against one server with the instant engine (bench/instant-engine.ts). Requests
 * start on a fixed timetable whether or not earlier ones have answered (a slow server gets
 * more concurrent requests, as it would from real clients), up to `--max-in-flight`; a
 * request due while that many are in flight is shed and counted. The mix:
 *
 *   good WAV uploads (POST /v2/jobs, some POST /api/uploads), corrupt uploads (random bytes
 *   named .wav, 400 expected), aborted uploads (half a body, then the socket is destroyed),
 *   listings (GET /v2/jobs), transcripts of DONE jobs (txt, srt, json) and deletes of
 *   accepted jobs (DELETE /v2/jobs/{id}?force=true).
 *
 * Every `--sample-s` the server's RSS, open descriptors (by kind) and blob temp files are
 * sampled; a verdict compares the last third of the run with the first third after warm-up,
 * and checks that nothing stays open once the traffic stopped. Then the jobs accepted are
 * accounted for after the queue drained (DONE + FAILED + cancelled/deleted = accepted).
 *
 * Phase 2, same server: a burst of `--burst-jobs` submissions through the queueing API
 * (POST /transcribe-batch-async), `--burst-concurrency` at a time: all accepted, all final,
 * jobs/s from the first submission to the last completion.
 *
 * Client, server and database share the machine; the client's own lag is printed so that a
 * saturated client is not mistaken for a slow server.
 */
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { z } from "zod";
import { providerFromUrl, sqlitePathFromUrl } from "../src/server/db/database-url";
import { toDate } from "../src/server/db/sql/row-mappers";
import type { ServerProcess } from "../tests/helpers/server-process";
import { toneWav } from "../tests/helpers/wav";
import { createClient, RequestTimeoutError, type Client, type HttpResponse, type RequestSpec } from "./lib/http-client";
import { mediaUploadRequest, queuedJobRequest, v2JobRequest } from "./lib/job-requests";
import { addCleanup, removeCleanup, runBench } from "./lib/lifecycle";
import { fdCounts, machineCpuMs, processCpuMs, rssBytes, type FdCounts } from "./lib/proc";
import { databaseFor, startInstantServer, type DatabaseKind } from "./lib/servers";
import { mean, percentile } from "./lib/stats";
import { mulberry32 as seededRandom } from "../src/shared/seeded-random";

// ---------------------------------------------------------------------------------------
// Options

const USAGE = `usage: npm run bench:soak -- [options]
  --minutes N            traffic per database (default 10; fractions allowed)
  --database KIND        sqlite, postgres or both, one after the other (default both)
  --rate R               requests started per second, open loop (default 20)
  --max-in-flight N      requests in flight at most; one due beyond that is shed (default 64)
  --timeout-ms N         a request without a complete answer by then is a timeout (default 30000)
  --sample-s N           seconds between samples of the server's RSS and descriptors (default 10)
  --drain-timeout-s N    how long to wait for the job queue to empty after the traffic (default 120)
  --burst-jobs N         jobs of the queueing-API burst after the traffic; 0 skips it (default 1000)
  --burst-concurrency N  burst submissions in flight at once (default 32)
  --seed N               seed of the request mix (default 1)`;

const optionsSchema = z.object({
  minutes: z.coerce.number().positive().default(10),
  database: z.enum(["sqlite", "postgres", "both"]).default("both"),
  rate: z.coerce.number().positive().max(10_000).default(20),
  maxInFlight: z.coerce.number().int().positive().max(10_000).default(64),
  timeoutMs: z.coerce.number().int().positive().default(30_000),
  sampleS: z.coerce.number().positive().default(10),
  drainTimeoutS: z.coerce.number().positive().default(120),
  burstJobs: z.coerce.number().int().min(0).default(1000),
  burstConcurrency: z.coerce.number().int().positive().max(1000).default(32),
  seed: z.coerce.number().int().default(1),
});

type Options = z.infer<typeof optionsSchema>;

/** Flag spellings (kebab-case) of the schema's keys, for parseArgs and for error messages. */
const FLAGS = {
  minutes: "minutes",
  database: "database",
  rate: "rate",
  maxInFlight: "max-in-flight",
  timeoutMs: "timeout-ms",
  sampleS: "sample-s",
  drainTimeoutS: "drain-timeout-s",
  burstJobs: "burst-jobs",
  burstConcurrency: "burst-concurrency",
  seed: "seed",
} as const satisfies Record<keyof Options, string>;

/** The options, or null when --help was asked for; throws with the usage on a bad flag. */
function parseOptions(argv: string[]): Options | null {
  const flagOptions = Object.fromEntries(Object.values(FLAGS).map((flag) => [flag, { type: "string" as const }]));
  const { values } = parseArgs({ args: argv, options: { ...flagOptions, help: { type: "boolean" } }, strict: true });
  if (values.help) return null;
  // The flags are built from FLAGS, so parseArgs cannot type them by name; every one is a string option.
  const given: Record<string, string | boolean | undefined> = values;
  const raw = Object.fromEntries(Object.entries(FLAGS).map(([key, flag]) => [key, given[flag]]));
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `--${FLAGS[issue.path[0] as keyof Options] ?? String(issue.path[0])}: ${issue.message}`);
    throw new Error(`${problems.join("\n")}\n${USAGE}`);
  }
  return parsed.data;
}

/** Engine slots: twice the in-flight cap, so POST /v2/jobs (no queue: 503 when all are busy) never finds them full unless slots leak. */
function enginesFor(options: Options): number {
  return Math.min(256, options.maxInFlight * 2);
}

// ---------------------------------------------------------------------------------------
// Request mix and media

type OpKind = "upload" | "media-upload" | "corrupt" | "aborted" | "list" | "transcript" | "cancel";

/** Share of each kind (percent of requests). Deletes take one accepted job in six, as uploads outnumber them 6:1. */
const MIX: readonly { kind: OpKind; weight: number }[] = [
  { kind: "upload", weight: 30 },
  { kind: "media-upload", weight: 5 },
  { kind: "corrupt", weight: 10 },
  { kind: "aborted", weight: 5 },
  { kind: "list", weight: 15 },
  { kind: "transcript", weight: 30 },
  { kind: "cancel", weight: 5 },
];

/** The upload routes corrupt and aborted uploads rotate over: each streams into the blob store. */
const UPLOAD_ROUTES = ["/v2/jobs", "/api/uploads", "/transcribe-batch-async"] as const;
type UploadRoute = (typeof UPLOAD_ROUTES)[number];

const TRANSCRIPT_FORMATS = ["txt", "srt", "json"] as const;


function pickKind(random: () => number): OpKind {
  const total = MIX.reduce((sum, entry) => sum + entry.weight, 0);
  let roll = random() * total;
  for (const entry of MIX) {
    roll -= entry.weight;
    if (roll < 0) return entry.kind;
  }
  return MIX[MIX.length - 1]!.kind;
}

/**
 * Distinct one-second WAVs at the cost of a copy: one tone whose LIST/INFO comment carries
 * the upload's number, so content addressing stores every upload as a blob of its own.
 */
function wavFactory(): (index: number) => Buffer {
  const marker = `soak-upload-${"0".repeat(10)}`;
  const template = toneWav({ durationS: 1, frequencyHz: 440, comment: marker });
  const at = template.indexOf(marker);
  return (index) => {
    const wav = Buffer.from(template);
    wav.write(`soak-upload-${String(index).padStart(10, "0")}`, at, "ascii");
    return wav;
  };
}

function requestFor(route: UploadRoute, fileName: string, media: Buffer): RequestSpec {
  if (route === "/v2/jobs") return v2JobRequest(fileName, media);
  if (route === "/api/uploads") return mediaUploadRequest(fileName, media);
  return queuedJobRequest(fileName, media);
}

// ---------------------------------------------------------------------------------------
// Outcomes per route

type Outcome =
  | { kind: "ok" }
  | { kind: "expected"; status: number }
  | { kind: "unexpected"; status: number; body: string }
  /** 2xx whose body is not what the route promises. */
  | { kind: "bad-body"; status: number; detail: string }
  | { kind: "network"; code: string }
  | { kind: "timeout" }
  /** An aborted upload that went as planned: the client hung up before any answer. */
  | { kind: "aborted" };

type RouteStats = {
  latenciesMs: number[];
  ok: number;
  aborted: number;
  expected: Map<number, number>;
  unexpected: Map<number, number>;
  badBody: number;
  network: Map<string, number>;
  timeouts: number;
};

const MAX_EXAMPLES = 8;

class RouteBook {
  readonly routes = new Map<string, RouteStats>();
  /** The first few unexpected answers, verbatim (shortened), to say what went wrong. */
  readonly examples: string[] = [];

  record(route: string, outcome: Outcome, ms: number): void {
    const stats = this.statsOf(route);
    // Latency of answered requests only: a network error or an abort has no answer to time.
    if (outcome.kind !== "network" && outcome.kind !== "timeout" && outcome.kind !== "aborted") stats.latenciesMs.push(ms);
    switch (outcome.kind) {
      case "ok":
        stats.ok += 1;
        break;
      case "aborted":
        stats.aborted += 1;
        break;
      case "expected":
        increment(stats.expected, outcome.status);
        break;
      case "unexpected":
        increment(stats.unexpected, outcome.status);
        this.example(`${route} → ${outcome.status}: ${outcome.body.slice(0, 200)}`);
        break;
      case "bad-body":
        stats.badBody += 1;
        this.example(`${route} → ${outcome.status} with a bad body: ${outcome.detail}`);
        break;
      case "network":
        increment(stats.network, outcome.code);
        this.example(`${route} → network error ${outcome.code}`);
        break;
      case "timeout":
        stats.timeouts += 1;
        break;
    }
  }

  completed(): number {
    let total = 0;
    for (const stats of this.routes.values()) total += requestsOf(stats);
    return total;
  }

  private statsOf(route: string): RouteStats {
    let stats = this.routes.get(route);
    if (!stats) {
      stats = { latenciesMs: [], ok: 0, aborted: 0, expected: new Map(), unexpected: new Map(), badBody: 0, network: new Map(), timeouts: 0 };
      this.routes.set(route, stats);
    }
    return stats;
  }

  private example(text: string): void {
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(text);
  }
}

/** Requests of a route that have finished, however they ended. */
function requestsOf(stats: RouteStats): number {
  return stats.ok + stats.aborted + stats.badBody + stats.timeouts + sumOf(stats.expected) + sumOf(stats.unexpected) + sumOf(stats.network);
}

function increment<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function sumOf(map: ReadonlyMap<unknown, number>): number {
  let total = 0;
  for (const count of map.values()) total += count;
  return total;
}

/** The outcome of a request that threw: our deadline, or the network (by errno code). */
function failureOutcome(error: unknown): Outcome {
  if (error instanceof RequestTimeoutError) return { kind: "timeout" };
  const code = error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
  return { kind: "network", code };
}

/** `okStatus` is ok; `expected` 4xx are counted as such; anything else is unexpected. */
function judgeStatus(res: HttpResponse, okStatus: number | null, expected: readonly number[] = []): Outcome {
  if (res.status === okStatus) return { kind: "ok" };
  if (expected.includes(res.status)) return { kind: "expected", status: res.status };
  return { kind: "unexpected", status: res.status, body: res.body };
}

// ---------------------------------------------------------------------------------------
// The jobs phase 1 created, and what became of them

/** Listing entries: enough to learn which jobs are DONE. */
const listBodySchema = z.object({ jobs: z.array(z.object({ id: z.string(), status: z.string() })) });
const v2CreatedSchema = z.object({ job_id: z.string().min(1) });
const asyncCreatedSchema = z.object({ job_name: z.string().startsWith("transcribe-") });

/**
 * Accepted jobs are split once, on acceptance: one in six is set aside for DELETE, the rest
 * may serve transcripts once a listing shows them DONE. Disjoint roles, so a transcript
 * request never races a delete of its own job (that 404 would be the bench's doing).
 */
class JobLedger {
  readonly accepted = new Set<string>();
  /** Set aside for DELETE, newest last: deletes take the newest, the likeliest to be still queued or running. */
  private readonly toDelete: string[] = [];
  private readonly kept = new Set<string>();
  /** Kept jobs a listing showed DONE: transcript targets. */
  readonly done: string[] = [];
  private readonly doneSet = new Set<string>();
  readonly deleteSent = new Set<string>();
  readonly deleted = new Set<string>();

  accept(id: string): void {
    this.accepted.add(id);
    if (this.accepted.size % 6 === 0) this.toDelete.push(id);
    else this.kept.add(id);
  }

  /** Learns DONE jobs from a listing. */
  observe(jobs: readonly { id: string; status: string }[]): void {
    for (const job of jobs) {
      if (job.status.toUpperCase() === "DONE" && this.kept.has(job.id) && !this.doneSet.has(job.id)) {
        this.doneSet.add(job.id);
        this.done.push(job.id);
      }
    }
  }

  nextToDelete(): string | undefined {
    const id = this.toDelete.pop();
    if (id) this.deleteSent.add(id);
    return id;
  }
}

// ---------------------------------------------------------------------------------------
// The operations of phase 1. Each records its own outcome and never throws.

type TrafficContext = {
  client: Client;
  baseUrl: URL;
  book: RouteBook;
  ledger: JobLedger;
  random: () => number;
  wav: (index: number) => Buffer;
};

/** ms an aborted upload holds its half-sent body before hanging up: long enough for the server to have opened its temp file. */
const ABORT_HOLD_MS = 50;

/** Sends `spec` on the pooled client and records how it ended, timed from its scheduled start. */
async function timed(ctx: TrafficContext, route: string, scheduledAt: number, spec: RequestSpec, judge: (res: HttpResponse) => Outcome): Promise<void> {
  try {
    const res = await ctx.client.request(spec);
    // From the scheduled start, not the send: time the client spent late counts, as it would for a real caller.
    ctx.book.record(route, judge(res), performance.now() - scheduledAt);
  } catch (error) {
    ctx.book.record(route, failureOutcome(error), performance.now() - scheduledAt);
  }
}

async function uploadJob(ctx: TrafficContext, index: number, scheduledAt: number): Promise<void> {
  await timed(ctx, "POST /v2/jobs", scheduledAt, v2JobRequest(`soak-${index}.wav`, ctx.wav(index)), (res) => {
    if (res.status !== 201) return judgeStatus(res, 201);
    const body = safeJson(res.body, v2CreatedSchema);
    if (!body) return { kind: "bad-body", status: res.status, detail: res.body.slice(0, 200) };
    ctx.ledger.accept(body.job_id);
    return { kind: "ok" };
  });
}

async function uploadMedia(ctx: TrafficContext, index: number, scheduledAt: number): Promise<void> {
  await timed(ctx, "POST /api/uploads", scheduledAt, mediaUploadRequest(`soak-${index}.wav`, ctx.wav(index)), (res) => judgeStatus(res, 201));
}

/** Random bytes named .wav: the probe must refuse them with 400 before any job exists. */
async function uploadCorrupt(ctx: TrafficContext, index: number, scheduledAt: number): Promise<void> {
  const route = UPLOAD_ROUTES[index % UPLOAD_ROUTES.length]!;
  const spec = requestFor(route, `corrupt-${index}.wav`, randomBytes(16 * 1024));
  // No status is "ok" here: a 201 would mean a corrupt file was accepted.
  await timed(ctx, `POST ${route} (corrupt)`, scheduledAt, spec, (res) => judgeStatus(res, null, [400]));
}

/**
 * Sends the headers and half the body on a connection of its own, waits, then destroys the
 * socket. The server must drop the half-received upload; whether it does shows in the
 * samples (temp files, descriptors), not in this request's outcome.
 */
function uploadAborted(ctx: TrafficContext, index: number, scheduledAt: number): Promise<void> {
  const route = UPLOAD_ROUTES[index % UPLOAD_ROUTES.length]!;
  const label = `POST ${route} (aborted)`;
  const spec = requestFor(route, `aborted-${index}.wav`, ctx.wav(index));
  const body = spec.body!;
  return new Promise((resolve) => {
    let hungUp = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.book.record(label, outcome, performance.now() - scheduledAt);
      resolve();
    };
    const req = http.request({
      host: ctx.baseUrl.hostname,
      port: ctx.baseUrl.port,
      method: spec.method,
      path: spec.path,
      headers: { ...spec.headers, "content-length": body.length },
      // A fresh socket: destroying it must not take a keep-alive connection of the pool along.
      agent: false,
    });
    req.on("response", (res) => {
      // The server answered before we hung up: it did not wait for the body it was promised.
      res.resume();
      settle({ kind: "unexpected", status: res.statusCode ?? 0, body: "(answered a half-sent upload)" });
      req.destroy();
    });
    req.on("error", (error) => settle(hungUp ? { kind: "aborted" } : failureOutcome(error)));
    req.on("close", () => settle(hungUp ? { kind: "aborted" } : { kind: "network", code: "closed before the abort" }));
    req.write(body.subarray(0, Math.floor(body.length / 2)));
    timer = setTimeout(() => {
      hungUp = true;
      req.destroy();
    }, ABORT_HOLD_MS);
  });
}

async function listJobs(ctx: TrafficContext, scheduledAt: number): Promise<void> {
  await timed(ctx, "GET /v2/jobs", scheduledAt, { method: "GET", path: "/v2/jobs?limit=100" }, (res) => {
    if (res.status !== 200) return judgeStatus(res, 200);
    const body = safeJson(res.body, listBodySchema);
    if (!body) return { kind: "bad-body", status: res.status, detail: res.body.slice(0, 200) };
    ctx.ledger.observe(body.jobs);
    return { kind: "ok" };
  });
}

/** What each transcript format must look like (the instant engine always says something). */
function transcriptProblem(format: (typeof TRANSCRIPT_FORMATS)[number], body: string): string | null {
  if (format === "txt") return body.trim() ? null : "empty text";
  if (format === "srt") return body.includes("-->") ? null : "no SRT cue";
  return safeJson(body, z.looseObject({})) ? null : "not a JSON object";
}

async function fetchTranscript(ctx: TrafficContext, index: number, scheduledAt: number): Promise<void> {
  const id = ctx.ledger.done[Math.floor(ctx.random() * ctx.ledger.done.length)];
  // Until a listing has shown a DONE job there is nothing to fetch: list instead, which finds some.
  if (!id) return listJobs(ctx, scheduledAt);
  const format = TRANSCRIPT_FORMATS[index % TRANSCRIPT_FORMATS.length]!;
  await timed(ctx, `GET /v2/jobs/{id}/transcript?format=${format}`, scheduledAt, { method: "GET", path: `/v2/jobs/${id}/transcript?format=${format}` }, (res) => {
    if (res.status !== 200) return judgeStatus(res, 200);
    const problem = transcriptProblem(format, res.body);
    return problem ? { kind: "bad-body", status: res.status, detail: problem } : { kind: "ok" };
  });
}

async function deleteJob(ctx: TrafficContext, scheduledAt: number): Promise<void> {
  const id = ctx.ledger.nextToDelete();
  if (!id) return listJobs(ctx, scheduledAt);
  // force: a job still queued or running is cancelled first instead of answering 409.
  await timed(ctx, "DELETE /v2/jobs/{id}", scheduledAt, { method: "DELETE", path: `/v2/jobs/${id}?force=true` }, (res) => {
    if (res.status === 200) ctx.ledger.deleted.add(id);
    return judgeStatus(res, 200);
  });
}

function runOp(ctx: TrafficContext, kind: OpKind, index: number, scheduledAt: number): Promise<void> {
  switch (kind) {
    case "upload":
      return uploadJob(ctx, index, scheduledAt);
    case "media-upload":
      return uploadMedia(ctx, index, scheduledAt);
    case "corrupt":
      return uploadCorrupt(ctx, index, scheduledAt);
    case "aborted":
      return uploadAborted(ctx, index, scheduledAt);
    case "list":
      return listJobs(ctx, scheduledAt);
    case "transcript":
      return fetchTranscript(ctx, index, scheduledAt);
    case "cancel":
      return deleteJob(ctx, scheduledAt);
  }
}

function safeJson<T>(text: string, schema: z.ZodType<T>): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// Open-loop scheduling

type Schedule = { scheduled: number; sent: number; shed: number; wallS: number; lagP99Ms: number; lagMaxMs: number };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Starts request i at start + i / rate, whatever became of the earlier ones: a server that
 * slows down faces more concurrent requests instead of a politely slower client. A request
 * due while `maxInFlight` are in flight is shed, not queued, so the cap cannot turn into
 * closed-loop pacing. Resolves once every request sent has finished.
 */
async function runOpenLoop(durationMs: number, rate: number, maxInFlight: number, start: (index: number, scheduledAt: number) => Promise<void>, inFlight: Set<Promise<void>>): Promise<Schedule> {
  const intervalMs = 1000 / rate;
  const lags: number[] = [];
  const begin = performance.now();
  let scheduled = 0;
  let shed = 0;
  for (;;) {
    const offsetMs = scheduled * intervalMs;
    if (offsetMs >= durationMs) break;
    const due = begin + offsetMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    // Late by more than one interval: the requests due meanwhile start back to back, as the timetable says.
    lags.push(performance.now() - due);
    if (inFlight.size >= maxInFlight) {
      shed += 1;
    } else {
      const request = start(scheduled, due).finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    scheduled += 1;
  }
  await Promise.all(inFlight);
  return { scheduled, sent: scheduled - shed, shed, wallS: (performance.now() - begin) / 1000, lagP99Ms: percentile(lags, 99), lagMaxMs: lags.reduce((max, lag) => Math.max(max, lag), 0) };
}

// ---------------------------------------------------------------------------------------
// Server samples: RSS, descriptors, blob temp files

type Sample = {
  /** Seconds since the traffic began, or "end" / "idle" after it. */
  label: string;
  atS: number;
  rssMiB: number;
  fds: FdCounts;
  tmpFiles: number;
  /** Server CPU since the previous sample (its own, not its children's), % of one core. */
  cpuPct: number;
  inFlight: number;
  completed: number;
};

type Sampler = { take(label?: string): Sample; readonly samples: Sample[] };

/** Files in the blob store's temp folder (uploads land there, then are renamed or removed). */
function countFiles(dir: string): number {
  try {
    return readdirSync(dir).length;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
}

function createSampler(server: ServerProcess, tmpDir: string, progress: () => { inFlight: number; completed: number }): Sampler {
  const pid = server.child.pid!;
  const samples: Sample[] = [];
  const began = performance.now();
  // No previous sample before the first: its CPU figure would cover a few microseconds.
  let lastCpuMs = Number.NaN;
  let lastAt = performance.now();
  return {
    samples,
    take(label) {
      const cpuMs = processCpuMs(pid);
      const now = performance.now();
      const atS = (now - began) / 1000;
      const sample: Sample = {
        label: label ?? fixed(atS, 0),
        atS,
        rssMiB: rssBytes(pid) / 1024 ** 2,
        fds: fdCounts(pid, { httpPort: server.port, watchDir: tmpDir }),
        tmpFiles: countFiles(tmpDir),
        cpuPct: ((cpuMs - lastCpuMs) / Math.max(1, now - lastAt)) * 100,
        ...progress(),
      };
      lastCpuMs = cpuMs;
      lastAt = now;
      samples.push(sample);
      printSampleRow(sample);
      return sample;
    },
  };
}

const SAMPLE_COLUMNS = ["t s", "RSS MiB", "fds", "files", "tmp fds", "http conns", "other sockets", "pipes etc", "tmp files", "srv CPU %", "in flight", "done reqs"];

function printSampleHeader(): void {
  console.log(SAMPLE_COLUMNS.map((name) => name.padStart(Math.max(7, name.length))).join(" "));
}

function printSampleRow(sample: Sample): void {
  const cells = [sample.label, fixed(sample.rssMiB, 1), sample.fds.total, sample.fds.files, sample.fds.inWatchDir, sample.fds.httpConnections, sample.fds.otherSockets, sample.fds.other, sample.tmpFiles, fixed(sample.cpuPct, 0), sample.inFlight, sample.completed];
  console.log(cells.map((cell, i) => String(cell).padStart(Math.max(7, SAMPLE_COLUMNS[i]!.length))).join(" "));
}

// ---------------------------------------------------------------------------------------
// Verdict: did RSS and descriptors end flat?

/** RSS may grow this much (last third vs first third after warm-up) and still count as flat: V8 heaps breathe. */
const RSS_TOLERANCE = 0.1;
/** Descriptors other than sockets and temp uploads (database files, pipes) may differ by this many between the thirds. */
const FD_TOLERANCE = 2;

type Verdict = { flat: boolean; lines: string[] };

/** Means of the first and last third of the samples, and the minutes between the thirds' middles (for a rate). */
function thirds(samples: readonly Sample[], value: (sample: Sample) => number): { first: number; last: number; apartMin: number } {
  const size = Math.max(1, Math.floor(samples.length / 3));
  const head = samples.slice(0, size);
  const tail = samples.slice(-size);
  return {
    first: mean(head.map(value)),
    last: mean(tail.map(value)),
    apartMin: (mean(tail.map((sample) => sample.atS)) - mean(head.map((sample) => sample.atS))) / 60,
  };
}

/**
 * `traffic`: samples taken during the traffic (after warm-up); `idle`: the one taken once
 * the traffic stopped, the client's sockets closed and the queue drained.
 */
function verdictOf(traffic: readonly Sample[], idle: Sample, before: Sample): Verdict {
  const lines: string[] = [];
  const reasons: string[] = [];
  if (traffic.length < 3) {
    lines.push(`only ${traffic.length} sample(s) after warm-up: too few to compare thirds (run longer or lower --sample-s)`);
    reasons.push("too few samples");
  } else {
    const rss = thirds(traffic, (sample) => sample.rssMiB);
    const rssGrowth = (rss.last - rss.first) / rss.first;
    lines.push(
      `RSS: first third ${fixed(rss.first, 1)} MiB, last third ${fixed(rss.last, 1)} MiB (${signed(rssGrowth * 100, 1)}%, ${signed((rss.last - rss.first) / rss.apartMin, 1)} MiB/min; flat within +${RSS_TOLERANCE * 100}%)`,
    );
    if (rssGrowth > RSS_TOLERANCE) reasons.push(`RSS grew ${fixed(rssGrowth * 100, 1)}%`);
    // Temp uploads follow the uploads in flight; one left open shows in the idle sample below.
    const nonSocket = thirds(traffic, (sample) => sample.fds.files - sample.fds.inWatchDir + sample.fds.other);
    lines.push(`fds other than sockets and uploads in progress: first third ${fixed(nonSocket.first, 1)}, last third ${fixed(nonSocket.last, 1)} (flat within +${FD_TOLERANCE})`);
    if (nonSocket.last - nonSocket.first > FD_TOLERANCE) reasons.push(`non-socket fds grew by ${fixed(nonSocket.last - nonSocket.first, 1)}`);
    const sockets = thirds(traffic, (sample) => sample.fds.httpConnections + sample.fds.otherSockets);
    const uploads = thirds(traffic, (sample) => sample.fds.inWatchDir);
    // Not judged while the traffic runs: both follow the requests in flight. What stays open once it stopped is judged below.
    lines.push(
      `sockets: first third ${fixed(sockets.first, 1)}, last third ${fixed(sockets.last, 1)}; open temp uploads: first third ${fixed(uploads.first, 1)}, last third ${fixed(uploads.last, 1)} (both follow the requests in flight)`,
    );
  }
  lines.push(
    `after the traffic (client closed, queue drained): ${idle.fds.total} fds (${before.fds.total} before the traffic), ${idle.fds.httpConnections} HTTP connections, ${idle.fds.inWatchDir} open temp uploads, ${idle.tmpFiles} files in blobs/tmp, RSS ${fixed(idle.rssMiB, 1)} MiB (${fixed(before.rssMiB, 1)} before)`,
  );
  if (idle.fds.httpConnections > 0) reasons.push(`${idle.fds.httpConnections} HTTP connections still open`);
  if (idle.fds.inWatchDir > 0) reasons.push(`${idle.fds.inWatchDir} temp uploads still open`);
  if (idle.tmpFiles > 0) reasons.push(`${idle.tmpFiles} files left in blobs/tmp`);
  lines.push(reasons.length === 0 ? "verdict: FLAT (RSS and fds flat, nothing left open or behind)" : `verdict: NOT FLAT: ${reasons.join("; ")}`);
  return { flat: reasons.length === 0, lines };
}

// ---------------------------------------------------------------------------------------
// The database, read directly: final states without adding API traffic to what is measured

type JobRow = { id: string; status: string };

type JobReader = {
  /** Top-level jobs not yet final. */
  unfinished(): Promise<number>;
  jobs(): Promise<JobRow[]>;
  /** When the last of `origin`'s jobs finished. */
  lastFinishedAt(origin: string): Promise<Date | null>;
  close(): Promise<void>;
};

const UNFINISHED_SQL = `SELECT COUNT(*) AS n FROM "Job" WHERE "parentId" IS NULL AND "status" IN ('QUEUED', 'RUNNING')`;
const JOBS_SQL = `SELECT "id", "status" FROM "Job" WHERE "parentId" IS NULL`;

/**
 * A read-only connection of its own (not the server's SQL client, whose SQLite flavour runs
 * a WAL checkpointer): the observer should not change what it observes.
 */
async function openJobReader(databaseUrl: string): Promise<JobReader> {
  if (providerFromUrl(databaseUrl) === "sqlite") {
    const db = new Database(sqlitePathFromUrl(databaseUrl), { readonly: true, fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    return {
      unfinished: async () => Number((db.prepare(UNFINISHED_SQL).get() as { n: number }).n),
      jobs: async () => db.prepare(JOBS_SQL).all() as JobRow[],
      lastFinishedAt: async (origin) => nullableDate((db.prepare(`SELECT MAX("finishedAt") AS at FROM "Job" WHERE "origin" = ?`).get(origin) as { at: unknown }).at),
      close: async () => void db.close(),
    };
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  // A connection that drops (the database dropped WITH (FORCE) on Ctrl-C) must not crash the
  // bench as an unhandled 'error' event; a query on it rejects, which is reported instead.
  client.on("error", () => undefined);
  await client.connect();
  return {
    unfinished: async () => Number((await client.query<{ n: string }>(UNFINISHED_SQL)).rows[0]?.n ?? 0),
    jobs: async () => (await client.query<JobRow>(JOBS_SQL)).rows,
    lastFinishedAt: async (origin) => nullableDate((await client.query<{ at: unknown }>(`SELECT MAX("finishedAt") AS at FROM "Job" WHERE "origin" = $1`, [origin])).rows[0]?.at),
    close: () => client.end(),
  };
}

function nullableDate(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** Waits until no top-level job is queued or running; false when `timeoutMs` passed first. */
async function waitForDrain(reader: JobReader, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if ((await reader.unfinished()) === 0) return true;
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
}

type JobAccount = {
  accepted: number;
  done: number;
  failed: number;
  cancelled: number;
  /** DELETE answered 200 and the row is gone. */
  deleted: number;
  /** The row is gone after a DELETE whose answer never came (timeout, network). */
  deletedUnconfirmed: number;
  unfinished: number;
  /** Accepted, never deleted by us, and gone. */
  lost: number;
  /** Jobs of the phase the client never got a 201 for (say, an aborted or corrupt upload that still made a job). */
  unacknowledged: number;
};

/** What became of the `accepted` jobs, given the phase's rows (every job created since it began) and the deletes it sent. */
function accountJobs(accepted: ReadonlySet<string>, rows: readonly JobRow[], deletes: { sent: ReadonlySet<string>; confirmed: ReadonlySet<string> }): JobAccount {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const account: JobAccount = { accepted: accepted.size, done: 0, failed: 0, cancelled: 0, deleted: 0, deletedUnconfirmed: 0, unfinished: 0, lost: 0, unacknowledged: 0 };
  for (const id of accepted) {
    const row = byId.get(id);
    if (!row) {
      if (deletes.confirmed.has(id)) account.deleted += 1;
      else if (deletes.sent.has(id)) account.deletedUnconfirmed += 1;
      else account.lost += 1;
    } else if (row.status === "DONE") account.done += 1;
    else if (row.status === "FAILED") account.failed += 1;
    else if (row.status === "CANCELLED") account.cancelled += 1;
    else account.unfinished += 1;
  }
  account.unacknowledged = rows.filter((row) => !accepted.has(row.id)).length;
  return account;
}

function accountLine(account: JobAccount): string {
  const finals = account.done + account.failed + account.cancelled + account.deleted + account.deletedUnconfirmed;
  const intact = finals === account.accepted && account.lost === 0 && account.unfinished === 0;
  return (
    `${account.accepted} accepted = ${account.done} DONE + ${account.failed} FAILED + ${account.cancelled} CANCELLED + ${account.deleted} deleted (DELETE 200)` +
    (account.deletedUnconfirmed ? ` + ${account.deletedUnconfirmed} deleted (DELETE unanswered)` : "") +
    `; ${account.unfinished} still queued/running, ${account.lost} lost; ${account.unacknowledged} job(s) the client got no 201 for` +
    ` → ${intact ? "no job lost" : "JOBS MISSING"}`
  );
}

// ---------------------------------------------------------------------------------------
// Phase 1 report

function printRouteTable(book: RouteBook): void {
  const header = ["route", "requests", "ok", "exp 4xx", "unexp 4xx", "5xx", "unexp other", "bad body", "network", "timeout", "aborted", "p50 ms", "p99 ms"];
  const rows = [...book.routes.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([route, stats]) => {
      const unexpectedIn = (low: number, high: number) => [...stats.unexpected].filter(([status]) => status >= low && status < high).reduce((sum, [, count]) => sum + count, 0);
      const unexpected4xx = unexpectedIn(400, 500);
      const serverErrors = unexpectedIn(500, 600);
      // A 2xx where a 400 was due (a corrupt file accepted), or no status at all.
      const other = sumOf(stats.unexpected) - unexpected4xx - serverErrors;
      const total = requestsOf(stats);
      const answered = stats.latenciesMs.length > 0;
      return [route, total, stats.ok, sumOf(stats.expected), unexpected4xx, serverErrors, other, stats.badBody, sumOf(stats.network), stats.timeouts, stats.aborted, answered ? fixed(percentile(stats.latenciesMs, 50), 1) : "-", answered ? fixed(percentile(stats.latenciesMs, 99), 1) : "-"].map(String);
    });
  const widths = header.map((_, col) => Math.max(...[header, ...rows].map((row) => (row[col] ?? "").length)));
  for (const row of [header, ...rows]) console.log(row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join("  "));
}

function describeCounts<K>(map: ReadonlyMap<K, number>): string {
  return [...map].map(([key, count]) => `${count}× ${String(key)}`).join(", ");
}

function printErrorSummary(book: RouteBook): void {
  const expected: string[] = [];
  const unexpected: string[] = [];
  const network: string[] = [];
  let timeouts = 0;
  let badBodies = 0;
  for (const [route, stats] of book.routes) {
    if (stats.expected.size) expected.push(`${route}: ${describeCounts(stats.expected)}`);
    if (stats.unexpected.size) unexpected.push(`${route}: ${describeCounts(stats.unexpected)}`);
    if (stats.network.size) network.push(`${route}: ${describeCounts(stats.network)}`);
    timeouts += stats.timeouts;
    badBodies += stats.badBody;
  }
  console.log(`expected 4xx: ${expected.join("; ") || "none"}`);
  console.log(`unexpected 4xx/5xx: ${unexpected.join("; ") || "none"}`);
  console.log(`2xx with a bad body: ${badBodies}`);
  console.log(`network errors: ${network.join("; ") || "none"}`);
  console.log(`timeouts (no complete answer in time): ${timeouts}`);
  for (const example of book.examples) console.log(`  e.g. ${example}`);
}

// ---------------------------------------------------------------------------------------
// Phase 2: a burst through the queueing API

type BurstResult = {
  accepted: string[];
  refused: Map<string, number>;
  postMs: number[];
  submitS: number;
  drained: boolean;
  /** First submission to the last job's finishedAt. */
  endToEndS: number;
  account: JobAccount;
};

/** `earlier`: the jobs phase 1 left, which are not the burst's. */
async function runBurst(server: ServerProcess, reader: JobReader, options: Options, wav: (index: number) => Buffer, earlier: PhaseEnd): Promise<BurstResult> {
  const client = createClient(server.baseUrl, { maxSockets: options.burstConcurrency, timeoutMs: options.timeoutMs });
  const accepted: string[] = [];
  const refused = new Map<string, number>();
  const postMs: number[] = [];
  let next = 0;
  const startedAt = Date.now();
  const started = performance.now();
  // Closed loop on purpose: a burst is "as fast as the server takes them", not a rate.
  const loop = async () => {
    for (let i = next++; i < options.burstJobs; i = next++) {
      try {
        const res = await client.request(queuedJobRequest(`burst-${i}.wav`, wav(earlier.mediaUsed + i)));
        const body = res.status === 201 ? safeJson(res.body, asyncCreatedSchema) : null;
        if (body) {
          accepted.push(body.job_name.slice("transcribe-".length));
          postMs.push(res.ms);
        } else increment(refused, `${res.status}`);
      } catch (error) {
        const outcome = failureOutcome(error);
        increment(refused, outcome.kind === "network" ? outcome.code : outcome.kind);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.burstConcurrency }, loop));
  } finally {
    client.close();
  }
  const submitS = (performance.now() - started) / 1000;
  const drained = await waitForDrain(reader, options.drainTimeoutS * 1000);
  const lastAt = await reader.lastFinishedAt("async");
  const rows = (await reader.jobs()).filter((row) => !earlier.jobIds.has(row.id));
  const account = accountJobs(new Set(accepted), rows, { sent: new Set(), confirmed: new Set() });
  return { accepted, refused, postMs, submitS, drained, endToEndS: lastAt ? (lastAt.getTime() - startedAt) / 1000 : Number.NaN, account };
}

function printBurst(result: BurstResult, options: Options): void {
  const refused = sumOf(result.refused);
  console.log(
    `burst: ${options.burstJobs} POST /transcribe-batch-async, ${options.burstConcurrency} in flight: ${result.accepted.length} accepted (201), ${refused} refused${refused ? ` (${describeCounts(result.refused)})` : ""}` +
      ` in ${fixed(result.submitS, 2)} s = ${fixed(result.accepted.length / result.submitS, 1)} submissions/s, POST p50 ${fixed(percentile(result.postMs, 50), 1)} ms, p99 ${fixed(percentile(result.postMs, 99), 1)} ms`,
  );
  console.log(`burst jobs: ${accountLine(result.account)}${result.drained ? "" : ` (queue not drained after ${options.drainTimeoutS} s)`}`);
  const allFinal = result.account.done + result.account.failed + result.account.cancelled === result.accepted.length;
  console.log(
    `burst: ${allFinal && result.accepted.length === options.burstJobs ? "all accepted, all final" : "NOT all accepted and final"}; ${fixed(result.account.done / result.endToEndS, 1)} jobs/s DONE, first submission to last completion (${fixed(result.endToEndS, 2)} s)`,
  );
}

// ---------------------------------------------------------------------------------------
// Whole-machine context: CPU others used, what the server logged

type CpuSnapshot = { serverMs: number; clientMs: number; machineMs: number };

function cpuSnapshot(server: ServerProcess): CpuSnapshot {
  const own = process.cpuUsage();
  // The server's ffprobe runs are its work, not another process's load.
  return { serverMs: processCpuMs(server.child.pid, { withChildren: true }), clientMs: (own.user + own.system) / 1000, machineMs: machineCpuMs() };
}

/** Cores kept busy by neither the server nor this client: on a shared machine the latencies only mean something next to this. */
function otherProcessesCores(before: CpuSnapshot, after: CpuSnapshot, wallS: number): number {
  const others = after.machineMs - before.machineMs - (after.serverMs - before.serverMs) - (after.clientMs - before.clientMs);
  return Math.max(0, others) / 1000 / wallS;
}

const logLineSchema = z.object({ level: z.string(), msg: z.string() });

/** Warnings and errors the server logged (JSON lines on stderr), by message. */
function serverLogSummary(output: string): string {
  const counts = new Map<string, number>();
  for (const line of output.split("\n")) {
    if (!line.includes('"level":"warn"') && !line.includes('"level":"error"')) continue;
    const entry = safeJson(line, logLineSchema);
    increment(counts, entry ? `${entry.level} "${entry.msg}"` : `unparsed: ${line.slice(0, 120)}`);
  }
  return counts.size === 0 ? "no warnings or errors" : describeCounts(counts);
}

// ---------------------------------------------------------------------------------------
// One database: server, phase 1, phase 2, teardown

/** Samples before this many seconds (a fifth of the run, at most a minute) are warm-up: the heap and pools are still growing into their working size. */
function warmUpS(options: Options): number {
  return Math.min(60, options.minutes * 12);
}

async function soakDatabase(kind: DatabaseKind, options: Options): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "bench-soak-data-"));
  const database = await databaseFor(kind);
  const discard = async () => {
    await rm(dataDir, { recursive: true, force: true });
    await database?.drop();
  };
  addCleanup(discard);
  try {
    const server = await startInstantServer({ dataDir, ...(database ? { databaseUrl: database.url } : {}), parallel: enginesFor(options) });
    const reader = await openJobReader(database?.url ?? `file:${path.join(dataDir, "transcribe.db")}`);
    try {
      console.log(`\n=== ${kind}: ${options.minutes} min of mixed traffic at ${options.rate} req/s (at most ${options.maxInFlight} in flight, timeout ${options.timeoutMs} ms), PARALLEL=${enginesFor(options)}, server pid ${server.child.pid} ===`);
      const wav = wavFactory();
      const phaseEnd = await runTrafficPhase(server, reader, dataDir, options, wav);
      if (options.burstJobs > 0) {
        const logsFrom = server.output().length;
        printBurst(await runBurst(server, reader, options, wav, phaseEnd), options);
        console.log(`server log during the burst: ${serverLogSummary(server.output().slice(logsFrom))}`);
      }
    } finally {
      await reader.close();
      await stopServer(server);
    }
  } finally {
    removeCleanup(discard);
    await discard();
  }
}

/** What the burst needs from phase 1: media numbers to skip (its uploads stay distinct), and the jobs that are not its own. */
type PhaseEnd = { mediaUsed: number; jobIds: ReadonlySet<string> };

/** Phase 1 with its report. */
async function runTrafficPhase(server: ServerProcess, reader: JobReader, dataDir: string, options: Options, wav: (index: number) => Buffer): Promise<PhaseEnd> {
  const client = createClient(server.baseUrl, { maxSockets: options.maxInFlight, timeoutMs: options.timeoutMs });
  const book = new RouteBook();
  const ledger = new JobLedger();
  const random = seededRandom(options.seed);
  const ctx: TrafficContext = { client, baseUrl: new URL(server.baseUrl), book, ledger, random, wav };
  const inFlight = new Set<Promise<void>>();
  const tmpDir = path.join(dataDir, "blobs", "tmp");
  const sampler = createSampler(server, tmpDir, () => ({ inFlight: inFlight.size, completed: book.completed() }));
  const durationMs = options.minutes * 60_000;

  printSampleHeader();
  const before = sampler.take();
  const cpuBefore = cpuSnapshot(server);
  const logsFrom = server.output().length;
  const timer = setInterval(() => sampler.take(), options.sampleS * 1000);
  let schedule: Schedule;
  try {
    schedule = await runOpenLoop(durationMs, options.rate, options.maxInFlight, (index, scheduledAt) => runOp(ctx, pickKind(random), index, scheduledAt), inFlight);
  } finally {
    clearInterval(timer);
    client.close();
  }
  const traffic = [...sampler.samples];
  const otherCores = otherProcessesCores(cpuBefore, cpuSnapshot(server), schedule.wallS);
  sampler.take("end");
  const drained = await waitForDrain(reader, options.drainTimeoutS * 1000);
  // The server notices closed keep-alive connections at once, but give the event loop a moment.
  await sleep(1000);
  const idle = sampler.take("idle");

  const completed = book.completed();
  const durationS = durationMs / 1000;
  console.log(
    `\ntraffic: offered ${options.rate} req/s for ${fixed(durationS, 0)} s: ${schedule.scheduled} due, ${schedule.sent} sent (${fixed(schedule.sent / durationS, 1)} req/s), ${schedule.shed} shed at the in-flight cap;` +
      ` ${completed} completed by ${fixed(schedule.wallS, 1)} s, the last in-flight ones included = ${fixed(completed / schedule.wallS, 1)} req/s achieved`,
  );
  console.log(
    `client lag behind the timetable p99 ${fixed(schedule.lagP99Ms, 1)} ms, max ${fixed(schedule.lagMaxMs, 1)} ms; other processes' load during the traffic ${fixed(otherCores, 2)} of ${os.cpus().length} cores (PostgreSQL included)`,
  );
  printRouteTable(book);
  printErrorSummary(book);
  const warm = traffic.filter((sample) => sample.atS >= warmUpS(options));
  console.log(`server over time (warm-up: first ${fixed(warmUpS(options), 0)} s left out of the thirds):`);
  for (const line of verdictOf(warm, idle, before).lines) console.log(`  ${line}`);
  // Every job in the database is phase 1's: the server started on an empty one.
  const rows = await reader.jobs();
  const account = accountJobs(ledger.accepted, rows, { sent: ledger.deleteSent, confirmed: ledger.deleted });
  console.log(`jobs (POST /v2/jobs): ${accountLine(account)}${drained ? "" : ` (queue not drained after ${options.drainTimeoutS} s)`}`);
  console.log(`server log: ${serverLogSummary(server.output().slice(logsFrom))}`);
  return { mediaUsed: schedule.scheduled, jobIds: new Set(rows.map((row) => row.id)) };
}

/** SIGTERM (nothing runs by now, so it exits at once); SIGKILL if it hangs, and say so. */
async function stopServer(server: ServerProcess): Promise<void> {
  const exited = server.kill("SIGTERM");
  const hung = await Promise.race([exited.then(() => false), sleep(60_000).then(() => true)]);
  if (hung) {
    console.log("server did not exit within 60 s of SIGTERM; killed");
    await server.kill("SIGKILL");
    return;
  }
  const code = await exited;
  if (code !== 0) console.log(`server exited with ${code} after SIGTERM:\n${server.output().slice(-2000)}`);
}

// ---------------------------------------------------------------------------------------

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

function signed(value: number, digits: number): string {
  return `${value >= 0 ? "+" : ""}${fixed(value, digits)}`;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) {
    console.log(USAGE);
    return;
  }
  console.log(`machine: ${os.cpus()[0]?.model ?? "unknown"}, ${os.cpus().length} cores, ${fixed(os.totalmem() / 1024 ** 3, 1)} GiB, node ${process.version}`);
  const kinds: DatabaseKind[] = options.database === "both" ? ["sqlite", "postgres"] : [options.database];
  for (const kind of kinds) await soakDatabase(kind, options);
}

runBench("soak bench", main);
