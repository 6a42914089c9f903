import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { removeStaleWorkDirs } from "../../src/server/asr/pocketsphinx-engine";
import { ConfigError, loadConfig } from "../../src/server/env";
import { describeError } from "../../src/server/errors";
import { principalOfKey } from "../../src/server/http/auth";
import { jsonDepth, parseBoundedJson } from "../../src/server/http/bounded-json";
import { contentTypeOfFormat } from "../../src/server/media/content-types";
import { redeliveryDelayS } from "../../src/worker/sqs-task-loop";
import { unlessAborted } from "../../src/server/storage/blob-store";
import { parseOpenFilesLimit } from "../../src/server/process-health";

describe("content types from the probe", () => {
  it("names media by the probed format and serves anything unknown as opaque bytes", () => {
    assert.equal(contentTypeOfFormat("wav", "x.html"), "audio/wav");
    assert.equal(contentTypeOfFormat("mp3", "x.mp3"), "audio/mpeg");
    assert.equal(contentTypeOfFormat("mov,mp4,m4a,3gp,3g2,mj2", "talk.m4a"), "audio/mp4");
    assert.equal(contentTypeOfFormat("mov,mp4,m4a,3gp,3g2,mj2", "talk.mp4"), "video/mp4");
    assert.equal(contentTypeOfFormat("matroska,webm", "a.webm"), "video/webm");
    assert.equal(contentTypeOfFormat("srt", "a.srt"), "text/plain; charset=utf-8");
    assert.equal(contentTypeOfFormat("html", "a.html"), "application/octet-stream");
    assert.equal(contentTypeOfFormat(null, "a.wav"), "application/octet-stream");
  });
});

describe("bounded JSON", () => {
  it("measures depth without recursion, even 200,000 levels deep", () => {
    assert.equal(jsonDepth(1), 0);
    assert.equal(jsonDepth({ a: [1, { b: 2 }] }), 3);
    const deep = JSON.parse(`${"[".repeat(200_000)}${"]".repeat(200_000)}`) as unknown;
    assert.ok(jsonDepth(deep, 64) > 64);
  });
  it("refuses text over its limit, invalid JSON and deep nesting with 400s naming the field", () => {
    const opts = { maxBytes: 100, limitName: "LIMIT" };
    assert.deepEqual(parseBoundedJson("config", '{"a":1}', opts), { a: 1 });
    assert.throws(() => parseBoundedJson("config", `"${"x".repeat(200)}"`, opts), /config.*LIMIT/);
    assert.throws(() => parseBoundedJson("config", "{", opts), /not valid JSON/);
    assert.throws(() => parseBoundedJson("config", `${"[".repeat(70)}${"]".repeat(70)}`, { maxBytes: 1000, limitName: "L" }), /nested more than 64/);
  });
});

describe("API keys", () => {
  it("accepts exactly the configured keys, whatever their lengths", () => {
    const keys = [
      { key: "short", userId: null },
      { key: "a-much-longer-key-of-another-length", userId: "alice" },
    ];
    assert.deepEqual(principalOfKey("short", keys), { kind: "operator" });
    assert.deepEqual(principalOfKey("a-much-longer-key-of-another-length", keys), { kind: "user", userId: "alice" });
    assert.equal(principalOfKey("shor", keys), null);
    assert.equal(principalOfKey("shortx", keys), null);
    assert.equal(principalOfKey("", keys), null);
  });
  it("reads key:user entries and refuses malformed or repeated ones", () => {
    assert.deepEqual(loadConfig({ API_KEYS: "ops-key, alice-key:alice ,bob:key:bob" }, []).apiKeys, [
      { key: "ops-key", userId: null },
      { key: "alice-key", userId: "alice" },
      { key: "bob:key", userId: "bob" },
    ]);
    assert.throws(() => loadConfig({ API_KEYS: "k:al ice" }, []), (error: unknown) => error instanceof ConfigError && /API_KEYS.*user names/.test(error.message));
    assert.throws(() => loadConfig({ API_KEYS: ":alice" }, []), (error: unknown) => error instanceof ConfigError && /API_KEYS.*no key/.test(error.message));
    assert.throws(() => loadConfig({ API_KEYS: "k:a,k:b" }, []), (error: unknown) => error instanceof ConfigError && /API_KEYS.*twice/.test(error.message));
  });
  it("refuses API_KEYS that is set but holds no key", () => {
    assert.throws(() => loadConfig({ API_KEYS: " , " }, []), (error: unknown) => error instanceof ConfigError && /API_KEYS.*holds no key/.test(error.message));
    assert.deepEqual(loadConfig({ API_KEYS: " a, b ,," }, []).apiKeys, [{ key: "a", userId: null }, { key: "b", userId: null }]);
    assert.deepEqual(loadConfig({}, []).apiKeys, []);
  });
});

