import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { promisify } from "node:util";
import { installedModelDir, listInstalledModels, modelCacheDir, ModelNotInstalledError, PARTIAL_DIR, readManifest, resolveModelDir } from "../../src/server/asr/whisper/model-cache";
import { ChecksumMismatchError, downloadModel, ModelDownloadError, selectModelFiles, type DownloadModelOptions } from "../../src/server/asr/whisper/model-download";
import { FIXTURE_REPO, LARGE_FILE_BYTES, startFakeModelHub, type FakeModelHub } from "../helpers/fake-model-hub";
import { makeTempDir, type TempDir } from "../helpers/fixtures";

const run = promisify(execFile);
const ENCODER = "onnx/encoder_model.onnx";
const FP32_FILES = ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", ENCODER, "onnx/decoder_model_merged.onnx"];

describe("models download from a (fake) Hugging Face hub", () => {
  let hub: FakeModelHub;
  let tmp: TempDir;
  let cacheDir: string;
  let cacheCount = 0;

  before(async () => {
    hub = await startFakeModelHub();
    tmp = await makeTempDir("model-download-test-");
  });
  after(async () => {
    await hub.close();
    await tmp.cleanup();
  });
  beforeEach(() => {
    hub.setBehaviour({});
    hub.requests.length = 0;
    cacheDir = path.join(tmp.dir, `cache-${++cacheCount}`);
  });

  const download = (options: Partial<DownloadModelOptions> = {}) =>
    downloadModel({ repo: FIXTURE_REPO, variant: "fp32", cacheDir, endpoint: hub.endpoint, ...options });

  /** Asserts the installed directory holds exactly the hub's bytes for these files. */
  async function assertInstalled(dir: string, files: string[]): Promise<void> {
    for (const file of files) {
      const installed = await fs.readFile(path.join(dir, file));
      assert.ok(installed.equals(hub.files.get(file)!.content), `${file} differs from the hub's copy`);
    }
  }

  it("installs one variant with a manifest, and the cache resolves it by name", async () => {
    const progress = new Map<string, number>();
    const result = await download({ onProgress: (file, bytes, total) => progress.set(file, bytes / total) });

    assert.equal(result.dir, installedModelDir(cacheDir, FIXTURE_REPO, "fp32"));
    assert.equal(result.dir, path.join(cacheDir, "onnx-community--whisper-fixture", "fp32"));
    await assertInstalled(result.dir, FP32_FILES);
    // Only the chosen variant and the JSON files: no README, no other variants' weights.
    const manifest = await readManifest(result.dir);
    assert.ok(manifest);
    assert.deepEqual(manifest.files.map((file) => file.path).sort(), [...FP32_FILES].sort());
    assert.equal(manifest.repo, FIXTURE_REPO);
    assert.equal(manifest.revision, "main");
    assert.equal(manifest.variant, "fp32");
    assert.ok(!Number.isNaN(Date.parse(manifest.downloaded_at)));
    const encoder = manifest.files.find((file) => file.path === ENCODER)!;
    assert.equal(encoder.size, LARGE_FILE_BYTES);
    assert.equal(encoder.sha256, createHash("sha256").update(hub.files.get(ENCODER)!.content).digest("hex"));
    assert.equal(progress.get(ENCODER), 1);
    // LFS files went through the 302 to the "CDN".
    assert.ok(hub.requests.some((request) => request.status === 302 && request.file === ENCODER));
    // Staging is gone once installed.
    await assert.rejects(fs.stat(path.join(cacheDir, PARTIAL_DIR)));

    assert.equal(await resolveModelDir({ modelName: FIXTURE_REPO, variant: "fp32", cacheDir }), result.dir);
    assert.equal(await resolveModelDir({ modelDir: "/explicit/dir", modelName: FIXTURE_REPO, variant: "fp32", cacheDir }), "/explicit/dir");
    await assert.rejects(resolveModelDir({ modelName: FIXTURE_REPO, variant: "quantized", cacheDir }), (error: Error) => {
      assert.ok(error instanceof ModelNotInstalledError);
      assert.match(error.message, /npm run models -- download onnx-community\/whisper-fixture --variant quantized/);
      return true;
    });
    assert.deepEqual((await listInstalledModels(cacheDir)).map((model) => `${model.manifest.repo}/${model.manifest.variant}`), [`${FIXTURE_REPO}/fp32`]);

    // A second run finds the install up to date and transfers nothing.
    hub.requests.length = 0;
    const again = await download();
    assert.equal(again.upToDate, true);
    assert.equal(hub.requests.filter((request) => request.file).length, 0);
  });

  it("picks the variant's files, falling back to the split decoder", async () => {
    const quantized = await download({ variant: "quantized" });
    assert.deepEqual(
      quantized.manifest.files.map((file) => file.path).filter((file) => file.startsWith("onnx/")),
      ["onnx/encoder_model_quantized.onnx", "onnx/decoder_model_merged_quantized.onnx"],
    );
    const fp16 = await download({ variant: "fp16" });
    assert.deepEqual(
      fp16.manifest.files.map((file) => file.path).filter((file) => file.startsWith("onnx/")),
      ["onnx/encoder_model_fp16.onnx", "onnx/decoder_model_fp16.onnx", "onnx/decoder_with_past_model_fp16.onnx"],
    );
    await assertInstalled(fp16.dir, fp16.manifest.files.map((file) => file.path));
  });

  it("resumes an interrupted transfer with a Range request", async () => {
    const cutAt = 600_000;
    hub.setBehaviour({ cutAfter: { path: ENCODER, bytes: cutAt } });
    await assert.rejects(download(), (error: Error) => {
      assert.ok(error instanceof ModelDownloadError);
      assert.match(error.message, /onnx\/encoder_model\.onnx interrupted after \d+ of 1500000 bytes.*run again to resume/);
      return true;
    });
    // Nothing installed, but the part file kept what arrived.
    assert.equal(await readManifest(installedModelDir(cacheDir, FIXTURE_REPO, "fp32")), undefined);
    const part = path.join(cacheDir, PARTIAL_DIR, "onnx-community--whisper-fixture", "fp32", `${ENCODER}.part`);
    const kept = (await fs.stat(part)).size;
    assert.ok(kept > 0 && kept <= cutAt, `part file holds ${kept} bytes`);

    const result = await download();
    const ranges = hub.contentRequests(ENCODER).map((request) => request.range);
    assert.equal(ranges.length, 2);
    assert.equal(ranges[0], undefined);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? "")?.[1]);
    assert.ok(resumedFrom > 0, `expected a Range: bytes=N- with N > 0, got ${ranges[1]}`);
    assert.equal(resumedFrom, kept);
    assert.equal(hub.contentRequests(ENCODER)[1]!.status, 206);
    // Files finished before the cut are not fetched again.
    for (const file of ["config.json", "tokenizer.json"]) assert.equal(hub.contentRequests(file).length, 1, file);
    await assertInstalled(result.dir, FP32_FILES);
  });

  it("still succeeds when the server ignores Range and answers 200", async () => {
    hub.setBehaviour({ cutAfter: { path: ENCODER, bytes: 400_000 }, ignoreRange: true });
    await assert.rejects(download(), ModelDownloadError);
    const result = await download();
    const second = hub.contentRequests(ENCODER)[1]!;
    assert.match(second.range ?? "", /^bytes=[1-9]\d*-$/);
    assert.equal(second.status, 200);
    await assertInstalled(result.dir, FP32_FILES);
  });

  it("rejects a corrupted file with a checksum error and installs nothing", async () => {
    hub.setBehaviour({ corrupt: { path: ENCODER } });
    await assert.rejects(download(), (error: Error) => {
      assert.ok(error instanceof ChecksumMismatchError);
      assert.match(error.message, /^checksum mismatch for onnx\/encoder_model\.onnx: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}$/);
      return true;
    });
    // Tried once more from scratch before giving up; the bad part file is gone.
    assert.equal(hub.contentRequests(ENCODER).length, 2);
    assert.ok(hub.contentRequests(ENCODER).every((request) => request.range === undefined));
    await assert.rejects(fs.stat(path.join(cacheDir, PARTIAL_DIR, "onnx-community--whisper-fixture", "fp32", `${ENCODER}.part`)));
    await assert.rejects(fs.stat(installedModelDir(cacheDir, FIXTURE_REPO, "fp32")));
  });

  it("rejects a corrupted small (git) file too, by its blob sha1", async () => {
    hub.setBehaviour({ corrupt: { path: "tokenizer.json" } });
    await assert.rejects(download(), /^ChecksumMismatchError: checksum mismatch for tokenizer\.json: expected git-sha1 [0-9a-f]{40}, got [0-9a-f]{40}$/);
  });

  it("recovers when only one transfer was corrupt (the retry from scratch succeeds)", async () => {
    hub.setBehaviour({ corrupt: { path: ENCODER, times: 1 } });
    const result = await download();
    assert.equal(hub.contentRequests(ENCODER).length, 2);
    await assertInstalled(result.dir, FP32_FILES);
  });

  it("leaves the previous install untouched when an update fails, and replaces it when one succeeds", async () => {
    const first = await download();
    const original = hub.files.get(ENCODER)!;
    await hub.setFile({ ...original, content: randomBytes(original.content.length) });
    try {
      hub.setBehaviour({ corrupt: { path: ENCODER } });
      await assert.rejects(download(), ChecksumMismatchError);
      // The old install is still there, complete and loadable.
      assert.equal((await readManifest(first.dir))?.downloaded_at, first.manifest.downloaded_at);
      assert.ok((await fs.readFile(path.join(first.dir, ENCODER))).equals(original.content));

      hub.setBehaviour({});
      const updated = await download();
      assert.equal(updated.upToDate, false);
      assert.equal(updated.dir, first.dir);
      await assertInstalled(updated.dir, FP32_FILES);
      // No temp or old siblings left next to the install.
      assert.deepEqual(await fs.readdir(path.dirname(first.dir)), ["fp32"]);
    } finally {
      await hub.setFile(original);
    }
  });

  it("reports an unknown repository clearly", async () => {
    await assert.rejects(download({ repo: "onnx-community/no-such-model" }), (error: Error) => {
      assert.ok(error instanceof ModelDownloadError);
      assert.match(error.message, /Listing onnx-community\/no-such-model@main: not found \(HTTP 404\)/);
      return true;
    });
    await assert.rejects(download({ repo: "../etc" }), /not a model name/);
  });

  it("names the missing graph when a repository lacks the variant", () => {
    const listing = [...hub.files.values()].filter((file) => !file.path.includes("fp16")).map((file) => ({ path: file.path, size: file.content.length, oid: "x", hash: "sha256" as const }));
    assert.throws(() => selectModelFiles(listing, "fp16", FIXTURE_REPO), /has no onnx\/encoder_model_fp16\.onnx, onnx\/decoder_model_fp16\.onnx, onnx\/decoder_with_past_model_fp16\.onnx for variant fp16 \(variants with an encoder: fp32, quantized\)/);
  });

  it("sends HF_TOKEN as a Bearer token", async () => {
    hub.setBehaviour({ token: "hf_secret" });
    await assert.rejects(download(), /the hub answered 401.*HF_TOKEN/);
    const result = await download({ token: "hf_secret" });
    assert.ok(hub.requests.filter((request) => request.status !== 401).every((request) => request.authorization === "Bearer hf_secret"));
    await assertInstalled(result.dir, FP32_FILES);
  });

  describe("the models CLI", () => {
    const cli = async (args: string[], env: Record<string, string> = {}) => {
      try {
        const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "scripts/models.ts", ...args], {
          env: { ...process.env, HF_ENDPOINT: hub.endpoint, ASR_MODEL_CACHE: cacheDir, HF_TOKEN: "", ...env },
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const failed = error as { code: number; stdout: string; stderr: string };
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
      }
    };

    it("downloads, lists and prints the path of a model", async () => {
      const downloaded = await cli(["download", FIXTURE_REPO, "--variant", "quantized"]);
      assert.equal(downloaded.code, 0, downloaded.stderr);
      const dir = installedModelDir(cacheDir, FIXTURE_REPO, "quantized");
      assert.equal(downloaded.stdout.trim(), dir);
      assert.match(downloaded.stderr, /onnx\/encoder_model_quantized\.onnx 100%/);

      const listed = await cli(["list"]);
      assert.equal(listed.code, 0);
      assert.match(listed.stdout, /^onnx-community\/whisper-fixture\tquantized\tmain\t/);

      const printed = await cli(["path", FIXTURE_REPO, "--variant", "quantized"]);
      assert.equal(printed.stdout.trim(), dir);
    });

    it("fails with exit status 1 and a one-line message, no stack trace", async () => {
      hub.setBehaviour({ corrupt: { path: "onnx/encoder_model_quantized.onnx" } });
      const corrupt = await cli(["download", FIXTURE_REPO, "--variant", "quantized"]);
      assert.equal(corrupt.code, 1);
      assert.match(corrupt.stderr, /models: checksum mismatch for onnx\/encoder_model_quantized\.onnx: expected/);
      assert.doesNotMatch(corrupt.stderr, /\n\s+at /);

      const missing = await cli(["path", FIXTURE_REPO]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /not installed.*npm run models -- download onnx-community\/whisper-fixture/);

      const usage = await cli(["download", FIXTURE_REPO, "--variant", "int4"]);
      assert.equal(usage.code, 1);
      assert.match(usage.stderr, /--variant must be one of fp32, fp16, quantized/);
    });
  });
});

describe("modelCacheDir", () => {
  it("prefers ASR_MODEL_CACHE, else DATA_DIR/models, else ./data/models", () => {
    assert.equal(modelCacheDir({ ASR_MODEL_CACHE: "/srv/models", DATA_DIR: "/srv/data" }), "/srv/models");
    assert.equal(modelCacheDir({ DATA_DIR: "/srv/data" }), "/srv/data/models");
    assert.equal(modelCacheDir({}), path.resolve("data/models"));
  });
});
