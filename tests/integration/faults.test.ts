import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { openDatabase } from "../../src/server/db/client";
import { startScaleOutInfra, type ScaleOutInfra } from "../helpers/fauxqs";
import { ffmpeg, librivoxClips, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";
import { createTestDatabase, TEST_PROVIDERS, type TestDatabase } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";
import { toneWav } from "../helpers/wav";

/**
 * Faults of the machine and of the services the control plane depends on: a full disk
 * (during an upload, during a job's decoding), PostgreSQL stopped mid-batch, and the S3
 * blob store unreachable mid-batch. Whatever the fault, every job ends DONE or FAILED with
 * a reason (none stranded QUEUED or RUNNING), none is doubled (one row per submission,
 * outputs written once), and the server keeps serving: /live answers 200 afterwards and a
 * fresh job completes.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const run = promisify(execFile);
const clips = librivoxClips();
const SLEEPY_ENGINE = path.join(ROOT, "bench/sleepy-engine.ts");

type JobView = { id: string; status: string; attempts: number; maxAttempts: number; failureReason: string | null; lastError: string | null };
type BatchSummary = { total: number; done: number; failed: number; cancelled: number; queued: number; running: number; childIds: string[] };
type JobWithBatch = { job: JobView; batch: BatchSummary | null };
type LogLine = { level: string; message: string };
type HttpAnswer = { status: number; body: unknown; ms: number };

const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The HTTP APIs of one server: uploads, tRPC (superjson envelopes), /live. */
class Api {
  constructor(readonly baseUrl: () => string) {}

  async upload(name: string, bytes: Uint8Array, timeoutMs = 60_000): Promise<HttpAnswer> {
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(bytes)]), name);
    const started = Date.now();
    const response = await fetch(`${this.baseUrl()}/api/uploads`, { method: "POST", body: form, signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await readJson(response), ms: Date.now() - started };
  }

  async uploadOk(name: string, bytes: Uint8Array): Promise<string> {
    const answer = await this.upload(name, bytes);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return (answer.body as { media: { id: string } }).media.id;
  }

  async trpc<T>(procedure: string, input: unknown, kind: "query" | "mutation" = "mutation"): Promise<T> {
    const url = `${this.baseUrl()}/api/trpc/${procedure}`;
    const response =
      kind === "mutation"
        ? await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ json: input }), signal: AbortSignal.timeout(30_000) })
        : await fetch(`${url}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, { signal: AbortSignal.timeout(30_000) });
    const body = (await response.json()) as { result?: { data: { json: T } }; error?: unknown };
    if (!body.result) throw new Error(`${procedure} failed (${response.status}): ${JSON.stringify(body.error)}`);
    return body.result.data.json;
  }

  get(id: string): Promise<JobWithBatch> {
    return this.trpc<JobWithBatch>("jobs.get", { id }, "query");
  }

  log(id: string): Promise<LogLine[]> {
    return this.trpc<LogLine[]>("jobs.log", { id }, "query");
  }

  async live(timeoutMs = 10_000): Promise<HttpAnswer> {
    const started = Date.now();
    const response = await fetch(`${this.baseUrl()}/live`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await readJson(response), ms: Date.now() - started };
  }

  /** Polls a job (through whatever transient errors the server answers meanwhile) until it is DONE, FAILED or CANCELLED. */
  waitSettled(id: string, timeoutMs: number, context: () => string = () => ""): Promise<JobWithBatch> {
    let last = "";
    return waitFor(
      `job ${id} to settle`,
      timeoutMs,
      async () => {
        try {
          const view = await this.get(id);
          last = `${view.job.status} ${JSON.stringify(view.batch ? { ...view.batch, childIds: undefined } : null)}`;
          return ["DONE", "FAILED", "CANCELLED"].includes(view.job.status) ? view : undefined;
        } catch (error) {
          last = String(error);
          return undefined;
        }
      },
      200,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; last seen: ${last}\n${context()}`);
    });
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * The end state every fault must leave: each job DONE (one transcript, one "Done" line) or
 * FAILED with a reason the API shows, and one row per submission.
 */