describe("error descriptions", () => {
  it("use the first line that says something", () => {
    assert.equal(describeError(new Error("\n\nCan't reach database server\nmore")), "Can't reach database server");
    assert.equal(describeError(new Error("")), "Error");
  });
});

describe("process guards", () => {
  it("log an uncaught exception and an unhandled rejection as one line each and keep the process running", () => {
    const script = `
      import { installProcessGuards } from ${JSON.stringify(path.resolve("src/server/process-guards.ts"))};
      import { createLogger } from ${JSON.stringify(path.resolve("src/server/logger.ts"))};
      // What Emscripten modules (kissfft-js) install: a handler that rethrows.
      process.on("uncaughtException", (error) => { throw error; });
      installProcessGuards(createLogger("info"));
      setTimeout(() => { throw new Error("thrown in a callback"); }, 1);
      setTimeout(() => { void Promise.reject(new Error("rejected, never awaited")); }, 5);
      setTimeout(() => process.stdout.write("STILL-ALIVE\\n"), 50);
    `;
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    const output = result.stdout + result.stderr;
    assert.equal(result.status, 0, output);
    assert.match(output, /uncaught exception; still serving.*thrown in a callback/);
    assert.match(output, /unhandled promise rejection; still serving.*rejected, never awaited/);
    assert.match(output, /STILL-ALIVE/);
    assert.doesNotMatch(output, /\n\s+at /);
  });
});

describe("pocketsphinx work directories", () => {
  it("are removed when the process that made them is gone, and kept while it runs", async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "ps-sweep-"));
    try {
      const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
      const deadPid = Number(dead.stdout);
      await fs.mkdir(path.join(tmp, `pocketsphinx-${deadPid}-abc123`));
      await fs.writeFile(path.join(tmp, `pocketsphinx-${deadPid}-abc123`, "audio.s16le"), "pcm");
      await fs.mkdir(path.join(tmp, `pocketsphinx-${process.pid}-def456`));
      await fs.mkdir(path.join(tmp, "pocketsphinx-old999"));
      const old = new Date(Date.now() - 2 * 24 * 3600_000);
      await fs.utimes(path.join(tmp, "pocketsphinx-old999"), old, old);
      await fs.mkdir(path.join(tmp, "pocketsphinx-new999"));
      assert.equal(await removeStaleWorkDirs(tmp), 2);
      assert.deepEqual((await fs.readdir(tmp)).sort(), [`pocketsphinx-${process.pid}-def456`, "pocketsphinx-new999"]);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
});

describe("npm project configuration", () => {
  it("holds only settings npm knows (no warning on every command), and onnxruntime-node's download script stays off", async () => {
    const result = spawnSync("npm", ["config", "get", "fund"], { cwd: path.resolve("."), encoding: "utf8", timeout: 60_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Unknown project config/);
    const manifest = JSON.parse(await fs.readFile(path.resolve("package.json"), "utf8")) as { allowScripts?: Record<string, boolean> };
    // npm 11 reads allowScripts: the package's install script would download a CUDA build.
    assert.equal(manifest.allowScripts?.["onnxruntime-node"], false);
  });
});

describe("redelivery of a task that failed for a passing reason", () => {
  it("waits 1, 2, 4, … seconds, never longer than the visibility timeout", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 9].map((count) => redeliveryDelayS(count, 60)), [1, 2, 4, 8, 16, 60]);
    assert.equal(redeliveryDelayS(0, 60), 1);
  });
});

describe("waiting for a shared download", () => {
  it("ends with the caller's abort, not with the download", async () => {
    const never = new Promise<string>(() => undefined);
    const stop = new AbortController();
    const waiting = unlessAborted(never, stop.signal);
    stop.abort(new Error("the worker is stopping"));
    await assert.rejects(waiting, /the worker is stopping/);
    assert.equal(await unlessAborted(Promise.resolve("path"), new AbortController().signal), "path");
  });
});

describe("the descriptor limit", () => {
  it("is read from /proc/<pid>/limits, soft value, unlimited as none", () => {
    const limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n";
    assert.equal(parseOpenFilesLimit(limits), 1024);
    assert.equal(parseOpenFilesLimit(limits.replace("1024", "unlimited")), null);
    assert.equal(parseOpenFilesLimit("nothing here"), null);
  });
});
