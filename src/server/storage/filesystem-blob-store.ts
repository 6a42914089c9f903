import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { assertObjectKey, type BlobStore, type StoredBlob } from "./blob-store";
import { assertContentKey, contentKey, receiveToFile } from "./receive-to-file";

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
    assertContentKey(key);
    return path.join(root, key);
  };
  const outputPath = (key: string): string => {
    assertObjectKey(key);
    return path.join(root, key);
  };

  return {
    async put(source: Readable, { maxBytes, signal }): Promise<StoredBlob> {
      await ensureDir(tmpDir);
      const tmpPath = path.join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
      const { sha256, sizeBytes, head } = await receiveToFile(source, tmpPath, { maxBytes, ...(signal ? { signal } : {}) });
      const key = contentKey(sha256);
      const finalPath = pathOf(key);
      await ensureDir(path.dirname(finalPath));
      // rename is atomic; an identical blob already there is simply replaced by the same bytes.
      await fs.rename(tmpPath, finalPath);
      return { key, sha256, sizeBytes, head };
    },
    async putObject(key, bytes) {
      const file = outputPath(key);
      await ensureDir(path.dirname(file));
      const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, file);
    },
    async getObject(key) {
      return fs.readFile(outputPath(key));
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
