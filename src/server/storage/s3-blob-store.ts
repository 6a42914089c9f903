import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { assertObjectKey, type BlobStore, type StoredBlob } from "./blob-store";
import { assertContentKey, contentKey, receiveToFile } from "./receive-to-file";

export type S3BlobStoreOptions = {
  client: S3Client;
  bucket: string;
  /** Prepended to every key ("" or e.g. "prod/"). */
  prefix: string;
  /** Local working directory: uploads are staged here, and downloads cached (content keys never change). */
  workDir: string;
};

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

  const exists = async (key: string): Promise<boolean> => {
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  };

  const download = async (key: string): Promise<string> => {
    const file = path.join(cacheDir, key);
    try {
      await fs.access(file);
      return file;
    } catch {
      // not cached yet
    }
    await fs.mkdir(path.dirname(file), { recursive: true });
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) })).catch((error: unknown) => {
      if (isNotFound(error)) throw new Error(`The blob ${key} is not in s3://${bucket}/${prefix}`);
      throw error;
    });
    const tmp = `${file}.${randomBytes(6).toString("hex")}.part`;
    try {
      await pipeline(response.Body as Readable, createWriteStream(tmp));
      await fs.rename(tmp, file);
    } catch (error) {
      await fs.rm(tmp, { force: true });
      throw error;
    }
    return file;
  };

  return {
    async put(source: Readable, { maxBytes, signal }): Promise<StoredBlob> {
      await fs.mkdir(stagingDir, { recursive: true });
      const staged = path.join(stagingDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
      const { sha256, sizeBytes, head } = await receiveToFile(source, staged, { maxBytes, ...(signal ? { signal } : {}) });
      const key = contentKey(sha256);
      try {
        if (!(await exists(key))) {
          await client.send(
            new PutObjectCommand({ Bucket: bucket, Key: objectKey(key), Body: createReadStream(staged), ContentLength: sizeBytes }),
            signal ? { abortSignal: signal } : {},
          );
        }
        // The staged file becomes the local cache copy: the control plane probes it next.
        const cached = path.join(cacheDir, key);
        await fs.mkdir(path.dirname(cached), { recursive: true });
        await fs.rename(staged, cached);
      } finally {
        await fs.rm(staged, { force: true });
      }
      return { key, sha256, sizeBytes, head };
    },
    localPath(key) {
      assertContentKey(key);
      let pending = downloads.get(key);
      if (!pending) {
        pending = download(key).finally(() => downloads.delete(key));
        downloads.set(key, pending);
      }
      return pending;
    },
    uri(key) {
      return `s3://${bucket}/${objectKey(key)}`;
    },
    exists(key) {
      assertContentKey(key);
      return exists(key);
    },
    async delete(key) {
      assertContentKey(key);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      await fs.rm(path.join(cacheDir, key), { force: true });
    },
    async putObject(key, bytes) {
      assertObjectKey(key);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: objectKey(key), Body: bytes, ContentLength: bytes.length }));
    },
    async getObject(key) {
      assertObjectKey(key);
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return Buffer.from(await response.Body!.transformToByteArray());
    },
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NotFound" || e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404;
}
