import { createHash, randomBytes, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import {
  assertRepoName,
  installedModelDir,
  MANIFEST_FILE,
  PARTIAL_DIR,
  readManifest,
  repoDirName,
  type ManifestFile,
  type ModelManifest,
} from "./model-cache";
import type { ModelVariant } from "./model-files";

/**
 * Downloads a Whisper ONNX model from the Hugging Face hub into the model cache.
 *
 * Protocol: the file list comes from `GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true`,
 * each file from `GET {endpoint}/{repo}/resolve/{revision}/{path}` (LFS files redirect to a CDN;
 * fetch follows). Files stream to `<cache>/.partial/<repo>/<variant>/<path>.part`, so an
 * interrupted run resumes with `Range: bytes=N-`. Every file is checked against the size and
 * hash the listing promises before anything is installed, and the install is a directory rename.
 */

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

/** The hub to talk to: `HF_ENDPOINT` (mirrors, tests) or huggingface.co, without a trailing slash. */
export function hubEndpoint(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return (env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
}

/** A download that failed, with a message an operator can act on (no stack needed). */
export class ModelDownloadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ModelDownloadError";
  }
}

/** A file whose content does not match the listing; its part file has been deleted. */
export class ChecksumMismatchError extends ModelDownloadError {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
    kind: "checksum" | "size" = "checksum",
  ) {
    super(`${kind} mismatch for ${file}: expected ${expected}, got ${actual}`);
    this.name = "ChecksumMismatchError";
  }
}

// ---------------------------------------------------------------------------------------------
// Tree listing

const treeEntrySchema = z.looseObject({
  type: z.enum(["file", "directory"]),
  path: z.string().min(1),
  size: z.number().int().nonnegative().default(0),
  oid: z.string().regex(/^[0-9a-f]{40}$/i),
  lfs: z.looseObject({ oid: z.string().regex(/^[0-9a-f]{64}$/i), size: z.number().int().nonnegative(), pointerSize: z.number().int().nonnegative().optional() }).optional(),
});
const treeSchema = z.array(treeEntrySchema);

/** A file of a hub repository as the tree API lists it. */
export type HubFile = {
  /** `/`-separated path inside the repository. */
  path: string;
  /** bytes */
  size: number;
  /** Git blob sha1 (hex) for plain files; for LFS files the sha256 (hex) of the content. */
  oid: string;
  /** Which hash `oid` is. */
  hash: "sha256" | "git-sha1";
};

