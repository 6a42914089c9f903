import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { ModelVariant } from "./model-files";

/**
 * The local model cache: one directory per installed (repo, variant), each a complete
 * Hugging Face ONNX layout plus the `manifest.json` that `downloadModel` writes last.
 *
 *   <cache>/onnx-community--whisper-base/quantized/{config.json,…,onnx/…,manifest.json}
 *   <cache>/.partial/…   downloads in progress (resumable), never loaded
 */

export const MODEL_VARIANTS = ["fp32", "fp16", "quantized"] as const satisfies readonly ModelVariant[];

/** Name of the file that marks a complete install; written after every file is verified. */
export const MANIFEST_FILE = "manifest.json";

/** Where in-progress downloads live, relative to the cache directory. */
export const PARTIAL_DIR = ".partial";

/** One file of an installed model as recorded in its manifest. */
export type ManifestFile = {
  /** Path inside the model directory, `/`-separated (e.g. "onnx/encoder_model.onnx"). */
  path: string;
  /** bytes */
  size: number;
  /** Lowercase hex SHA-256 of the content. */
  sha256: string;
  /** The hub's id for this content (LFS sha256 or git blob sha1), to tell whether a revision changed it. */
  oid: string;
};

/** `manifest.json` of an installed model. */
export type ModelManifest = {
  /** Hub repository, e.g. "onnx-community/whisper-base". */
  repo: string;
  /** Branch, tag or commit the files were taken from. */
  revision: string;
  variant: ModelVariant;
  files: ManifestFile[];
  /** ISO 8601 time the install completed. */
  downloaded_at: string;
};

export const manifestSchema = z.object({
  repo: z.string(),
  revision: z.string(),
  variant: z.enum(MODEL_VARIANTS),
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256: z.string(), oid: z.string().default("") })),
  downloaded_at: z.string(),
}) satisfies z.ZodType<ModelManifest, unknown>;

/** A model name an operator typed that cannot name a hub repository (or would escape the cache). */
export class InvalidModelNameError extends Error {
  constructor(name: string) {
    super(`"${name}" is not a model name; expected <owner>/<name>, for example onnx-community/whisper-base`);
    this.name = "InvalidModelNameError";
  }
}

/** The named model is not in the cache. */
export class ModelNotInstalledError extends Error {
  constructor(repo: string, variant: ModelVariant, cacheDir: string) {
    const variantFlag = variant === "fp32" ? "" : ` --variant ${variant}`;
    super(`The model ${repo} (variant ${variant}) is not installed in ${cacheDir}; run \`npm run models -- download ${repo}${variantFlag}\` first, or set ASR_MODEL_DIR to a model directory`);
    this.name = "ModelNotInstalledError";
  }
}

// Hub repo ids are `owner/name` with letters, digits, `-`, `_` and `.`; rejecting anything
// else (in particular `..` and extra slashes) keeps a name from pointing outside the cache.
const REPO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Throws InvalidModelNameError unless `repo` is a plain `owner/name`. */
export function assertRepoName(repo: string): void {
  if (!REPO_PATTERN.test(repo) || repo.includes("..")) throw new InvalidModelNameError(repo);
}

/** The cache directory: `ASR_MODEL_CACHE`, else `$DATA_DIR/models` (DATA_DIR defaults to ./data), absolute. */
export function modelCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.ASR_MODEL_CACHE) return path.resolve(env.ASR_MODEL_CACHE);
  return path.resolve(env.DATA_DIR || "./data", "models");
}

/** `owner/name` → `owner--name`, the hub's own convention for flattening a repo id into one path segment. */
export function repoDirName(repo: string): string {
  assertRepoName(repo);
  return repo.replace("/", "--");
}

/** Directory an installed (repo, variant) lives in; it exists only once the install completed. */
export function installedModelDir(cacheDir: string, repo: string, variant: ModelVariant): string {
  return path.join(cacheDir, repoDirName(repo), variant);
}

/** Reads an install's manifest; undefined when there is none (not installed) or it is unreadable. */
export async function readManifest(modelDir: string): Promise<ModelManifest | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(modelDir, MANIFEST_FILE), "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** An install found in the cache. */
export type InstalledModel = { dir: string; manifest: ModelManifest };

/** Every complete install in the cache (those with a valid manifest), sorted by repo then variant. */
export async function listInstalledModels(cacheDir: string): Promise<InstalledModel[]> {
  let repoDirs: string[];
  try {
    repoDirs = (await fs.readdir(cacheDir, { withFileTypes: true })).filter((entry) => entry.isDirectory() && !entry.name.startsWith(".")).map((entry) => entry.name);
  } catch {
    return [];
  }
  const found: InstalledModel[] = [];
  for (const repoDir of repoDirs) {
    for (const variant of MODEL_VARIANTS) {
      const dir = path.join(cacheDir, repoDir, variant);
      const manifest = await readManifest(dir);
      if (manifest) found.push({ dir, manifest });
    }
  }
  return found.sort((a, b) => a.manifest.repo.localeCompare(b.manifest.repo) || a.manifest.variant.localeCompare(b.manifest.variant));
}

/** What the operator configured: a directory (`ASR_MODEL_DIR`) or a model name looked up in the cache. */
export type ModelLocation = {
  /** An explicit model directory; wins over `modelName`. */
  modelDir?: string;
  /** Hub repo id of an installed model, e.g. "onnx-community/whisper-base". */
  modelName?: string;
  variant: ModelVariant;
  /** Absolute cache directory (see modelCacheDir). */
  cacheDir: string;
};

/**
 * The directory to load the model from. An explicit directory is returned as given (made
 * absolute; loadWhisperModelFiles validates its contents); a name must be installed, else
 * ModelNotInstalledError tells the operator which command installs it.
 */
export async function resolveModelDir(location: ModelLocation): Promise<string> {
  if (location.modelDir) return path.resolve(location.modelDir);
  if (!location.modelName) throw new Error("No model configured: set ASR_MODEL_DIR to a model directory, or name an installed model");
  const dir = installedModelDir(location.cacheDir, location.modelName, location.variant);
  // The manifest is written last, so its presence (not the directory's) means "complete".
  if (!(await readManifest(dir))) throw new ModelNotInstalledError(location.modelName, location.variant, location.cacheDir);
  return dir;
}
