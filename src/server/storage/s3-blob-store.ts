import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { AppError } from "../errors";
import { asStorageError, assertObjectKey, BlobMissingError, unlessAborted, type BlobStore, type StoredBlob } from "./blob-store";
import { assertContentKey, contentKey, isContentKey, receiveToFile, removeFilesOlderThan } from "./receive-to-file";

export type S3BlobStoreOptions = {
  client: S3Client;
  bucket: string;
  /** Prepended to every key ("" or e.g. "prod/"). */
  prefix: string;
  /** Local working directory: uploads are staged here, and downloads cached (content keys never change). */
  workDir: string;
  /**
   * ms a read (a download, getObject) keeps retrying, with backoff, while S3 cannot be
   * reached; default 30 s. Writes are not retried: an upload answers 503 at once instead.
   */
  unavailableRetryMs?: number;
};

/** Default for `unavailableRetryMs`. */
const UNAVAILABLE_RETRY_MS = 30_000;

/**
 * The blob store on S3 (or anything that speaks its API). Uploads are staged on local disk
 * while they are hashed and size-checked, then put under their content key, so a blob is
 * stored once however often it is uploaded. `localPath` downloads into a local cache; a
 * content key names the same bytes forever, so a cached file never goes stale.
 */
export function createS3BlobStore(options: S3BlobStoreOptions): BlobStore {
  const { client, bucket, prefix } = options;
  const stagingDir = path.join(options.workDir, "staging");
  const cacheDir = path.join(options.workDir, "cache");
  const objectKey = (key: string) => `${prefix}${key}`;
  /** Concurrent requests for the same blob share one download. */
  const downloads = new Map<string, Promise<string>>();
  const retryBudgetMs = options.unavailableRetryMs ?? UNAVAILABLE_RETRY_MS;

  /**
   * Runs a read again, with backoff, while the store is unreachable, for up to retryBudgetMs.
   * The SDK's own retries give up within a fraction of a second; without these a blip of a
   * few seconds fails every task that needs its media meanwhile (a worker hands a failed task
   * straight back, so its deliveries run out in milliseconds and it lands in the DLQ).
   */
  const patiently = async <T>(read: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + retryBudgetMs;
    for (let delayMs = 250; ; delayMs = Math.min(delayMs * 2, 4000)) {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof BlobStoreUnavailableError) || Date.now() + delayMs > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  };

  const modifiedAt = async (key: string): Promise<Date | null> => {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return head.LastModified ?? new Date(0);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw asUnavailable(error);
    }
  };
  const exists = async (key: string): Promise<boolean> => (await modifiedAt(key)) !== null;

  const download = async (key: string): Promise<string> => {
    const file = path.join(cacheDir, key);
    try {
      await fs.access(file);
      return file;
    } catch {
      // not cached yet
    }
    await fs.mkdir(path.dirname(file), { recursive: true });
    await patiently(async () => {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) })).catch((error: unknown) => {
        if (isNotFound(error)) throw new BlobMissingError(key);
        throw asUnavailable(error);
      });
      const tmp = `${file}.${randomBytes(6).toString("hex")}.part`;
      try {
        await pipeline(response.Body as Readable, createWriteStream(tmp));
        await fs.rename(tmp, file);
      } catch (error) {
        await fs.rm(tmp, { force: true });
        // The connection dropped mid-body, or the local cache's disk is full.
        throw asStorageError(asUnavailable(error));
      }
    });
    return file;
  };

  return {
    async put(source: Readable, { maxBytes, signal }): Promise<StoredBlob> {
      await fs.mkdir(stagingDir, { recursive: true });
      const staged = path.join(stagingDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
      const { sha256, sizeBytes, head } = await receiveToFile(source, staged, { maxBytes, ...(signal ? { signal } : {}) });
      const key = contentKey(sha256);
      try {
        const send = signal ? { abortSignal: signal } : {};
        if (!(await exists(key))) {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey(key), Body: createReadStream(staged), ContentLength: sizeBytes }), send);
        } else {
          // Already stored: copy it onto itself instead of sending the bytes again. The copy
          // renews LastModified, which keeps the unreferenced-blob sweep off it while this
          // upload's row is being written.
          await client.send(
            new CopyObjectCommand({ Bucket: bucket, Key: objectKey(key), CopySource: `${bucket}/${encodeURIComponent(objectKey(key)).replace(/%2F/g, "/")}`, MetadataDirective: "REPLACE" }),
            send,
          );
        }
        // The staged file becomes the local cache copy: the control plane probes it next.
        const cached = path.join(cacheDir, key);
        await fs.mkdir(path.dirname(cached), { recursive: true });
        await fs.rename(staged, cached);
      } catch (error) {
        throw asStorageError(asUnavailable(error));
      } finally {
        await fs.rm(staged, { force: true });
      }
      return { key, sha256, sizeBytes, head };
    },
    localPath(key, signal) {
      assertContentKey(key);
      let pending = downloads.get(key);
      if (!pending) {
        pending = download(key).finally(() => downloads.delete(key));
        downloads.set(key, pending);
      }
      return unlessAborted(pending, signal);
    },
    uri(key) {
      return `s3://${bucket}/${objectKey(key)}`;
    },
    exists(key) {
      assertContentKey(key);
      return exists(key);
    },
    modifiedAt(key) {
      assertContentKey(key);
      return modifiedAt(key);
    },
    async *listContent() {
      let token: string | undefined;
      do {
        const page = await reachable(client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}sha256/`, ContinuationToken: token })));
        for (const object of page.Contents ?? []) {
          const key = object.Key?.slice(prefix.length);
          if (key && isContentKey(key)) yield { key, modifiedAt: object.LastModified ?? new Date(0) };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    async sweepTemp(olderThan) {
      const staging = await removeFilesOlderThan(stagingDir, olderThan);
      // Partial downloads into the cache: `<cache>/sha256/ab/cd/<hex>.<random>.part`.
      let parts = 0;
      for (const a of await fs.readdir(path.join(cacheDir, "sha256")).catch(() => [])) {
        for (const b of await fs.readdir(path.join(cacheDir, "sha256", a)).catch(() => [])) {
          parts += await removeFilesOlderThan(path.join(cacheDir, "sha256", a, b), olderThan, (name) => name.endsWith(".part"));
        }
      }
      return staging + parts;
    },
    async delete(key) {
      assertContentKey(key);
      await reachable(client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) })));
      await fs.rm(path.join(cacheDir, key), { force: true });
    },
    async putObject(key, bytes) {
      assertObjectKey(key);
      await reachable(client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey(key), Body: bytes, ContentLength: bytes.length })));
    },
    async getObject(key) {
      assertObjectKey(key);
      return patiently(() =>
        reachable(
          (async () => {
            const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
            return Buffer.from(await response.Body!.transformToByteArray());
          })(),
        ),
      );
    },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NotFound" || e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404;
}

/** Network failures: the store is away, not the request wrong. */
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "EAI_AGAIN", "ENOTFOUND"]);

/**
 * The S3 endpoint could not be reached, or answered "come back later" (5xx, throttling): a
 * passing condition of the store, not of the file or the job. It is BUSY, so an upload
 * meanwhile answers 503 with this message instead of a bare 500, and a job's attempt fails
 * as transient (retried, never a permanent "bad media"). The message names the error's code,
 * not the endpoint: its address is the operator's business (`cause` keeps the whole error).
 */
export class BlobStoreUnavailableError extends AppError {
  constructor(readonly cause: unknown) {
    const reason = unavailableReason(cause);
    super("BUSY", `The blob store (S3) cannot be reached${reason ? ` (${reason})` : ""}; try again later`);
    this.name = "BlobStoreUnavailableError";
  }
}

/** Why the store is unavailable ("ECONNREFUSED", "HTTP 503", "TimeoutError"), or null when `error` is something else. */
function unavailableReason(error: unknown): string | null {
  if (error instanceof AggregateError) return error.errors.map(unavailableReason).find((reason) => reason !== null) ?? null;
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } } | null;
  if (!e) return null;
  if (e.code && UNREACHABLE_CODES.has(e.code)) return e.code;
  if (e.name === "TimeoutError" || e.name === "RequestTimeout" || e.name === "SlowDown" || e.name === "ServiceUnavailable") return e.name;
  const status = e.$metadata?.httpStatusCode;
  return status !== undefined && (status >= 500 || status === 429) ? `HTTP ${status}` : null;
}

function asUnavailable(error: unknown): unknown {
  return error instanceof AppError || unavailableReason(error) === null ? error : new BlobStoreUnavailableError(error);
}

/** An S3 call whose failure to reach the store becomes BlobStoreUnavailableError. */
async function reachable<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw asUnavailable(error);
  }
}