// A listed path ends up as a path on disk, so a hostile or broken hub must not be able to
// write outside the staging directory.
function isSafeRelativePath(file: string): boolean {
  return !file.startsWith("/") && !file.includes("\\") && file.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

function toHubFiles(entries: z.infer<typeof treeSchema>): HubFile[] {
  return entries
    .filter((entry) => entry.type === "file" && isSafeRelativePath(entry.path))
    .map((entry) =>
      entry.lfs
        ? { path: entry.path, size: entry.lfs.size, oid: entry.lfs.oid.toLowerCase(), hash: "sha256" as const }
        : { path: entry.path, size: entry.size, oid: entry.oid.toLowerCase(), hash: "git-sha1" as const },
    );
}

function encodePath(file: string): string {
  return file.split("/").map(encodeURIComponent).join("/");
}

/** The `rel="next"` URL of a Link header; the hub paginates long listings that way. */
function nextPageUrl(link: string | null, base: string): string | undefined {
  const match = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return match?.[1] ? new URL(match[1], base).toString() : undefined;
}

type HubContext = {
  repo: string;
  revision: string;
  endpoint: string;
  token: string | undefined;
  fetch: typeof globalThis.fetch;
  signal: AbortSignal | undefined;
};

function authHeaders(ctx: HubContext): Record<string, string> {
  return ctx.token ? { Authorization: `Bearer ${ctx.token}` } : {};
}

function describeHttpFailure(ctx: HubContext, status: number, what: string): string {
  if (status === 401 || status === 403) return `${what}: the hub answered ${status}; the repository ${ctx.repo} may be private or gated (set HF_TOKEN to a token with access)`;
  if (status === 404) return `${what}: not found (HTTP 404); check the model name ${ctx.repo} and revision ${ctx.revision}`;
  return `${what}: the hub answered HTTP ${status}`;
}

async function hubFetch(ctx: HubContext, url: string, headers: Record<string, string>, what: string): Promise<Response> {
  try {
    return await ctx.fetch(url, { headers: { ...authHeaders(ctx), ...headers }, redirect: "follow", signal: ctx.signal });
  } catch (error) {
    if (ctx.signal?.aborted) throw error;
    throw new ModelDownloadError(`${what}: cannot reach ${ctx.endpoint} (${errorText(error)})`, { cause: error });
  }
}

/** Every file of `repo` at `revision`, following the hub's pagination. */
async function listRepoFiles(ctx: HubContext): Promise<HubFile[]> {
  const what = `Listing ${ctx.repo}@${ctx.revision}`;
  let url: string | undefined = `${ctx.endpoint}/api/models/${encodePath(ctx.repo)}/tree/${encodeURIComponent(ctx.revision)}?recursive=true`;
  const files: HubFile[] = [];
  while (url) {
    const response = await hubFetch(ctx, url, { Accept: "application/json" }, what);
    if (!response.ok) {
      await response.body?.cancel();
      throw new ModelDownloadError(describeHttpFailure(ctx, response.status, what));
    }
    let parsed: ReturnType<typeof treeSchema.safeParse>;
    try {
      parsed = treeSchema.safeParse(await response.json());
    } catch (error) {
      throw new ModelDownloadError(`${what}: the answer is not JSON (${errorText(error)})`, { cause: error });
    }
    if (!parsed.success) throw new ModelDownloadError(`${what}: unexpected listing format (${z.prettifyError(parsed.error).split("\n")[0] ?? "invalid"})`);
    files.push(...toHubFiles(parsed.data));
    url = nextPageUrl(response.headers.get("link"), url);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// File selection

const VARIANT_SUFFIX: Record<ModelVariant, string> = { fp32: "", fp16: "_fp16", quantized: "_quantized" };

/** What loadWhisperModelFiles reads besides the ONNX graphs. */
const REQUIRED_JSON = ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"];

/**
 * The files one variant needs: every top-level JSON file (configs, tokenizer; all small) and the
 * encoder and decoder graphs of that variant (merged decoder preferred, else the split pair),
 * with their external-data files when the export has them (models over 2 GB). The other
 * variants' weights are skipped: they are most of a repository's size.
 */
export function selectModelFiles(files: readonly HubFile[], variant: ModelVariant, repo: string): HubFile[] {
  const byPath = new Map(files.map((file) => [file.path, file]));
  const missing = REQUIRED_JSON.filter((name) => !byPath.has(name));
  if (missing.length > 0) throw new ModelDownloadError(`${repo} is not a Whisper ONNX model: it has no ${missing.join(", ")}`);

  const onnx = (base: string) => `onnx/${base}${VARIANT_SUFFIX[variant]}.onnx`;
  const graphs = [onnx("encoder_model")];
  if (byPath.has(onnx("decoder_model_merged"))) graphs.push(onnx("decoder_model_merged"));
  else graphs.push(onnx("decoder_model"), onnx("decoder_with_past_model"));
  const absent = graphs.filter((graph) => !byPath.has(graph));
  if (absent.length > 0) {
    throw new ModelDownloadError(`${repo} has no ${absent.join(", ")} for variant ${variant}${availableVariantsHint(byPath)}`);
  }

  const json = files.filter((file) => !file.path.includes("/") && file.path.endsWith(".json"));
  const externalData = graphs.flatMap((graph) => [`${graph}_data`, `${graph}.data`]).filter((name) => byPath.has(name));
  return [...json, ...[...graphs, ...externalData].map((name) => byPath.get(name)!)];
}

function availableVariantsHint(byPath: ReadonlyMap<string, HubFile>): string {
  const available = (Object.keys(VARIANT_SUFFIX) as ModelVariant[]).filter((variant) => byPath.has(`onnx/encoder_model${VARIANT_SUFFIX[variant]}.onnx`));
  return available.length > 0 ? ` (variants with an encoder: ${available.join(", ")})` : "";
}

// ---------------------------------------------------------------------------------------------
// One file: resume, stream, hash, verify

/** Both hashes a file may be checked against, fed as bytes arrive. */
class ContentHashes {
  private sha256: Hash = createHash("sha256");
  // Git hashes a blob as sha1("blob <size>\0" + content); the listing's size stands in for
  // the header, and a wrong size is caught by the size check before the hash is compared.
  private gitSha1: Hash;
  bytes = 0;

  constructor(private readonly expectedSize: number) {
    this.gitSha1 = ContentHashes.gitSha1(expectedSize);
  }

  private static gitSha1(size: number): Hash {
    return createHash("sha1").update(`blob ${size}\0`);
  }

  update(chunk: Uint8Array): void {
    this.sha256.update(chunk);
    this.gitSha1.update(chunk);
    this.bytes += chunk.byteLength;
  }

  reset(): void {
    this.sha256 = createHash("sha256");
    this.gitSha1 = ContentHashes.gitSha1(this.expectedSize);
    this.bytes = 0;
  }

  digest(): { sha256: string; gitSha1: string } {
    return { sha256: this.sha256.digest("hex"), gitSha1: this.gitSha1.digest("hex") };
  }
}

/** Bytes already in a part file; 0 when there is none. */
async function partLength(part: string): Promise<number> {
  try {
    return (await fs.stat(part)).size;
  } catch {
    return 0;
  }
}

async function hashExisting(part: string, hashes: ContentHashes): Promise<void> {
  for await (const chunk of createReadStream(part)) hashes.update(chunk as Buffer);
}

type FileJob = {
  ctx: HubContext;
  file: HubFile;
  part: string;
  onProgress: ((file: string, bytes: number, total: number) => void) | undefined;
};

/** Requests the file, from `start` when resuming. 416 (range past the end) is the caller's to handle. */
async function requestFile(job: FileJob, start: number): Promise<Response> {
  const { ctx, file } = job;
  const url = `${ctx.endpoint}/${encodePath(ctx.repo)}/resolve/${encodeURIComponent(ctx.revision)}/${encodePath(file.path)}`;
  const headers: Record<string, string> = start > 0 ? { Range: `bytes=${start}-` } : {};
  const response = await hubFetch(ctx, url, headers, `Downloading ${file.path}`);
  if (!response.ok && !(response.status === 416 && start > 0)) {
    await response.body?.cancel();
    throw new ModelDownloadError(describeHttpFailure(ctx, response.status, `Downloading ${file.path}`));
  }
  return response;
}

/** The first byte a 206 answer carries, from `Content-Range: bytes a-b/n`. */
function contentRangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "");
  return match?.[1] ? Number(match[1]) : undefined;
}

/**
 * Appends the response body to the part file chunk by chunk (the file is never held in
 * memory), hashing as it goes. A transfer error leaves what was written for the next run.
 */
async function streamToPart(job: FileJob, response: Response, hashes: ContentHashes, append: boolean): Promise<void> {
  const { file, part } = job;
  const handle = await fs.open(part, append ? "a" : "w");
  try {
    if (!response.body) return;
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const chunk = read.value;
      // A server sending more than promised would otherwise fill the disk before the size check.
      if (hashes.bytes + chunk.byteLength > file.size) {
        await reader.cancel().catch(() => undefined);
        throw new ChecksumMismatchError(file.path, `${file.size} bytes`, "more", "size");
      }
      await handle.write(chunk);
      hashes.update(chunk);
      job.onProgress?.(file.path, hashes.bytes, file.size);
    }
  } catch (error) {
    if (error instanceof ModelDownloadError || job.ctx.signal?.aborted) throw error;
    throw new ModelDownloadError(
      `Download of ${file.path} interrupted after ${hashes.bytes} of ${file.size} bytes (${errorText(error)}); run again to resume`,
      { cause: error },
    );
  } finally {
    await handle.close();
  }
}

