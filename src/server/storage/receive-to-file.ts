import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BlobTooLargeError } from "./blob-store";

/** Leading bytes kept in memory while a blob streams in (a probe reads a WAV header from them). */
const HEAD_BYTES = 4096;

/** The content-addressed key of a blob with this sha256: `sha256/ab/cd/<hex>`. */
export function contentKey(sha256: string): string {
  return `sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

export function assertContentKey(key: string): void {
  if (!/^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(key)) throw new Error(`Invalid blob key: ${key}`);
}

/**
 * Streams `source` into `file`, hashing and counting as it goes, keeping its first bytes;
 * past `maxBytes` it stops with BlobTooLargeError. On any failure the partial file is removed.
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
    throw error;
  }
  return { sha256: hash.digest("hex"), sizeBytes, head: Buffer.concat(head) };
}
