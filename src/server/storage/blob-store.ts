import type { Readable } from "node:stream";

/** What `put` learned while streaming the bytes in. */
export type StoredBlob = {
  /** Content-addressed key: `sha256/ab/cd/<hex>`. */
  key: string;
  sha256: string;
  /** bytes */
  sizeBytes: number;
  /** The first bytes (up to 4 KiB) of what was just stored, when `put` streamed it in. */
  head?: Buffer;
};

/**
 * Where media and outputs live. The filesystem backend is the embedded default; an S3
 * backend implements the same contract for scale-out. Keys are content-addressed, so a
 * file uploaded twice is stored once and a retried write is harmless.
 */
export type BlobStore = {
  /** Streams `source` in, hashing as it goes; rejects (and keeps nothing) if it exceeds `maxBytes`. */
  put(source: Readable, opts: { maxBytes: number; signal?: AbortSignal }): Promise<StoredBlob>;
  /** A path on local disk holding the blob (downloaded to a temp file for remote stores). */
  localPath(key: string): Promise<string>;
  /** The URI shown to users (`file:///...` or `s3://bucket/key`). */
  uri(key: string): string;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Writes a named object under `outputs/` (worker outputs too large for a queue message). */
  putObject(key: string, bytes: Buffer): Promise<void>;
  getObject(key: string): Promise<Buffer>;
};

/** Named objects live under `outputs/`, apart from the content-addressed media. */
export function assertObjectKey(key: string): void {
  if (!/^outputs\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) || key.includes("..")) throw new Error(`Invalid object key: ${key}`);
}

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`Upload exceeds the limit of ${maxBytes} bytes`);
    this.name = "BlobTooLargeError";
  }
}
