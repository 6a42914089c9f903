import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { BlobTooLargeError, type BlobStore, type StoredBlob } from "./blob-store";

/** Blobs under `<root>/sha256/ab/cd/<hex>`; uploads land in `<root>/tmp` first and are renamed in. */
export function createFilesystemBlobStore(root: string): BlobStore {
  const tmpDir = path.join(root, "tmp");
  // Directories already created by this process: a put then costs no mkdir syscalls.
  const knownDirs = new Set<string>();
  const ensureDir = async (dir: string) => {
    if (knownDirs.has(dir)) return;
    await fs.mkdir(dir, { recursive: true });
    knownDirs.add(dir);
  };
  const pathOf = (key: string): string => {
    if (!/^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(key)) throw new Error(`Invalid blob key: ${key}`);
    return path.join(root, key);
  };

  return {
    async put(source: Readable, { maxBytes, signal }): Promise<StoredBlob> {
      await ensureDir(tmpDir);
      const tmpPath = path.join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
      const hash = createHash("sha256");
      let sizeBytes = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          sizeBytes += chunk.length;
          if (sizeBytes > maxBytes) return callback(new BlobTooLargeError(maxBytes));
          hash.update(chunk);
          callback(null, chunk);
        },
      });
      try {
        await pipeline(source, meter, createWriteStream(tmpPath), signal ? { signal } : {});
      } catch (error) {
        await fs.rm(tmpPath, { force: true });
        throw error;
      }
      const sha256 = hash.digest("hex");
      const key = `sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
      const finalPath = pathOf(key);
      await ensureDir(path.dirname(finalPath));
      // rename is atomic; an identical blob already there is simply replaced by the same bytes.
      await fs.rename(tmpPath, finalPath);
      return { key, sha256, sizeBytes };
    },
    async localPath(key) {
      // No existence check: readers open the file anyway and report a missing one clearly.
      return pathOf(key);
    },
    uri(key) {
      return pathToFileURL(pathOf(key)).href;
    },
    async exists(key) {
      try {
        await fs.access(pathOf(key));
        return true;
      } catch {
        return false;
      }
    },
    async delete(key) {
      await fs.rm(pathOf(key), { force: true });
    },
  };
}
