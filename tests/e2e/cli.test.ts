import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { makeTempDir, sharedTempDir, type TempDir } from "../helpers/fixtures";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { toneWav } from "../helpers/wav";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Runs the CLI as a user would (the bin's entry), collecting its output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A scratch working directory: the CLI keeps its resume state in the current directory when there is no --out.
    const child = spawn(process.execPath, [path.join(ROOT, "cli/bin.mjs"), ...args], { cwd: sharedTempDir(), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
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
    const written = (await fs.readdir(out)).filter((name) => name.endsWith(".srt")).sort();
    assert.deepEqual(written, ["take-0.srt", "take-1.srt", "take-2.srt", "take-3.srt", "take-4.srt"]);
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