async function assertSettledCleanly(api: Api, databaseUrl: string, ids: readonly string[]): Promise<Map<string, JobView>> {
  const views = new Map<string, JobView>();
  for (const id of ids) {
    const { job } = await api.get(id);
    views.set(id, job);
    assert.ok(job.status === "DONE" || job.status === "FAILED", `${id} ended ${job.status}`);
    if (job.status === "FAILED") assert.match(job.failureReason ?? "", /\S{3}/, `${id} FAILED without a reason`);
    const done = (await api.log(id)).filter((line) => line.message === "Done").length;
    assert.equal(done, job.status === "DONE" ? 1 : 0, `${id} (${job.status}) has ${done} "Done" lines`);
  }
  const db = await openDatabase(databaseUrl);
  try {
    const rows = await db.prisma.job.findMany({ where: { id: { in: [...ids] } }, include: { transcript: true } });
    assert.equal(rows.length, ids.length, "one job row per submission");
    for (const row of rows) assert.equal(row.transcript !== null, row.status === "DONE", `${row.id} is ${row.status} ${row.transcript ? "with" : "without"} a transcript`);
  } finally {
    await db.close();
  }
  return views;
}

/** Jobs of a database, counted: no submission may have produced a second row. */
async function countJobRows(databaseUrl: string): Promise<number> {
  const db = await openDatabase(databaseUrl);
  try {
    return await db.prisma.job.count();
  } finally {
    await db.close();
  }
}

/** After a fault: /live says 200 and a fresh job runs to DONE. */
async function assertServesFreshJob(api: Api, name: string, bytes: Uint8Array, timeoutMs = 60_000): Promise<string> {
  const live = await waitFor("/live to answer 200", 30_000, async () => {
    const answer = await api.live().catch(() => undefined);
    return answer?.status === 200 ? answer : undefined;
  });
  assert.deepEqual(live.body, { live: true });
  const mediaId = await api.uploadOk(name, bytes);
  const job = await api.trpc<JobView>("jobs.create", { mediaFileId: mediaId, language: "en" });
  const settled = await api.waitSettled(job.id, timeoutMs);
  assert.equal(settled.job.status, "DONE", settled.job.failureReason ?? "");
  return job.id;
}

/** A tmpfs of `sizeMiB` mounted on a fresh directory (root only): a disk that fills up for real. */
async function mountSmallDisk(prefix: string, sizeMiB: number): Promise<{ dir: string; release(): Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await run("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m`, "tmpfs", dir]);
  let released: Promise<void> | undefined;
  return {
    dir,
    release: () =>
      (released ??= (async () => {
        await run("umount", [dir]).catch(() => run("umount", ["-l", dir]));
        await fs.rm(dir, { recursive: true, force: true });
      })()),
  };
}

/** Bytes free on the filesystem holding `dir`. */
async function freeBytes(dir: string): Promise<number> {
  const stats = await fs.statfs(dir);
  return stats.bavail * stats.bsize;
}

/** Writes `file` until the filesystem refuses (ENOSPC): nothing is left for anyone else. */
async function fillDisk(file: string): Promise<void> {
  const handle = await fs.open(file, "w");
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size, 7);
      for (;;) {
        try {
          await handle.write(chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw error;
        }
      }
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** A free TCP port on loopback (for a server that cannot be told to pick one itself). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A PostgreSQL cluster of this test's own (never the shared one at 5432), which it may stop and start. */
type PrivateCluster = { port: number; url(database: string): string; stop(): Promise<void>; start(): Promise<void>; destroy(): Promise<void> };

function postgresBinDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).map(Number).filter(Number.isFinite).sort((a, b) => b - a);
  return versions.map((version) => path.join(base, String(version), "bin")).find((dir) => existsSync(path.join(dir, "pg_ctl"))) ?? null;
}

