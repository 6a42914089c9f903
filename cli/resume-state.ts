import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

const entrySchema = z.object({
  size: z.number(),
  mtimeMs: z.number(),
  mediaId: z.string().optional(),
  jobId: z.string().optional(),
  /** Outputs written: the file needs nothing more. */
  done: z.boolean().default(false),
});
const stateSchema = z.object({ version: z.literal(1), files: z.record(z.string(), entrySchema) });
export type ResumeEntry = z.infer<typeof entrySchema>;

/**
 * What earlier runs achieved, per input file, in `.transcribe-cli.json` in the output folder:
 * a re-run skips finished files and does not upload twice. Keyed by the input's absolute
 * path (never its base name: `a/x.wav` and `b/x.wav` are two files) and checked against size
 * and mtime. Written after every change, atomically.
 */
export class ResumeState {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly state: z.infer<typeof stateSchema>,
  ) {}

  static async open(dir: string): Promise<ResumeState> {
    const file = path.join(dir, ".transcribe-cli.json");
    try {
      return new ResumeState(file, stateSchema.parse(JSON.parse(await fs.readFile(file, "utf8"))));
    } catch {
      return new ResumeState(file, { version: 1, files: {} });
    }
  }

  /** The entry for this file if it is the same file (size and mtime) as last time. */
  async get(input: string): Promise<ResumeEntry | null> {
    const entry = this.state.files[path.resolve(input)];
    if (!entry) return null;
    const stat = await fs.stat(input);
    return stat.size === entry.size && stat.mtimeMs === entry.mtimeMs ? entry : null;
  }

  async set(input: string, patch: Partial<ResumeEntry>): Promise<void> {
    const stat = await fs.stat(input);
    const key = path.resolve(input);
    const previous = this.state.files[key];
    const same = previous && previous.size === stat.size && previous.mtimeMs === stat.mtimeMs;
    this.state.files[key] = { ...(same ? previous : {}), size: stat.size, mtimeMs: stat.mtimeMs, done: false, ...patch };
    // Concurrent uploads update the state at once: writes go one after another. A failed
    // write is reported to its caller but does not stop the ones queued after it.
    const write = this.writing.catch(() => undefined).then(() => this.flush());
    this.writing = write;
    await write;
  }

  /** Resolves once every change so far is on disk (before exiting on Ctrl-C). */
  async saved(): Promise<void> {
    await this.writing.catch(() => undefined);
  }

  private async flush(): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(this.state, null, 2));
    await fs.rename(tmp, this.file);
  }
}
