import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { once } from "node:events";
import { describe, it } from "node:test";
import { decodePcm } from "../../src/server/media/decode-pcm";
import os from "node:os";
import path from "node:path";
import { launchCount, launcherPid, launchProcess, type LaunchedProcess } from "../../src/server/media/process-launcher";
import { runProcess } from "../../src/server/media/run-process";
import { librivoxClips } from "../helpers/fixtures";

const node = process.execPath;

/** Collects a launched program's output and how it ended. */
async function finish(child: LaunchedProcess): Promise<{ stdout: Buffer; stderr: string; code: number | null; signal: NodeJS.Signals | null }> {
  const stdout: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  return { stdout: Buffer.concat(stdout), stderr, code, signal };
}

const parentOf = (pid: number) => Number(/^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

describe("process launcher (programs started without forking this process)", () => {
  it("runs a program from the launcher, not from this process, and returns its output byte for byte", async () => {
    // 8 MB of deterministic bytes, written in pieces, so frames of both streams interleave.
    // It stays until asked to go (SIGTERM), so its parent can be read while it runs.
    const script = "for (let i = 0; i < 8; i++) { process.stdout.write(Buffer.alloc(1 << 20, i * 37 + 1)); process.stderr.write('part ' + i + '\\n'); } setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(3))";
    const child = launchProcess(node, ["-e", script]);
    const finished = finish(child);
    let received = 0;
    await new Promise<void>((resolve) =>
      child.stdout.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received === 8 << 20) resolve();
      }),
    );
    assert.ok(child.pid, "the program's pid is known once it runs");
    assert.equal(parentOf(child.pid!), launcherPid(), "the launcher is the program's parent");
    assert.notEqual(launcherPid(), process.pid);
    child.kill("SIGTERM");
    const result = await finished;
    const expected = Buffer.concat(Array.from({ length: 8 }, (_, i) => Buffer.alloc(1 << 20, i * 37 + 1)));
    assert.equal(result.stdout.length, expected.length);
    assert.equal(createHash("sha256").update(result.stdout).digest("hex"), createHash("sha256").update(expected).digest("hex"));
    assert.equal(result.stderr, Array.from({ length: 8 }, (_, i) => `part ${i}\n`).join(""));
    assert.equal(result.code, 3);
  });

  it("runs programs side by side, each with its own output", async () => {
    const children = [1, 2, 3].map((n) => launchProcess(node, ["-e", `for (let i = 0; i < 200; i++) process.stdout.write('${n}'.repeat(1000))`]));
    const results = await Promise.all(children.map(finish));
    results.forEach((result, i) => assert.equal(result.stdout.toString(), String(i + 1).repeat(200_000)));
  });

  it("kills a program on request", async () => {
    const child = launchProcess(node, ["-e", "setInterval(() => {}, 1000); console.log('ready')"]);
    await once(child.stdout, "data");
    child.kill("SIGKILL");
    const result = await finish(child);
    assert.equal(result.code, null);
    assert.equal(result.signal, "SIGKILL");
  });

  it("reports a program that cannot start as an 'error' event", async () => {
    const child = launchProcess("/nonexistent/program", []);
    const [error] = (await once(child, "error")) as [NodeJS.ErrnoException];
    assert.equal(error.code, "ENOENT");
  });

  it("fails what was running when the launcher dies, and starts a new launcher for the next program", async () => {
    const child = launchProcess(node, ["-e", "setInterval(() => {}, 1000); console.log('ready')"]);
    await once(child.stdout, "data");
    const first = launcherPid()!;
    const program = child.pid!;
    process.kill(first, "SIGKILL");
    const [error] = (await once(child, "error")) as [Error];
    assert.match(error.message, /process launcher exited/);
    const next = launchProcess(node, ["-e", "process.stdout.write('again')"]);
    assert.equal((await finish(next)).stdout.toString(), "again");
    assert.notEqual(launcherPid(), first);
    // The orphaned program is not ours to reap; end it so the test leaves nothing behind.
    try {
      process.kill(program, "SIGKILL");
    } catch {
      // Already gone.
    }
  });

  it("runs runProcess's programs (ffprobe, conversions, PocketSphinx) in the working directory and environment asked for", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "launch-cwd-"));
    try {
      const script = "console.log(JSON.stringify({ ppid: process.ppid, cwd: process.cwd(), given: process.env.LAUNCH_GIVEN ?? null, later: process.env.LAUNCH_SET_LATER ?? null }))";
      const before = launchCount();
      const given = await runProcess(node, ["-e", script], { timeoutMs: 30_000, stdout: "capture", cwd: dir, env: { ...process.env, LAUNCH_GIVEN: "yes" } });
      assert.equal(launchCount(), before + 1, "started by the launcher");
      assert.deepEqual(JSON.parse(given.stdout), { ppid: launcherPid(), cwd: fs.realpathSync(dir), given: "yes", later: null });
      // Without an env, the caller's environment as it is at the call (as spawn() takes it),
      // not the launcher's copy from its own start.
      process.env.LAUNCH_SET_LATER = "now";
      const inherited = await runProcess(node, ["-e", script], { timeoutMs: 30_000, stdout: "capture" });
      assert.equal(JSON.parse(inherited.stdout).later, "now");
    } finally {
      delete process.env.LAUNCH_SET_LATER;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runProcess kills a launched program at its timeout and reports a missing binary", async () => {
    await assert.rejects(runProcess(node, ["-e", "setInterval(() => {}, 1000)"], { timeoutMs: 300 }), (error: Error) => error.name === "ProcessError" && /did not finish within 300 ms/.test(error.message));
    await assert.rejects(runProcess("/nonexistent/program", [], { timeoutMs: 30_000 }), /\/nonexistent\/program not found/);
  });

  it("decodes audio through it (decodePcm)", async () => {
    const before = launchCount();
    const samples = await decodePcm(librivoxClips()[0]!.path);
    assert.equal(launchCount(), before + 1, "ffmpeg was started by the launcher");
    assert.ok(samples.length > 16_000);
    await assert.rejects(decodePcm("/etc/hostname"), /could not be decoded/);
  });
});
