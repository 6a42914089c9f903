import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { TRANSCRIPT_FILE_EXTENSION } from "../src/server/transcripts/render-transcript";
import type { Format } from "./args";

/** What a finished job leaves to download: a transcript rendering or a new media file. */
export type OutputKind = { kind: "transcript"; format: Format } | { kind: "fixed" } | { kind: "converted"; format: string };

/** The output's file name for an input named `base` (without its extension). */
export function outputName(base: string, output: OutputKind): string {
  switch (output.kind) {
    case "transcript":
      return `${base}.${TRANSCRIPT_FILE_EXTENSION[output.format]}`;
    case "fixed":
      return `${base}.fixed.srt`;
    case "converted":
      return `${base}.converted.${output.format}`;
  }
}

export function baseName(name: string): string {
  return path.basename(name, path.extname(name));
}

/** A convert job's params: the format asked for names the file (the probe's name can be "mov,mp4,…"). */
const convertParamsSchema = z.object({ options: z.object({ format: z.string().min(1) }) });

/** The output a finished job of this type has. */
export function outputKindOfJob(job: { id: string; type: string; params: unknown }, format: Format): OutputKind {
  switch (job.type) {
    case "transcribe":
    case "generate_srt":
      return { kind: "transcript", format };
    case "fix_srt":
      return { kind: "fixed" };
    case "convert": {
      const params = convertParamsSchema.safeParse(job.params);
      return { kind: "converted", format: params.success ? params.data.options.format : "mp4" };
    }
    default:
      throw new Error(`Job ${job.id} is a ${job.type} job, which has no output to download`);
  }
}

/**
 * Refuses output paths that two sources would share: one output would silently replace the
 * other. Case-insensitive where the file system usually is (macOS, Windows).
 */
export function assertDistinctTargets(targets: ReadonlyMap<string, string>, what: string): void {
  const fold = (file: string) => (process.platform === "darwin" || process.platform === "win32" ? file.toLowerCase() : file);
  const bySource = new Map<string, string[]>();
  for (const [source, target] of targets) bySource.set(fold(target), [...(bySource.get(fold(target)) ?? []), source]);
  const clashes: string[] = [];
  for (const [source, target] of targets) {
    const sharing = bySource.get(fold(target)) ?? [];
    if (sharing.length > 1 && sharing[0] === source) clashes.push(`  ${target} <- ${sharing.join(", ")}`);
  }
  if (clashes.length === 0) return;
  const shown = clashes.slice(0, 20);
  if (clashes.length > shown.length) shown.push(`  … and ${clashes.length - shown.length} more`);
  throw new Error(`${what}: these would write the same output file, one over another:\n${shown.join("\n")}\nRename the inputs or use separate --out folders.`);
}

/**
 * The deepest folder holding every argument (a folder counts as itself, a file as its
 * folder): --out mirrors the inputs below it, so `a/x.wav` and `b/x.wav` keep apart.
 */
export async function commonRoot(paths: readonly string[]): Promise<string> {
  const dirs = await Promise.all(paths.map(async (entry) => ((await fs.stat(entry)).isDirectory() ? path.resolve(entry) : path.dirname(path.resolve(entry)))));
  let shared = dirs[0]!.split(path.sep);
  for (const dir of dirs.slice(1)) {
    const parts = dir.split(path.sep);
    let same = 0;
    while (same < shared.length && same < parts.length && shared[same] === parts[same]) same++;
    shared = shared.slice(0, same);
  }
  return shared.join(path.sep) || path.parse(dirs[0]!).root;
}

/** An input's output path: beside the input, or with --out at the input's place below `root`. */
export function outputPath(file: string, root: string, outDir: string | null, output: OutputKind): string {
  return path.join(outDir ? path.join(outDir, path.relative(root, path.dirname(file))) : path.dirname(file), outputName(baseName(file), output));
}
