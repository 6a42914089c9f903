import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { MALLOC_MMAP_THRESHOLD, withMallocSettings } from "../../scripts/malloc-env.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("glibc allocator settings for processes that run ONNX sessions", () => {
  it("sets a 32 MiB mmap threshold unless the operator set one", () => {
    assert.equal(MALLOC_MMAP_THRESHOLD, "33554432");
    assert.equal(withMallocSettings({ PATH: "/bin" }).MALLOC_MMAP_THRESHOLD_, "33554432");
    assert.equal(withMallocSettings({ PATH: "/bin" }).PATH, "/bin");
    assert.equal(withMallocSettings({ MALLOC_MMAP_THRESHOLD_: "131072" }).MALLOC_MMAP_THRESHOLD_, "131072");
  });

  it("both images set the value npm start sets", () => {
    for (const file of ["Dockerfile", "gpu-worker/Dockerfile"]) {
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      const values = [...text.matchAll(/MALLOC_MMAP_THRESHOLD_=(\d+)/g)].map((match) => match[1]);
      assert.deepEqual(values, [MALLOC_MMAP_THRESHOLD], `${file} sets MALLOC_MMAP_THRESHOLD_ once, to ${MALLOC_MMAP_THRESHOLD}`);
    }
  });
});
