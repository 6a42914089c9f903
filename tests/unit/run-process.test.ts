import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ProcessError, findExecutable, runProcess } from "../../src/server/media/run-process";

const node = process.execPath;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("runProcess", () => {
  it("captures stdout and resolves with the exit code", async () => {
    const result = await runProcess(node, ["-e", "process.stdout.write('hi\\nthere'); process.exit(3)"], { timeoutMs: 10_000, stdout: "capture" });
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout, "hi\nthere");
  });

  it("delivers stdout and stderr lines, including \\r-separated ones", async () => {
    const out: string[] = [];
    const err: string[] = [];
    await runProcess(node, ["-e", "console.log('a\\nb'); process.stderr.write('x\\ry\\nz')"], {
      timeoutMs: 10_000,
      onStdoutLine: (line) => out.push(line),
      onStderrLine: (line) => err.push(line),
    });
    assert.deepEqual(out, ["a", "b"]);
    assert.deepEqual(err, ["x", "y", "z"]);
  });

  it("keeps only the tail of stderr", async () => {
    const result = await runProcess(node, ["-e", "for (let i = 0; i < 5000; i++) console.error('line ' + i)"], { timeoutMs: 10_000, stderrTailBytes: 1024 });
    assert.ok(result.stderrTail.length <= 1024);
    assert.match(result.stderrTail, /line 4999\n$/);
  });

  it("kills the child on timeout", async () => {
    let pid = 0;
    const started = Date.now();
    await assert.rejects(
      runProcess(node, ["-e", "console.log(process.pid); setInterval(() => {}, 1000)"], {
        timeoutMs: 300,
        onStdoutLine: (line) => {
          pid = Number(line);
        },
      }),
      (error: unknown) => error instanceof ProcessError && error.kind === "timeout",
    );
    assert.ok(Date.now() - started < 5000);
    assert.ok(pid > 0 && !isAlive(pid));
  });

  it("kills the child on abort and rejects with the abort reason", async () => {
    const controller = new AbortController();
    let pid = 0;
    const run = runProcess(node, ["-e", "console.log(process.pid); setInterval(() => {}, 1000)"], {
      timeoutMs: 60_000,
      signal: controller.signal,
      onStdoutLine: (line) => {
        pid = Number(line);
        controller.abort();
      },
    });
    await assert.rejects(run, { name: "AbortError" });
    assert.ok(pid > 0 && !isAlive(pid));
  });

  it("rejects when already aborted, without spawning", async () => {
    await assert.rejects(runProcess("/nonexistent/binary", [], { timeoutMs: 1000, signal: AbortSignal.abort() }), { name: "AbortError" });
  });

  it("reports a missing binary clearly", async () => {
    await assert.rejects(runProcess("/nonexistent/binary", [], { timeoutMs: 1000 }), (error: unknown) => {
      return error instanceof ProcessError && error.kind === "spawn-failed" && error.message === "/nonexistent/binary not found";
    });
  });

  it("kills a child that floods stdout past the limit", async () => {
    await assert.rejects(
      runProcess(node, ["-e", "const s = 'x'.repeat(65536); setInterval(() => process.stdout.write(s), 1)"], { timeoutMs: 10_000, stdout: "capture", maxStdoutBytes: 1 << 20 }),
      (error: unknown) => error instanceof ProcessError && error.kind === "stdout-too-large",
    );
  });
});

describe("findExecutable", () => {
  it("finds binaries on PATH and checks explicit paths", async () => {
    assert.equal(await findExecutable("node", `/nonexistent:${process.execPath.replace(/\/node$/, "")}`), process.execPath);
    assert.equal(await findExecutable("definitely-not-a-binary-xyz"), null);
    assert.equal(await findExecutable("/tmp"), null);
    assert.equal(await findExecutable(process.execPath), process.execPath);
  });
});
