import { isJunk } from "./media-kinds";

/** A file picked or dropped, with the path it had inside a dropped folder. */
export type PickedFile = { file: File; path: string };

// FileSystemEntry types are not in TypeScript's DOM lib; these are the parts used.
type Entry = { isFile: boolean; isDirectory: boolean; name: string; fullPath: string };
type FileEntry = Entry & { file(ok: (file: File) => void, fail: (error: unknown) => void): void };
type DirectoryEntry = Entry & { createReader(): { readEntries(ok: (entries: Entry[]) => void, fail: (error: unknown) => void): void } };

async function readDirectory(entry: DirectoryEntry): Promise<Entry[]> {
  const reader = entry.createReader();
  const all: Entry[] = [];
  // readEntries returns at most ~100 entries per call; read until it returns none.
  for (;;) {
    const batch = await new Promise<Entry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walk(entry: Entry, out: PickedFile[]): Promise<void> {
  if (isJunk(entry.name)) return;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileEntry).file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\//, "") });
  } else if (entry.isDirectory) {
    for (const child of await readDirectory(entry as DirectoryEntry)) await walk(child, out);
  }
}

/** Every file in a drop, folders walked recursively. */
export async function filesFromDrop(data: DataTransfer): Promise<PickedFile[]> {
  const entries = [...data.items]
    .filter((item) => item.kind === "file")
    .map((item) => (item as DataTransferItem & { webkitGetAsEntry(): Entry | null }).webkitGetAsEntry());
  if (entries.every((entry) => entry === null)) return [...data.files].map((file) => ({ file, path: file.name }));
  const out: PickedFile[] = [];
  for (const entry of entries) if (entry) await walk(entry, out);
  return out;
}

/** Files from an <input type=file> (with webkitdirectory, each keeps its relative path). */
export function filesFromInput(list: FileList | null): PickedFile[] {
  return [...(list ?? [])]
    .filter((file) => !isJunk(file.name))
    .map((file) => ({ file, path: (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name }));
}
