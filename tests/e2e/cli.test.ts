import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { makeTempDir, sharedTempDir, type TempDir } from "../helpers/fixtures";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { toneWav } from "../helpers/wav";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

type CliResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

/** A running CLI: its output so far, a wait for a line of it, and its end. */
type CliProcess = {
  child: ChildProcess;
  stderr(): string;
  /** Resolves once stderr matches `pattern`, or once the process has exited (whichever is first). */
  stderrMatches(pattern: RegExp): Promise<void>;
  exited: Promise<CliResult>;
};

/** Starts the CLI as a user would (the bin's entry), collecting its output. */
function startCli(args: string[], env: Record<string, string> = {}): CliProcess {
  // A scratch working directory: the CLI keeps its resume state in the current directory when there is no --out.
  const child = spawn(process.execPath, [path.join(ROOT, "cli/bin.mjs"), ...args], { cwd: sharedTempDir(), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const listener of listeners) listener();
  });
  const exited = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child,
    stderr: () => stderr,
    stderrMatches: (pattern) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!pattern.test(stderr)) return;
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
        void exited.then(() => resolve());
      }),
    exited,
  };
}

/** Runs the CLI to its end. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).exited;
}

/** A promise and the function that settles it, for events a test waits on. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The batch id the upload command printed. */
function batchIdOf(stdout: string): string {
  const id = /^batch (\w+):/m.exec(stdout)?.[1];
  assert.ok(id, `no batch in: ${stdout}`);
  return id;
}

