import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { asStorageError, BlobTooLargeError } from "./blob-store";

/** Leading bytes kept in memory while a blob streams in (a probe reads a WAV header from them). */
const HEAD_BYTES = 4096;

/** The content-addressed key of a blob with this sha256: `sha256/ab/cd/<hex>`. */
export function contentKey(sha256: string): string {
  return `sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

const CONTENT_KEY = /^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/;

export function isContentKey(key: string): boolean {
  return CONTENT_KEY.test(key);
}

export function assertContentKey(key: string): void {
  if (!isContentKey(key)) throw new Error(`Invalid blob key: ${key}`);
}

/**
 * Streams `source` into `file`, hashing and counting as it goes, keeping its first bytes;
 * past `maxBytes` it stops with BlobTooLargeError, on a full disk with StorageFullError. On
 * any failure the partial file is removed.
 */
export async function receiveToFile(source: Readable, file: string, opts: { maxBytes: number; signal?: AbortSignal }): Promise<{ sha256: string; sizeBytes: number; head: Buffer }> {
  const hash = createHash("sha256");
  let sizeBytes = 0;
  const head: Buffer[] = [];
  let headBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sizeBytes += chunk.length;
      if (sizeBytes > opts.maxBytes) return callback(new BlobTooLargeError(opts.maxBytes));
      if (headBytes < HEAD_BYTES) {
        head.push(chunk.subarray(0, HEAD_BYTES - headBytes));
        headBytes += Math.min(chunk.length, HEAD_BYTES - headBytes);
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(file), opts.signal ? { signal: opts.signal } : {});
  } catch (error) {
    await fs.rm(file, { force: true });
    throw asStorageError(error);
  }
  return { sha256: hash.digest("hex"), sizeBytes, head: Buffer.concat(head) };
}

/**
 * Deletes the files directly in `dir` last modified before `olderThan` (a missing directory
 * has none). Returns how many went.
 */
export async function removeFilesOlderThan(dir: string, olderThan: Date, match: (name: string) => boolean = () => true): Promise<number> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  let removed = 0;
  for (const entry of entries) {
    if (!match(entry.name)) continue;
    const file = path.join(dir, entry.name);
    const info = await fs.stat(file).catch(() => null);
    if (!info || info.mtime >= olderThan) continue;
    await fs.rm(file, { recursive: true, force: true });
    removed += 1;
  }
  return removed;
}

/** The content keys under `<root>/sha256/` with their modification times. */
export async function* listContentFiles(root: string): AsyncIterable<{ key: string; modifiedAt: Date }> {
  const base = path.join(root, "sha256");
  const level = async (dir: string) => fs.readdir(dir).catch((error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? [] : Promise.reject(error)));
  for (const a of await level(base)) {
    for (const b of await level(path.join(base, a))) {
      for (const name of await level(path.join(base, a, b))) {
        const key = `sha256/${a}/${b}/${name}`;
        if (!isContentKey(key)) continue;
        const info = await fs.stat(path.join(root, key)).catch(() => null);
        if (info) yield { key, modifiedAt: info.mtime };
      }
    }
  }
}