/** Fetches whatever the part file lacks. Returns with `hashes` covering the whole part file. */
async function fetchRemainder(job: FileJob, hashes: ContentHashes): Promise<void> {
  const start = hashes.bytes;
  if (start >= job.file.size) return; // complete from an earlier run; only verification is left
  let response = await requestFile(job, start);
  if (response.status === 416) {
    // The server will not serve from `start` (the file changed under us?): start over.
    await response.body?.cancel();
    hashes.reset();
    response = await requestFile(job, 0);
  }
  // A 206 without Content-Range is taken to answer the range asked for; one that names another start is refused.
  const resumed = start > 0 && response.status === 206 && (contentRangeStart(response) ?? start) === start;
  if (start > 0 && !resumed) {
    // A 200 (Range ignored) carries the whole file; rewrite the part from byte 0.
    if (response.status === 206) {
      await response.body?.cancel();
      throw new ModelDownloadError(`Downloading ${job.file.path}: the server answered a resume from byte ${start} with a different range`);
    }
    hashes.reset();
  }
  await streamToPart(job, response, hashes, resumed);
}

async function verify(job: FileJob, hashes: ContentHashes): Promise<string> {
  const { file, part } = job;
  const size = hashes.bytes;
  const { sha256, gitSha1 } = hashes.digest();
  const actual = file.hash === "sha256" ? sha256 : gitSha1;
  let mismatch: ChecksumMismatchError | undefined;
  if (size !== file.size) mismatch = new ChecksumMismatchError(file.path, `${file.size} bytes`, `${size} bytes`, "size");
  else if (actual !== file.oid) mismatch = new ChecksumMismatchError(file.path, `${file.hash} ${file.oid}`, actual);
  if (mismatch) {
    await fs.rm(part, { force: true });
    throw mismatch;
  }
  return sha256;
}