describe("transcribe-cli against a running server", { timeout: 180_000 }, () => {
  let t: TestApp;
  let temp: TempDir;
  let env: Record<string, string>;

  before(async () => {
    t = await startTestApp("sqlite", { ASR_ENGINE_MODULE: path.join(ROOT, "bench/instant-engine.ts"), PARALLEL: "2" });
    temp = await makeTempDir("cli-");
    env = { TRANSCRIBE_SERVER: t.baseUrl };
  });
  after(async () => {
    await t.close();
    await temp.cleanup();
  });

  it("uploads a folder of five files with --wait, writes their SRTs, flags what it cannot send, and skips everything on a re-run", async () => {
    const input = temp.file("recordings");
    await fs.mkdir(path.join(input, "day-2"), { recursive: true });
    for (let i = 0; i < 5; i++) await fs.writeFile(path.join(input, i < 3 ? "" : "day-2", `take-${i}.wav`), toneWav({ frequencyHz: 300 + i * 50, durationS: 2 }));
    await fs.writeFile(path.join(input, "notes.txt"), "not media");
    const out = temp.file("out");

    const first = await cli(["upload", input, "--op", "srt", "--wait", "--out", out, "--concurrency", "3"], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /skipped \(unsupported for srt\): .*notes\.txt/);
    assert.match(first.stdout, /batch \w+: 5 srt job\(s\)/);
    // --out mirrors the input folder: day-2's files land in out/day-2.
    const written = (await fs.readdir(out, { recursive: true })).filter((name) => name.endsWith(".srt")).sort();
    assert.deepEqual(written, ["day-2/take-3.srt", "day-2/take-4.srt", "take-0.srt", "take-1.srt", "take-2.srt"].map((name) => path.join(...name.split("/"))));
    for (const name of written) assert.match(await fs.readFile(path.join(out, name), "utf8"), /^1\n00:00:00,000 --> /);

    const again = await cli(["upload", input, "--op", "srt", "--wait", "--out", out], env);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /batch/, "nothing was uploaded or queued again");
    assert.equal((again.stderr.match(/done before/g) ?? []).length, 5);
  });

  it("reports a refused upload per file and finishes the others", async () => {
    const input = temp.file("mixed");
    await fs.mkdir(input);
    await fs.writeFile(path.join(input, "good-1.wav"), toneWav({ frequencyHz: 900, durationS: 1 }));
    await fs.writeFile(path.join(input, "good-2.wav"), toneWav({ frequencyHz: 950, durationS: 1 }));
    await fs.writeFile(path.join(input, "broken.wav"), Buffer.from("RIFF this is not really a wav file at all"));
    const result = await cli(["upload", input, "--op", "transcribe", "--format", "txt", "--wait"], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /upload failed: .*broken\.wav: /);
    assert.equal(await fs.readFile(path.join(input, "good-1.txt"), "utf8").then((text) => text.trim().length > 0), true);
    await fs.access(path.join(input, "good-2.txt"));
  });

  it("shows status, lists jobs, and downloads a transcript", async () => {
    const listed = await cli(["list", "--limit", "5"], env);
    assert.equal(listed.code, 0, listed.stderr);
    const jobId = /^(\w+)\s+DONE\s+batch_transcribe/m.exec(listed.stdout)?.[1];
    assert.ok(jobId, listed.stdout);
    const status = await cli(["status", jobId], env);
    assert.equal(JSON.parse(status.stdout).batch.done, 2);
    const child = JSON.parse(status.stdout).batch.childIds[0] as string;
    const download = await cli(["download", child, "--format", "vtt", "--out", temp.file("downloads")], env);
    assert.equal(download.code, 0, download.stderr);
    assert.match(await fs.readFile(download.stdout.trim(), "utf8"), /^WEBVTT/);
    const usage = await cli(["bogus"], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stdout, /transcribe-cli upload <files\|dirs\.\.\.>/);
  });

  it("mirrors the input folders under --out, so a/x.wav and b/x.wav get a/x.srt and b/x.srt, and refuses outputs that would still clash before uploading anything", async () => {
    const input = temp.file("same-names");
    for (const [dir, hz] of [["a", 400], ["b", 600]] as const) {
      await fs.mkdir(path.join(input, dir), { recursive: true });
      await fs.writeFile(path.join(input, dir, "x.wav"), toneWav({ frequencyHz: hz, durationS: 1 }));
    }
    const out = temp.file("same-names-out");
    const files = [path.join(input, "a", "x.wav"), path.join(input, "b", "x.wav")];

    const first = await cli(["upload", ...files, "--op", "srt", "--wait", "--out", out], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /batch \w+: 2 srt job\(s\)/);
    for (const dir of ["a", "b"]) assert.match(await fs.readFile(path.join(out, dir, "x.srt"), "utf8"), /^1\n00:00:00,000 --> /);
    await assert.rejects(fs.access(path.join(out, "x.srt")), "nothing is written flat into --out");
    // The resume state tells the two apart by their full paths, each with its own job.
    const state = JSON.parse(await fs.readFile(path.join(out, ".transcribe-cli.json"), "utf8")) as { files: Record<string, { jobId?: string; done: boolean }> };
    const entries = files.map((file) => state.files[file]);
    assert.ok(entries.every((entry) => entry?.done && entry.jobId), JSON.stringify(state));
    assert.notEqual(entries[0]!.jobId, entries[1]!.jobId);

    // A re-run finds both done and sends nothing again.
    const again = await cli(["upload", ...files, "--op", "srt", "--wait", "--out", out], env);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /batch/);
    assert.equal((again.stderr.match(/done before/g) ?? []).length, 2);

    // x.wav and x.mp3 in one folder would both write x.srt: refused, and nothing uploaded.
    const clash = temp.file("clash");
    await fs.mkdir(clash);
    await fs.writeFile(path.join(clash, "x.wav"), toneWav({ durationS: 1 }));
    await fs.writeFile(path.join(clash, "x.mp3"), "never sent");
    const mediaBefore = await t.app.database.prisma.mediaFile.count();
    const refused = await cli(["upload", clash, "--op", "srt", "--out", temp.file("clash-out")], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Nothing was uploaded: these would write the same output file/);
    assert.match(refused.stderr, new RegExp(`x\\.srt <- .*x\\.mp3, .*x\\.wav`));
    assert.doesNotMatch(refused.stdout, /batch/);
    assert.equal(await t.app.database.prisma.mediaFile.count(), mediaBefore, "no upload was made");
  });

  it("downloads every finished child of a batch named after its file, reports the children that are not done (exit 1), and refuses clashing names", async () => {
    const input = temp.file("to-download");
    await fs.mkdir(input);
    for (const [i, name] of ["alpha", "beta", "gamma"].entries()) await fs.writeFile(path.join(input, `${name}.wav`), toneWav({ frequencyHz: 300 + i * 100, durationS: 1 }));
    const uploaded = await cli(["upload", input, "--op", "srt", "--out", temp.file("to-download-state")], env);
    assert.equal(uploaded.code, 0, uploaded.stderr);
    const batchId = batchIdOf(uploaded.stdout);
    await t.app.jobs.waitForSettled(batchId, 60_000);
    const children = await t.app.jobs.list({ parentId: batchId, order: "oldest", limit: 10 });
    const gamma = children.jobs.find((job) => job.media?.originalName === "gamma.wav");
    assert.ok(gamma);
    // Stands in for a child that failed: the instant engine never fails one, and FAILED is final,
    // so nothing on the server changes it back while the CLI reads it.
    await t.app.database.prisma.job.update({ where: { id: gamma.id }, data: { status: "FAILED", failureReason: "made to fail by the test" } });

    const out = temp.file("downloaded-batch");
    const download = await cli(["download", batchId, "--format", "vtt", "--out", out], env);
    assert.equal(download.code, 1, download.stderr);
    assert.deepEqual((await fs.readdir(out)).sort(), ["alpha.vtt", "beta.vtt"]);
    for (const name of ["alpha.vtt", "beta.vtt"]) assert.match(await fs.readFile(path.join(out, name), "utf8"), /^WEBVTT/);
    assert.deepEqual(download.stdout.trim().split("\n").sort(), [path.join(out, "alpha.vtt"), path.join(out, "beta.vtt")]);
    assert.match(download.stderr, new RegExp(`failed: ${gamma.id} \\(gamma\\.wav\\): made to fail by the test`));
    assert.match(download.stderr, /2 of 3 output\(s\) written, 1 not done/);

    // Two children whose files were both called clip.wav would write one clip.vtt: refused.
    const twins = temp.file("twins");
    for (const dir of ["one", "two"]) {
      await fs.mkdir(path.join(twins, dir), { recursive: true });
      await fs.writeFile(path.join(twins, dir, "clip.wav"), toneWav({ frequencyHz: dir === "one" ? 700 : 800, durationS: 1 }));
    }
    const twinUpload = await cli(["upload", twins, "--op", "srt", "--out", temp.file("twins-state")], env);
    assert.equal(twinUpload.code, 0, twinUpload.stderr);
    const twinBatch = batchIdOf(twinUpload.stdout);
    await t.app.jobs.waitForSettled(twinBatch, 60_000);
    const twinOut = temp.file("twins-downloaded");
    const refused = await cli(["download", twinBatch, "--format", "vtt", "--out", twinOut], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`Nothing was downloaded from batch ${twinBatch}: these would write the same output file`));
    assert.match(refused.stderr, /clip\.vtt <- \w+ \(clip\.wav\), \w+ \(clip\.wav\)/);
    await assert.rejects(fs.access(twinOut), "nothing was written");
  });

  it("stops cleanly on Ctrl-C during the first uploads, and the re-run leaves exactly one media row and one job per file", async () => {
    const input = temp.file("interrupted");
    await fs.mkdir(input);
    // 32 MB: far more than the socket buffers hold, so its upload is still being sent when stopped.
    await fs.writeFile(path.join(input, "interrupt-big.wav"), toneWav({ durationS: 1000 }));
    await fs.writeFile(path.join(input, "interrupt-small.wav"), toneWav({ frequencyHz: 1200, durationS: 1 }));
    const out = temp.file("interrupted-out");

    // Hold the server at the two moments that matter, so Ctrl-C lands between them every time:
    // the small file received whole and its row written but not yet answered (the CLI must not
    // lose its id), and the big one with its first bytes stored and the rest still on the way
    // (the CLI must cut it off, and the server then keeps nothing).
    const media = t.app.media;
    const originalStage = media.stage;
    const originalRecord = media.record;
    const release = deferred();
    const smallRecorded = deferred();
    const bigStarted = deferred();
    media.stage = (...args: Parameters<typeof originalStage>) => {
      const [source, meta, ...rest] = args;
      if (meta.originalName !== "interrupt-big.wav") return originalStage.apply(media, args);
      async function* holdAfterFirstChunk(chunks: AsyncIterable<Buffer>) {
        let first = true;
        for await (const chunk of chunks) {
          yield chunk;
          if (first) {
            first = false;
            bigStarted.resolve();
            await release.promise;
          }
        }
      }
      return originalStage.call(media, Readable.from(holdAfterFirstChunk(source)), meta, ...rest);
    };
    media.record = async (...args: Parameters<typeof originalRecord>) => {
      const row = await originalRecord.apply(media, args);
      if (row.originalName === "interrupt-small.wav") {
        smallRecorded.resolve();
        await release.promise;
      }
      return row;
    };
    let first: CliResult;
    try {
      const run = startCli(["upload", input, "--op", "srt", "--out", out, "--concurrency", "2"], env);
      let signalled = false;
      const endedEarly = run.exited.then((result) => {
        if (!signalled) throw new Error(`the CLI ended before it was interrupted: ${result.stderr}`);
      });
      await Promise.race([Promise.all([smallRecorded.promise, bigStarted.promise]), endedEarly]);
      signalled = true;
      run.child.kill("SIGINT");
      await run.stderrMatches(/interrupted/);
      release.resolve();
      first = await run.exited;
    } finally {
      release.resolve();
      media.stage = originalStage;
      media.record = originalRecord;
    }

    const rerun = await cli(["upload", input, "--op", "srt", "--out", out, "--wait"], env);
    assert.equal(rerun.code, 0, rerun.stderr);
    const rows = await t.app.database.prisma.mediaFile.findMany({ where: { originalName: { in: ["interrupt-big.wav", "interrupt-small.wav"] } } });
    assert.deepEqual(rows.map((row) => row.originalName).sort(), ["interrupt-big.wav", "interrupt-small.wav"], "one media row per file");
    const jobs = await t.app.database.prisma.job.findMany({ where: { mediaFileId: { in: rows.map((row) => row.id) } } });
    assert.deepEqual(jobs.map((job) => job.type).sort(), ["generate_srt", "generate_srt"], "one job per file");
    for (const name of ["interrupt-big.srt", "interrupt-small.srt"]) await fs.access(path.join(out, name));

    assert.equal(first.code, 130, `exit status after Ctrl-C (signal ${first.signal}): ${first.stderr}`);
    assert.match(first.stderr, /interrupted: .*re-run the same command to continue/);
    assert.match(first.stderr, /stopped\s+interrupt-big\.wav/, "the upload still being sent was cut off, not finished");
  });

  it("names the method, the URL and the cause of a network failure, never the API key", async () => {
    const port = await closedPort();
    const server = `http://127.0.0.1:${port}`;
    const secret = "cli-secret-never-printed";
    const listed = await cli(["list", "--server", server, "--api-key", secret]);
    assert.equal(listed.code, 1);
    assert.match(listed.stderr, new RegExp(`GET ${server}/api/trpc/jobs\\.list failed: .*ECONNREFUSED`));

    const download = await cli(["download", "some-job", "--server", server, "--api-key", secret, "--out", temp.file("never")]);
    assert.equal(download.code, 1);
    assert.match(download.stderr, new RegExp(`GET ${server}/api/trpc/jobs\\.get failed: .*ECONNREFUSED`));

    const input = temp.file("unsent");
    await fs.mkdir(input);
    await fs.writeFile(path.join(input, "unsent.wav"), toneWav({ durationS: 1 }));
    const uploaded = await cli(["upload", input, "--server", server, "--api-key", secret, "--out", temp.file("unsent-out")]);
    assert.equal(uploaded.code, 1);
    assert.match(uploaded.stderr, new RegExp(`upload failed: .*unsent\\.wav: POST ${server}/api/uploads failed: .*ECONNREFUSED`));

    for (const result of [listed, download, uploaded]) assert.doesNotMatch(result.stderr, new RegExp(secret));
  });
});