async function createPrivateCluster(): Promise<PrivateCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql");
  const { stdout } = await run("id", ["-u", "postgres"]);
  const uid = Number(stdout.trim());
  const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim());
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "faults-pg-"));
  await fs.chown(dir, uid, gid);
  const port = await freePort();
  // PostgreSQL refuses to run as root: its tools run as the postgres OS user.
  const asPostgres = (tool: string, args: string[]) => run("runuser", ["-u", "postgres", "--", path.join(bin, tool), ...args], { timeout: 60_000 });
  await asPostgres("initdb", ["-D", dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const start = async () => {
    await asPostgres("pg_ctl", ["start", "-w", "-t", "60", "-D", dir, "-l", path.join(dir, "server.log"), "-o", options]);
  };
  await start();
  return {
    port,
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    start,
    stop: async () => {
      await asPostgres("pg_ctl", ["stop", "-w", "-m", "fast", "-D", dir]);
    },
    destroy: async () => {
      await asPostgres("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", dir]).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP relay in front of a server: stopping it makes the server unreachable (connections refused) while the server keeps its state. */
type TcpRelay = { port: number; url: string; stop(): Promise<void>; start(): Promise<void> };

async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const next = net.createServer((client) => {
        const upstream = net.connect(targetPort, "127.0.0.1");
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on("close", () => sockets.delete(socket));
        }
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      });
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        port = (next.address() as net.AddressInfo).port;
        server = next;
        resolve();
      });
    });
  await start();
  return {
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    start,
    stop: async () => {
      const current = server;
      server = null;
      const closed = current ? new Promise((resolve) => current.close(resolve)) : Promise.resolve();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A speech clip re-encoded as MP3, so that transcribing it means decoding it (to TMPDIR, for PocketSphinx). */
async function speechMp3(dir: string): Promise<Buffer> {
  const clip = clips[0];
  assert.ok(clip, "pocketsphinx-testdata is installed");
  const out = path.join(dir, "speech.mp3");
  await ffmpeg(["-i", clip.path, "-c:a", "libmp3lame", "-b:a", "48k", out]);
  return fs.readFile(out);
}

describe("faults", { timeout: 175_000 }, () => {
  describe("disk full during an upload", { skip: !isRoot && "mounting a tmpfs needs root" }, () => {
    let disk: { dir: string; release(): Promise<void> };
    let database: TestDatabase;
    let server: ServerProcess | undefined;
    const api = new Api(() => server!.baseUrl);

    before(async () => {
      // DATA_DIR (the blob store) on an 8 MiB disk; the database elsewhere, so only uploads fill it.
      disk = await mountSmallDisk("faults-upload-disk-", 8);
      database = await createTestDatabase("sqlite");
      // The fault is the blob store's disk: a stand-in engine serves the fresh job afterwards.
      server = await startServerProcess({ env: { DATA_DIR: disk.dir, DATABASE_URL: database.url, PARALLEL: "1", ASR_ENGINE_MODULE: SLEEPY_ENGINE, SLEEPY_MIN_MS: "200" } });
    });
    after(async () => {
      await server?.kill("SIGKILL");
      await disk?.release();
      await database?.drop();
    });

    it("refuses an upload larger than the free space with a clean storage error, keeps no partial file, and keeps serving", async () => {
      const free = await freeBytes(disk.dir);
      const big = toneWav({ durationS: Math.ceil((free + 4 * 1024 * 1024) / 32_000) });
      assert.ok(big.length > free, `${big.length} bytes do not exceed the ${free} free`);
      const rowsBefore = await countJobRows(database.url);

      for (const attempt of [1, 2]) {
        const answer = await api.upload("huge.wav", big, 30_000);
        assert.equal(answer.status, 507, `attempt ${attempt}: ${JSON.stringify(answer.body)}`);
        assert.match(JSON.stringify(answer.body), /space|storage/i, "the body says the disk is full");
        assert.doesNotMatch(JSON.stringify(answer.body), /ENOSPC.*\/|at \w+ \(/, "no paths or stack traces reach the client");
      }
      // The same through the async API, which creates a job with the upload: no job may exist.
      const form = new FormData();
      form.append("file", new Blob([new Uint8Array(big)]), "huge.wav");
      form.append("language_code", "en-US");
      const asyncAnswer = await fetch(`${server!.baseUrl}/transcribe-batch-async`, { method: "POST", body: form, signal: AbortSignal.timeout(30_000) });
      assert.equal(asyncAnswer.status, 507, await asyncAnswer.text());
      assert.equal(await countJobRows(database.url), rowsBefore, "a refused upload creates no job");

      // Nothing half-written stays behind: the staging folder is empty and the space is back.
      const tmp = path.join(disk.dir, "blobs", "tmp");
      assert.deepEqual(existsSync(tmp) ? await fs.readdir(tmp) : [], []);
      assert.ok((await freeBytes(disk.dir)) >= free - 64 * 1024, "the partial upload's space was given back");

      const id = await assertServesFreshJob(api, "after-disk-full.wav", toneWav({ frequencyHz: 660, durationS: 2 }));
      await assertSettledCleanly(api, database.url, [id]);
      assert.equal(await countJobRows(database.url), rowsBefore + 1);
    });
  });

  describe("disk full while a job decodes its audio", { skip: (!isRoot && "mounting a tmpfs needs root") || (clips.length === 0 && "needs pocketsphinx-testdata") }, () => {
    let disk: { dir: string; release(): Promise<void> };
    let database: TestDatabase;
    let data: TempDir;
    let server: ServerProcess | undefined;
    let mp3: Buffer;
    const api = new Api(() => server!.baseUrl);
    const filler = () => path.join(disk.dir, "filler");

    before(async () => {
      disk = await mountSmallDisk("faults-tmpdir-", 8);
      database = await createTestDatabase("sqlite");
      data = await makeTempDir("faults-decode-");
      mp3 = await speechMp3(data.dir);
      server = await startServerProcess({
        env: {
          DATA_DIR: data.dir,
          DATABASE_URL: database.url,
          PARALLEL: "1",
          // PocketSphinx decodes into os.tmpdir(); tsx would cache compiled modules there too.
          TMPDIR: disk.dir,
          TSX_DISABLE_CACHE: "1",
          ASR_ENGINE: "pocketsphinx",
          // Five attempts, 0.3 s base backoff: a second or more between the first failure and the last,
          // time enough for the test to free the disk.
          JOB_MAX_ATTEMPTS: "5",
          JOB_RETRY_BASE_MS: "300",
        },
      });
    });
    after(async () => {
      await server?.kill("SIGKILL");
      await disk?.release();
      await database?.drop();
      await data?.cleanup();
    });

    /** How a full disk reads in a job's log and reasons: ffmpeg's errno, SQLite's SQLITE_FULL, the blob store's error. */
    const FULL_DISK = /No space left on device|database or disk is full|no storage space/i;
    const failedOnSpace = (lines: LogLine[]) => lines.filter((line) => /^Attempt \d of 5 failed, will retry in /.test(line.message) && FULL_DISK.test(line.message));
    const transcriptOf = async (id: string) => (await api.trpc<{ body: string }>("jobs.transcript", { id, format: "txt" }, "query")).body.trim();
    /** The clip's transcript with room on the disk: what every job on it must come back with. */
    let reference = "";

    it("retries a job whose decoding met a full TMPDIR (or needed no space), and it ends DONE with the whole transcript once space is back", async () => {
      const baseline = await assertServesFreshJob(api, "baseline.mp3", mp3, 90_000);
      reference = await transcriptOf(baseline);
      assert.ok(reference.split(/\s+/).length >= 5, `a real transcript: ${reference}`);

      await fillDisk(filler());
      const mediaId = await api.uploadOk("speech.mp3", mp3);
      const job = await api.trpc<JobView>("jobs.create", { mediaFileId: mediaId, language: "en" });
      // Either an attempt fails on the full disk and is scheduled again (a passing fault, not bad
      // audio), or decoding needs no temp space and the job simply ends. Never a false "no speech".
      const first = await waitFor("a retry after ENOSPC, or the job's end", 60_000, async () => {
        if (failedOnSpace(await api.log(job.id)).length > 0) return "retried" as const;
        const { job: view } = await api.get(job.id);
        return view.status === "DONE" || view.status === "FAILED" ? ("settled" as const) : undefined;
      });
      await fs.rm(filler());
      const settled = await api.waitSettled(job.id, 90_000, () => server!.output().slice(-3000));
      console.log(`# decoding with a full TMPDIR: ${first === "retried" ? `retried, DONE after ${settled.job.attempts} attempts` : `${settled.job.status} on attempt ${settled.job.attempts}, no retry`}`);
      assert.equal(settled.job.status, "DONE", settled.job.failureReason ?? "");
      // Not a transcript of whatever part of the audio fitted on the disk.
      assert.equal(await transcriptOf(job.id), reference);
      if (settled.job.attempts > 1) assert.match(settled.job.lastError ?? "", FULL_DISK);
      for (const line of await api.log(job.id)) assert.doesNotMatch(line.message, /database or disk is full/);
      await assertSettledCleanly(api, database.url, [baseline, job.id]);
      // Every attempt's scratch directory was removed, the failed ones included.
      assert.deepEqual((await fs.readdir(disk.dir)).filter((name) => name.startsWith("pocketsphinx-")), []);
      assert.equal((await api.live()).status, 200);
    });

    it("with TMPDIR full all along, ends a job DONE with the whole transcript or FAILED naming the full disk, then serves a fresh job", async () => {
      assert.ok(reference, "the first test ran");
      await fillDisk(filler());
      const mediaId = await api.uploadOk("speech-2.mp3", mp3);
      const job = await api.trpc<JobView>("jobs.create", { mediaFileId: mediaId, language: "en" });
      const settled = await api.waitSettled(job.id, 90_000, () => server!.output().slice(-3000));
      console.log(`# decoding with TMPDIR full all along: ${settled.job.status} after ${settled.job.attempts} attempts${settled.job.failureReason ? `: ${settled.job.failureReason}` : ""}`);
      // The database keeps no temporary files in TMPDIR: a full /tmp is never its failure (SQLITE_FULL).
      for (const line of await api.log(job.id)) assert.doesNotMatch(line.message, /database or disk is full/);
      if (settled.job.status === "FAILED") {
        assert.equal(settled.job.attempts, 5);
        assert.match(settled.job.failureReason ?? "", FULL_DISK);
        assert.match(settled.job.failureReason ?? "", /\(after 5 attempts\)$/);
        assert.equal(failedOnSpace(await api.log(job.id)).length, 4);
      } else {
        assert.equal(settled.job.status, "DONE");
        assert.equal(await transcriptOf(job.id), reference);
      }
      await fs.rm(filler());
      const fresh = await assertServesFreshJob(api, "speech-3.mp3", mp3, 90_000);
      assert.equal(await transcriptOf(fresh), reference);
      await assertSettledCleanly(api, database.url, [job.id, fresh]);
    });
  });

  describe("PostgreSQL stopped for 20 s mid-batch", { skip: (!isRoot && "a private PostgreSQL cluster is started as the postgres OS user") || (!postgresBinDir() && "needs PostgreSQL's server binaries") }, () => {
    const JOBS = 20;
    const OUTAGE_MS = 20_000;
    let cluster: PrivateCluster;
    let data: TempDir;
    let server: ServerProcess | undefined;
    let databaseUrl: string;
    const api = new Api(() => server!.baseUrl);

    before(async () => {
      cluster = await createPrivateCluster();
      const admin = new pg.Client({ connectionString: cluster.url("postgres") });
      await admin.connect();
      await admin.query(`CREATE DATABASE "faults"`);
      await admin.end();
      databaseUrl = cluster.url("faults");
      data = await makeTempDir("faults-pg-data-");
      server = await startServerProcess({
        env: {
          DATA_DIR: data.dir,
          DATABASE_URL: databaseUrl,
          // The fault is the database: a stand-in engine keeps the batch short and leaves the CPU to the rest.
          ASR_ENGINE_MODULE: SLEEPY_ENGINE,
          SLEEPY_MIN_MS: "1000",
          PARALLEL: "4",
          JOB_LEASE_MS: "2000",
          JOB_MAX_ATTEMPTS: "3",
          JOB_RETRY_BASE_MS: "300",
        },
      });
    });
    after(async () => {
      await server?.kill("SIGKILL");
      await cluster?.destroy();
      await data?.cleanup();
    });

    it(`finishes all ${JOBS} jobs of a batch, and /live names the outage while it lasts`, async () => {
      const mediaIds = await Promise.all(Array.from({ length: JOBS }, (_, i) => api.uploadOk(`tone-${i}.wav`, toneWav({ frequencyHz: 300 + i * 20, durationS: 2 }))));
      const batch = await api.trpc<JobView>("jobs.createBatch", { mediaFileIds: mediaIds, type: "batch_transcribe", language: "en" });
      // Stop the database with some children finished, some running and most still queued.
      const atStop = await waitFor("the batch under way", 60_000, async () => {
        const { batch: summary } = await api.get(batch.id);
        return summary && summary.done >= 2 && summary.running > 0 ? summary : undefined;
      });
      await cluster.stop();
      console.log(`# stopped PostgreSQL with ${atStop.done} children done, ${atStop.running} running, ${atStop.queued} queued`);
      const stoppedAt = Date.now();

      // While the database is down /live answers at once, 503, naming the database and why.
      const outage = await waitFor("/live to report the outage", 15_000, async () => {
        const answer = await api.live();
        return answer.status === 503 ? answer : undefined;
      });
      const reasons = (outage.body as { live: boolean; reasons: string[] }).reasons;
      const database = reasons.find((reason) => reason.startsWith("database:"));
      assert.ok(database, JSON.stringify(outage.body));
      // A reason that says why (not "", not Prisma's "Invalid `prisma.$queryRawUnsafe()` invocation:" header).
      assert.match(database, /^database: .*(reach|refused|connect|terminat|shut)/i, JSON.stringify(database));
      console.log(`# /live during the outage: ${JSON.stringify(outage.body)} in ${outage.ms} ms`);
      // The fault's duration: the server keeps answering probes, slowly or not, all along.
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        const answer = await api.live();
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        await sleep(1000);
      }
      await cluster.start();
      const restartedAt = Date.now();

      const view = await api.waitSettled(batch.id, 90_000, () => server!.output().slice(-4000));
      console.log(`# the batch settled ${Date.now() - restartedAt} ms after the database came back`);
      const summary = view.batch!;
      assert.equal(summary.total, JOBS);
      assert.equal(summary.queued + summary.running, 0);
      const children = await assertSettledCleanly(api, databaseUrl, summary.childIds);
      const counts = [...children.values()].reduce<Record<string, number>>((acc, job) => ({ ...acc, [job.status]: (acc[job.status] ?? 0) + 1 }), {});
      console.log(`# after a ${OUTAGE_MS / 1000} s database outage: ${JSON.stringify(counts)}, attempts ${JSON.stringify([...children.values()].map((job) => job.attempts))}`);
      // Nothing in this batch is wrong with the audio: the outage must not cost a job.
      assert.equal(summary.done, JOBS, JSON.stringify(counts));
      assert.equal(view.job.status, "DONE");

      const fresh = await assertServesFreshJob(api, "after-outage.wav", toneWav({ frequencyHz: 880, durationS: 2 }));
      await assertSettledCleanly(api, databaseUrl, [fresh]);
      assert.equal(await countJobRows(databaseUrl), JOBS + 2, "the batch, its children and the fresh job: nothing doubled");
    });
  });

  describe("S3 blob store unreachable mid-batch (SQS transport, remote workers)", () => {
    const JOBS = 20;
    const OUTAGE_MS = 8_000;
    let infra: ScaleOutInfra;
    let relay: TcpRelay;
    let database: TestDatabase;
    let temp: TempDir;
    let server: ServerProcess | undefined;
    const workers: { child: ChildProcess; output: () => string; exited: Promise<void> }[] = [];
    const api = new Api(() => server!.baseUrl);

    /** SQS straight to fauxqs, S3 through the relay: only the blob store goes away. */
    const awsEnv = (): Record<string, string> => {
      const { AWS_ENDPOINT_URL: _endpoint, ...rest } = infra.awsEnv;
      return { ...rest, AWS_ENDPOINT_URL_SQS: infra.endpoint, AWS_ENDPOINT_URL_S3: relay.url };
    };

    const startWorker = (index: number) => {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "gpu-worker/main.ts")], {
        cwd: ROOT,
        env: {
          ...process.env,
          ...awsEnv(),
          SQS_TASKS_QUEUE_URL: infra.tasksQueueUrl,
          SQS_RESULTS_QUEUE_URL: infra.resultsQueueUrl,
          S3_BUCKET: infra.bucket,
          ASR_ENGINE_MODULE: SLEEPY_ENGINE,
          SLEEPY_MIN_MS: "400",
          WORKER_SLOTS: "1",
          VISIBILITY_TIMEOUT_S: "3",
          DRAIN_TIMEOUT_S: "2",
          WORKER_DIR: path.join(temp.dir, `worker-${index}`),
          LOG_LEVEL: "info",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      workers.push({ child, output: () => output, exited });
    };

    before(async () => {
      infra = await startScaleOutInfra({ maxReceiveCount: 3, visibilityTimeoutS: 3 });
      relay = await startTcpRelay(infra.server.port);
      database = await createTestDatabase(TEST_PROVIDERS.includes("postgresql") ? "postgresql" : "sqlite");
      temp = await makeTempDir("faults-s3-");
      const { AWS_ENDPOINT_URL: _endpoint, ...controlPlaneEnv } = infra.controlPlaneEnv;
      server = await startServerProcess({
        env: { ...controlPlaneEnv, ...awsEnv(), DATABASE_URL: database.url, DATA_DIR: path.join(temp.dir, "control-plane"), JOB_LEASE_MS: "3000", JOB_MAX_ATTEMPTS: "3" },
      });
      startWorker(0);
      startWorker(1);
    });
    after(async () => {
      for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGKILL");
      await Promise.all(workers.map((worker) => worker.exited));
      await server?.kill("SIGKILL");
      await relay?.stop();
      await infra?.stop();
      await database?.drop();
      await temp?.cleanup();
    });

    it(`settles all ${JOBS} jobs of a batch, refuses uploads cleanly during the outage, and recovers`, async () => {
      const mediaIds = await Promise.all(Array.from({ length: JOBS }, (_, i) => api.uploadOk(`s3-tone-${i}.wav`, toneWav({ frequencyHz: 500 + i * 13, durationS: 2 }))));
      const batch = await api.trpc<JobView>("jobs.createBatch", { mediaFileIds: mediaIds, type: "batch_transcribe", language: "en" });
      await waitFor("the batch under way", 60_000, async () => {
        const { batch: summary } = await api.get(batch.id);
        return summary && summary.done >= 3 ? true : undefined;
      });
      await relay.stop();
      const stoppedAt = Date.now();

      // An upload while S3 is away: a clean JSON error, soon, and nothing left in the staging folder.
      const refused = await api.upload("during-outage.wav", toneWav({ frequencyHz: 1234, durationS: 1 }), 30_000);
      console.log(`# upload during the S3 outage: ${refused.status} ${JSON.stringify(refused.body)} in ${refused.ms} ms`);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.match(JSON.stringify(refused.body), /S3|blob store|storage/i);
      const staging = path.join(temp.dir, "control-plane", "s3-work", "staging");
      assert.deepEqual(existsSync(staging) ? await fs.readdir(staging) : [], []);

      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
      // The outage held the batch up: the workers could not fetch the media of the tasks they took.
      const held = (await api.get(batch.id)).batch!;
      assert.ok(held.done < JOBS, `the batch finished during the outage: ${JSON.stringify({ ...held, childIds: undefined })}`);
      await relay.start();
      const restoredAt = Date.now();

      const view = await api.waitSettled(batch.id, 120_000, () => `${server!.output().slice(-3000)}\n--- workers ---\n${workers.map((w) => w.output().slice(-1500)).join("\n")}`);
      console.log(`# the batch settled ${Date.now() - restoredAt} ms after S3 came back`);
      const summary = view.batch!;
      assert.equal(summary.total, JOBS);
      const children = await assertSettledCleanly(api, database.url, summary.childIds);
      const failed = [...children.values()].filter((job) => job.status === "FAILED");
      console.log(`# after an ${OUTAGE_MS / 1000} s S3 outage: ${summary.done} DONE, ${failed.length} FAILED${failed[0] ? ` (e.g. ${failed[0].failureReason})` : ""}`);
      for (const job of failed) assert.match(job.failureReason ?? "", /S3|blob|ECONNREFUSED|connect/i, `${job.id}: ${job.failureReason}`);
      // Reads ride out an outage this short (the store retries them): it must not cost a job.
      assert.equal(summary.done, JOBS, `${failed.length} FAILED`);
      assert.equal(view.job.status, "DONE");

      const fresh = await assertServesFreshJob(api, "after-s3-outage.wav", toneWav({ frequencyHz: 2222, durationS: 2 }));
      await assertSettledCleanly(api, database.url, [fresh]);
      assert.equal(await countJobRows(database.url), JOBS + 2, "the batch, its children and the fresh job: nothing doubled");
    });
  });
});