/** One attempt: resume (or start) the part file, complete it, verify it. Returns its sha256. */
async function downloadOnce(job: FileJob): Promise<string> {
  const hashes = new ContentHashes(job.file.size);
  const existing = await partLength(job.part);
  if (existing > job.file.size) await fs.rm(job.part, { force: true });
  else if (existing > 0) await hashExisting(job.part, hashes);
  try {
    await fetchRemainder(job, hashes);
  } catch (error) {
    if (error instanceof ChecksumMismatchError) await fs.rm(job.part, { force: true });
    throw error;
  }
  return verify(job, hashes);
}

/**
 * Downloads and verifies one file. A checksum or size mismatch costs the part file and one
 * retry from scratch (a resumed part may hold bytes of an older revision, or the CDN may have
 * served a bad copy); a second mismatch is final.
 */
async function downloadFile(job: FileJob): Promise<string> {
  try {
    return await downloadOnce(job);
  } catch (error) {
    if (!(error instanceof ChecksumMismatchError)) throw error;
    return downloadOnce(job);
  }
}

// ---------------------------------------------------------------------------------------------
// Install

/** The directory a new install is assembled in; a sibling of the final one, so renames stay on one filesystem. */
function tempSibling(finalDir: string, tag: string): string {
  return path.join(path.dirname(finalDir), `.${path.basename(finalDir)}.${tag}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * Moves the verified part files into a fresh temp sibling of the final directory, writes the
 * manifest there, and renames it into place. An older install is moved aside only now that the
 * new one is complete, and deleted after; a crash in between leaves at worst a `.old` sibling.
 */
async function install(stagingDir: string, finalDir: string, manifest: ModelManifest): Promise<void> {
  const temp = tempSibling(finalDir, "tmp");
  await fs.mkdir(temp, { recursive: true });
  try {
    for (const file of manifest.files) {
      const target = path.join(temp, file.path);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(path.join(stagingDir, `${file.path}.part`), target);
    }
    await fs.writeFile(path.join(temp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    const old = tempSibling(finalDir, "old");
    const hadOld = await fs.rename(finalDir, old).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return false;
        throw error;
      },
    );
    await fs.rename(temp, finalDir);
    if (hadOld) await fs.rm(old, { recursive: true, force: true });
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    throw error;
  }
  // Whatever else is left in staging (files of an abandoned selection) is of no further use.
  await fs.rm(stagingDir, { recursive: true, force: true });
  await removeIfEmpty(path.dirname(stagingDir));
  await removeIfEmpty(path.dirname(path.dirname(stagingDir)));
}

/** rmdir that leaves a directory still in use (another variant's download) alone. */
async function removeIfEmpty(dir: string): Promise<void> {
  await fs.rmdir(dir).catch(() => undefined);
}

/** True when the install at `dir` already holds exactly these files (same content ids). */
async function isUpToDate(dir: string, files: readonly HubFile[], revision: string): Promise<boolean> {
  const manifest = await readManifest(dir);
  if (!manifest || manifest.revision !== revision || manifest.files.length !== files.length) return false;
  const installed = new Map(manifest.files.map((file) => [file.path, file]));
  return files.every((file) => {
    const entry = installed.get(file.path);
    return entry !== undefined && entry.size === file.size && entry.oid === file.oid;
  });
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** What downloadModel needs. */
export type DownloadModelOptions = {
  /** Hub repository, e.g. "onnx-community/whisper-base". */
  repo: string;
  /** Branch, tag or commit; default "main". */
  revision?: string;
  variant: ModelVariant;
  /** Absolute cache directory (see modelCacheDir). */
  cacheDir: string;
  /** Hub base URL; default hubEndpoint(process.env). */
  endpoint?: string;
  /** Hugging Face access token, sent as `Authorization: Bearer` (private or gated repos). */
  token?: string;
  /** Download even when the same files are already installed. */
  force?: boolean;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Called as bytes arrive; `bytes` and `total` in bytes, `bytes` counting what a resumed part already had. */
  onProgress?: (file: string, bytes: number, total: number) => void;
  /** Aborts the download; part files are kept for the next run. */
  signal?: AbortSignal;
};

/** The outcome of downloadModel. */
export type DownloadModelResult = {
  /** The installed model directory (pass as ASR_MODEL_DIR, or resolve by name). */
  dir: string;
  manifest: ModelManifest;
  /** True when nothing was downloaded because the install already matched the hub. */
  upToDate: boolean;
};

/**
 * Downloads one variant of a Whisper ONNX model into the cache and installs it atomically.
 * Fails with ModelDownloadError (ChecksumMismatchError for bad content) and a message naming
 * the file; whatever was transferred before a network error stays for the next call to resume.
 */
export async function downloadModel(options: DownloadModelOptions): Promise<DownloadModelResult> {
  assertRepoName(options.repo);
  const ctx: HubContext = {
    repo: options.repo,
    revision: options.revision ?? "main",
    endpoint: (options.endpoint ?? hubEndpoint()).replace(/\/+$/, ""),
    token: options.token,
    fetch: options.fetch ?? globalThis.fetch,
    signal: options.signal,
  };
  const finalDir = installedModelDir(options.cacheDir, ctx.repo, options.variant);
  const files = selectModelFiles(await listRepoFiles(ctx), options.variant, ctx.repo);
  if (!options.force && (await isUpToDate(finalDir, files, ctx.revision))) {
    return { dir: finalDir, manifest: (await readManifest(finalDir))!, upToDate: true };
  }

  const stagingDir = path.join(options.cacheDir, PARTIAL_DIR, repoDirName(ctx.repo), options.variant);
  const manifestFiles: ManifestFile[] = [];
  // One file at a time: the hub's CDN is fast per connection, and sequential parts keep resume simple.
  for (const file of files) {
    const part = path.join(stagingDir, `${file.path}.part`);
    await fs.mkdir(path.dirname(part), { recursive: true });
    const sha256 = await downloadFile({ ctx, file, part, onProgress: options.onProgress });
    manifestFiles.push({ path: file.path, size: file.size, sha256, oid: file.oid });
  }

  const manifest: ModelManifest = {
    repo: ctx.repo,
    revision: ctx.revision,
    variant: options.variant,
    files: manifestFiles,
    downloaded_at: new Date().toISOString(),
  };
  await install(stagingDir, finalDir, manifest);
  return { dir: finalDir, manifest, upToDate: false };
}

/** The message of an error, with its cause's when fetch hides the reason there ("fetch failed"). */
function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
