import { PermanentJobError } from "../errors";
import type { Readable } from "node:stream";
import { AppError } from "../errors";

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
  localPath(key: string, signal?: AbortSignal): Promise<string>;
  /** The URI shown to users (`file:///...` or `s3://bucket/key`). */
  uri(key: string): string;
  exists(key: string): Promise<boolean>;
  /**
   * When the blob was last written, null if absent. A `put` of bytes already stored renews
   * it, which is what lets the unreferenced-blob sweep spare a blob an upload just stored.
   */
  modifiedAt(key: string): Promise<Date | null>;
  /** Every content-addressed blob (not `outputs/`), in no particular order. */
  listContent(): AsyncIterable<{ key: string; modifiedAt: Date }>;
  /**
   * Removes this store's leftovers of interrupted writes (partial uploads, partial downloads)
   * older than `olderThan`: younger ones may belong to a write in progress, in this process
   * or another sharing the directory. Returns how many were removed.
   */
  sweepTemp(olderThan: Date): Promise<number>;
  delete(key: string): Promise<void>;
  /** Writes a named object under `outputs/` (worker outputs too large for a queue message). */
  putObject(key: string, bytes: Buffer): Promise<void>;
  getObject(key: string): Promise<Buffer>;
};

/** Named objects live under `outputs/`, apart from the content-addressed media. */
export function assertObjectKey(key: string): void {
  if (!/^outputs\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) || key.includes("..")) throw new Error(`Invalid object key: ${key}`);
}

/**
 * This machine's disk (or quota) is full: ENOSPC or EDQUOT while storing bytes. It says
 * nothing about the upload or the job, and passes once space is freed: 507 Insufficient
 * Storage with a message a client can act on (a job retries it with backoff), never a bare
 * 500, and logged for the operator like any 5xx. The system error stays in `cause`.
 */
export class StorageFullError extends AppError {
  constructor(readonly cause: unknown) {
    super("INSUFFICIENT_STORAGE", "The server has no storage space left to store this file; try again later");
    this.name = "StorageFullError";
  }
}

/**
 * `pending`, or the abort reason as soon as `signal` aborts: a caller that stops (a worker
 * shutting down) need not wait out a download other callers share and that keeps going.
 */
export function unlessAborted<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return pending;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** ENOSPC / EDQUOT as a StorageFullError; any other error unchanged. */
export function asStorageError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" ? new StorageFullError(error) : error;
}

/**
 * A blob that is not in the store: deleted, or never stored. Permanent (content keys never
 * come back), and its message names the key, never a path on the server's disk.
 */
export class BlobMissingError extends PermanentJobError {
  constructor(key: string) {
    super(`The stored file ${key.slice(key.lastIndexOf("/") + 1, key.lastIndexOf("/") + 13)}… is missing from the blob store (deleted?)`);
    this.name = "BlobMissingError";
  }
}

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`Upload exceeds the limit of ${maxBytes} bytes`);
    this.name = "BlobTooLargeError";
  }
}
