import type { Readable } from "node:stream";

/** What `put` learned while streaming the bytes in. */
export type StoredBlob = {
  /** Content-addressed key: `sha256/ab/cd/<hex>`. */
  key: string;
  sha256: string;
  /** bytes */
  sizeBytes: number;
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
};

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`Upload exceeds the limit of ${maxBytes} bytes`);
    this.name = "BlobTooLargeError";
  }
}
