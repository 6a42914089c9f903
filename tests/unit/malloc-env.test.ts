import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD, withMallocSettings } from "../../scripts/malloc-env.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * Page faults of each round of allocating, touching and freeing 4 × 8 MiB through glibc
 * (Node's ArrayBuffer allocator) in a fresh process with `env`. A single-threaded GC frees
 * the buffers before the round ends, so each round starts from the same heap.
 */
function faultsPerRound(env: NodeJS.ProcessEnv): number[] {
  const script = `
    const faults = [];
    for (let round = 0; round < 8; round++) {
      const before = process.resourceUsage().minorPageFault;
      let buffers = Array.from({ length: 4 }, () => Buffer.allocUnsafeSlow(8 * 1024 * 1024).fill(1));
      buffers = null;
      globalThis.gc();
      faults.push(process.resourceUsage().minorPageFault - before);
    }
    console.log(JSON.stringify(faults));`;
  const result = spawnSync(process.execPath, ["--expose-gc", "--single-threaded-gc", "-e", script], { env, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as number[];
}

describe("glibc allocator settings for processes that run ONNX sessions", () => {
  it("sets a 32 MiB mmap threshold and a 256 MiB trim threshold unless the operator set them", () => {
    assert.equal(MALLOC_MMAP_THRESHOLD, "33554432");
    assert.equal(MALLOC_TRIM_THRESHOLD, "268435456");
    const env = withMallocSettings({ PATH: "/bin" });
    assert.equal(env.MALLOC_MMAP_THRESHOLD_, "33554432");
    assert.equal(env.MALLOC_TRIM_THRESHOLD_, "268435456");
    assert.equal(env.PATH, "/bin");
    const own = withMallocSettings({ MALLOC_MMAP_THRESHOLD_: "131072", MALLOC_TRIM_THRESHOLD_: "131072" });
    assert.equal(own.MALLOC_MMAP_THRESHOLD_, "131072");
    assert.equal(own.MALLOC_TRIM_THRESHOLD_, "131072");
  });

  it("memory freed under the mmap threshold stays mapped for the next use (no page faults after the first round)", () => {
    // With only the mmap threshold set, glibc trims the freed 32 MiB off the heap's top and
    // faults it back in on the next round (about 8,000 faults a round, measured).
    const faults = faultsPerRound(withMallocSettings({ ...process.env }));
    const later = faults.slice(1).reduce((sum, count) => sum + count, 0);
    assert.ok(later < 1000, `rounds after the first faulted ${later} pages in all (${faults.join(", ")}); 32 MiB is 8,192 pages`);
  });

  it("both images set the values npm start sets", () => {
    for (const file of ["Dockerfile", "gpu-worker/Dockerfile"]) {
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      for (const [name, value] of [
        ["MALLOC_MMAP_THRESHOLD_", MALLOC_MMAP_THRESHOLD],
        ["MALLOC_TRIM_THRESHOLD_", MALLOC_TRIM_THRESHOLD],
      ] as const) {
        const values = [...text.matchAll(new RegExp(`${name}=(\\d+)`, "g"))].map((match) => match[1]);
        assert.deepEqual(values, [value], `${file} sets ${name} once, to ${value}`);
      }
    }
  });
});
