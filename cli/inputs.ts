import fs from "node:fs/promises";
import path from "node:path";
import { OPERATIONS, type Operation } from "./args";

const MEDIA_EXTENSIONS = new Set([".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".webm", ".mp4", ".m4v", ".mkv", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".3gp"]);

/** Files under the given paths (directories walked recursively), sorted. */
export async function collect(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (entry: string): Promise<void> => {
    const stat = await fs.stat(entry);
    if (stat.isDirectory()) {
      for (const name of (await fs.readdir(entry)).sort()) if (!name.startsWith(".")) await walk(path.join(entry, name));
    } else if (stat.isFile()) out.push(path.resolve(entry));
  };
  for (const entry of paths) await walk(entry);
  return out;
}

export function supported(file: string, op: Operation): boolean {
  const extension = path.extname(file).toLowerCase();
  return OPERATIONS[op].accepts === "srt" ? extension === ".srt" : MEDIA_EXTENSIONS.has(extension);
}
