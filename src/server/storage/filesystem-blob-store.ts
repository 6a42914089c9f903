import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { asStorageError, assertObjectKey, BlobMissingError, type BlobStore, type StoredBlob } from "./blob-store";
import { assertContentKey, contentKey, listContentFiles, receiveToFile, removeFilesOlderThan } from "./receive-to-file";

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
      await ensureDir(tmpDir).catch((error: unknown) => Promise.reject(asStorageError(error)));
      const tmpPath = path.join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
      const { sha256, sizeBytes, head } = await receiveToFile(source, tmpPath, { maxBytes, ...(signal ? { signal } : {}) });
      const key = contentKey(sha256);
      const finalPath = pathOf(key);
      try {
        // A new directory needs a block too: on a full disk this mkdir fails after the bytes fit.
        await ensureDir(path.dirname(finalPath));
        // rename is atomic; an identical blob already there is replaced by the same bytes, and
        // the fresh modification time keeps the unreferenced-blob sweep off it.
        await fs.rename(tmpPath, finalPath);
      } catch (error) {
        await fs.rm(tmpPath, { force: true });
        throw asStorageError(error);
      }
      return { key, sha256, sizeBytes, head };
    },
    async putObject(key, bytes) {
      const file = outputPath(key);
      const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      try {
        await ensureDir(path.dirname(file));
        await fs.writeFile(tmp, bytes);
        await fs.rename(tmp, file);
      } catch (error) {
        // A partial write (full disk) must not stay behind under outputs/.
        await fs.rm(tmp, { force: true });
        throw asStorageError(error);
      }
    },
    async getObject(key) {
      return fs.readFile(outputPath(key));
    },
    async localPath(key) {
      // Checked here so a missing blob fails with its key: ffmpeg's own message would show
      // this server's absolute path to the user.
      const file = pathOf(key);
      try {
        await fs.access(file);
      } catch {
        throw new BlobMissingError(key);
      }
      return file;
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
    async modifiedAt(key) {
      const info = await fs.stat(pathOf(key)).catch(() => null);
      return info?.mtime ?? null;
    },
    listContent() {
      return listContentFiles(root);
    },
    async sweepTemp(olderThan) {
      return removeFilesOlderThan(tmpDir, olderThan);
    },
    async delete(key) {
      await fs.rm(pathOf(key), { force: true });
    },
  };
}