describe("transcribe-cli against a server that requires an API key", { timeout: 180_000 }, () => {
  let t: TestApp;
  let temp: TempDir;

  before(async () => {
    t = await startTestApp("sqlite", { ASR_ENGINE_MODULE: path.join(ROOT, "bench/instant-engine.ts"), PARALLEL: "2", API_KEYS: "cli-secret" });
    temp = await makeTempDir("cli-key-");
  });
  after(async () => {
    await t.close();
    await temp.cleanup();
  });

  it("sends --api-key (or $TRANSCRIBE_API_KEY) on uploads, tRPC calls and output downloads, and says so when it is missing", async () => {
    const input = temp.file("clips");
    await fs.mkdir(input);
    for (let i = 0; i < 2; i++) await fs.writeFile(path.join(input, `clip-${i}.wav`), toneWav({ frequencyHz: 500 + i * 100, durationS: 1 }));

    const anonymous = await cli(["list"], { TRANSCRIBE_SERVER: t.baseUrl });
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /Missing Authorization: Bearer <API key> header/);

    // convert: its outputs are media files, fetched over plain HTTP with the key.
    const out = temp.file("out");
    const converted = await cli(["upload", input, "--op", "convert", "--convert-to", "wav", "--wait", "--out", out, "--api-key", "cli-secret", "--server", t.baseUrl]);
    assert.equal(converted.code, 0, converted.stderr);
    for (let i = 0; i < 2; i++) assert.ok((await fs.stat(path.join(out, `clip-${i}.converted.wav`))).size > 1000);

    const listed = await cli(["list"], { TRANSCRIBE_SERVER: t.baseUrl, TRANSCRIBE_API_KEY: "cli-secret" });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /DONE\s+batch_convert/);
  });
});
