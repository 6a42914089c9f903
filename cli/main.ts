import fs from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { eachLimited } from "../src/shared/each-limited";
import { TRANSCRIPT_FILE_EXTENSION } from "../src/server/transcripts/render-transcript";
import { authHeaders, CONNECTION_OPTIONS, createApi, fetchDescribed, readConnection, type Api, type Connection } from "./connection";
import { ProgressBoard } from "./progress";
import { ResumeState } from "./resume-state";
import { UploadInterruptedError, UploadRefusedError, uploadFile } from "./upload-file";

const USAGE = `transcribe-cli: bulk uploads and downloads against a transcription server

  transcribe-cli upload <files|dirs...> [--op transcribe|srt|fix|convert] [--language en]
                 [--format srt|vtt|txt|json|json-v2] [--convert-to mp4|m4a|mp3|wav]
                 [--concurrency 4] [--wait] [--out DIR] [--server URL] [--api-key KEY]
  transcribe-cli status <job-id>        [--server URL] [--api-key KEY]
  transcribe-cli list [--status S] [--limit N] [--server URL] [--api-key KEY]
  transcribe-cli download <job-id|batch-id> [--format srt] [--out DIR] [--server URL] [--api-key KEY]

--server defaults to $TRANSCRIBE_SERVER or http://127.0.0.1:18000; --api-key to $TRANSCRIBE_API_KEY
(needed when the server sets API_KEYS). With --out, outputs mirror the input folders (relative
to the folder the inputs share). A re-run of upload skips files already done (state in
<out or cwd>/.transcribe-cli.json); Ctrl-C stops it cleanly (exit 130) for a later re-run.
download of a batch writes every finished file's output, named after the file.`;

/** Exit status after Ctrl-C, as shells report a process ended by SIGINT (128 + 2). */
const EXIT_INTERRUPTED = 130;

const MEDIA_EXTENSIONS = new Set([".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".webm", ".mp4", ".m4v", ".mkv", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".3gp"]);
const OPERATIONS = {
  transcribe: { batch: "batch_transcribe", accepts: "media", defaultFormat: "txt" },
  srt: { batch: "batch_generate_srt", accepts: "media", defaultFormat: "srt" },
  fix: { batch: "batch_fix_srt", accepts: "srt", defaultFormat: "srt" },
  convert: { batch: "batch_convert", accepts: "media", defaultFormat: "" },
} as const;
type Operation = keyof typeof OPERATIONS;
const FORMATS = ["srt", "vtt", "txt", "json", "json-v2"] as const;
type Format = (typeof FORMATS)[number];
const CONVERT_FORMATS = ["mp4", "m4a", "mp3", "wav"] as const;
type ConvertFormat = (typeof CONVERT_FORMATS)[number];

function isFormat(value: string): value is Format {
  return (FORMATS as readonly string[]).includes(value);
}

function isConvertFormat(value: string): value is ConvertFormat {
  return (CONVERT_FORMATS as readonly string[]).includes(value);
}

/** A job as jobs.list returns it (a batch's children). */
type ListedJob = Awaited<ReturnType<Api["jobs"]["list"]["query"]>>["jobs"][number];

/** What a finished job leaves to download: a transcript rendering or a new media file. */
type OutputKind = { kind: "transcript"; format: Format } | { kind: "fixed" } | { kind: "converted"; format: string };

/** The output's file name for an input named `base` (without its extension). */
function outputName(base: string, output: OutputKind): string {
  switch (output.kind) {
    case "transcript":
      return `${base}.${TRANSCRIPT_FILE_EXTENSION[output.format]}`;
    case "fixed":
      return `${base}.fixed.srt`;
    case "converted":
      return `${base}.converted.${output.format}`;
  }
}

function baseName(name: string): string {
  return path.basename(name, path.extname(name));
}

/** A fix_srt or convert job's result: the output is a new media file. */
const mediaOutputResultSchema = z.object({ outputMediaFileId: z.string().min(1) });
/** A convert job's params: the format asked for names the file (the probe's name can be "mov,mp4,…"). */
const convertParamsSchema = z.object({ options: z.object({ format: z.string().min(1) }) });

/** The output a finished job of this type has. */
function outputKindOfJob(job: { id: string; type: string; params: unknown }, format: Format): OutputKind {
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
function assertDistinctTargets(targets: ReadonlyMap<string, string>, what: string): void {
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

/** Files under the given paths (directories walked recursively), sorted. */
async function collect(paths: readonly string[]): Promise<string[]> {
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

/**
 * The deepest folder holding every argument (a folder counts as itself, a file as its
 * folder): --out mirrors the inputs below it, so `a/x.wav` and `b/x.wav` keep apart.
 */
async function commonRoot(paths: readonly string[]): Promise<string> {
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

function supported(file: string, op: Operation): boolean {
  const extension = path.extname(file).toLowerCase();
  return OPERATIONS[op].accepts === "srt" ? extension === ".srt" : MEDIA_EXTENSIONS.has(extension);
}

/** Waits `ms`, or less if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function upload(api: Api, connection: Connection, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      op: { type: "string", default: "transcribe" },
      language: { type: "string", default: "en" },
      format: { type: "string" },
      "convert-to": { type: "string", default: "mp4" },
      concurrency: { type: "string", default: "4" },
      wait: { type: "boolean", default: false },
      out: { type: "string" },
      ...CONNECTION_OPTIONS,
    },
  });
  if (!Object.hasOwn(OPERATIONS, values.op)) throw new Error(`--op must be one of ${Object.keys(OPERATIONS).join(", ")}`);
  const op = values.op as Operation;
  const formatValue = values.format ?? OPERATIONS[op].defaultFormat;
  if (op !== "convert" && op !== "fix" && !isFormat(formatValue)) throw new Error(`--format must be one of ${FORMATS.join(", ")}`);
  const format: Format = isFormat(formatValue) ? formatValue : "srt";
  const convertTo = values["convert-to"];
  if (!isConvertFormat(convertTo)) throw new Error(`--convert-to must be one of ${CONVERT_FORMATS.join(", ")}`);
  if (positionals.length === 0) throw new Error("upload needs files or folders");
  const outDir = values.out ? path.resolve(values.out) : null;
  const output: OutputKind = op === "fix" ? { kind: "fixed" } : op === "convert" ? { kind: "converted", format: convertTo } : { kind: "transcript", format };

  // A file named twice (a folder and a file in it) is still one file, uploaded once.
  const all = [...new Set(await collect(positionals))];
  const files = all.filter((file) => supported(file, op));
  // Every output path is settled before anything is sent, so a clash stops the run while
  // nothing is uploaded yet (and a re-run after renaming starts clean).
  const root = await commonRoot(positionals);
  const targets = new Map(files.map((file) => [file, path.join(outDir ? path.join(outDir, path.relative(root, path.dirname(file))) : path.dirname(file), outputName(baseName(file), output))]));
  assertDistinctTargets(targets, "Nothing was uploaded");
  // Progress names files by their path below that folder: two x.wav are a/x.wav and b/x.wav.
  const labels = new Map(files.map((file) => [file, path.relative(root, file) || path.basename(file)]));

  const state = await ResumeState.open(outDir ?? process.cwd());
  const board = new ProgressBoard(process.stderr, files.length);
  for (const file of all) if (!supported(file, op)) board.note(`skipped (unsupported for ${op}): ${file}`);

  // Ctrl-C: stop starting work, abort uploads whose body is still being sent (the server
  // discards a cut-off upload), but wait for the replies to uploads the server already has,
  // and record them: killed at once, the server could keep a media row this run never
  // learned of, and the re-run would upload that file again beside it. A second Ctrl-C quits.
  const interrupt = new AbortController();
  const onSigint = () => {
    if (interrupt.signal.aborted) {
      board.note("interrupted again: quitting now (uploads still waiting for a reply may be sent again by a re-run)");
      process.exit(EXIT_INTERRUPTED);
    }
    board.note("interrupted: stopping uploads in progress and saving what is done (Ctrl-C again to quit at once)");
    interrupt.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    return await uploadAndWait({ api, connection, op, language: values.language, convertTo, output, files, targets, labels, wait: values.wait, concurrency: Math.max(1, Number(values.concurrency) || 1), state, board, signal: interrupt.signal });
  } finally {
    await state.saved();
    process.off("SIGINT", onSigint);
  }
}

type UploadRun = {
  api: Api;
  connection: Connection;
  op: Operation;
  language: string;
  convertTo: ConvertFormat;
  output: OutputKind;
  files: string[];
  /** Each input's output path. */
  targets: ReadonlyMap<string, string>;
  /** Each input's name in progress lines. */
  labels: ReadonlyMap<string, string>;
  wait: boolean;
  concurrency: number;
  state: ResumeState;
  board: ProgressBoard;
  /** Aborted by Ctrl-C. */
  signal: AbortSignal;
};

async function uploadAndWait(run: UploadRun): Promise<number> {
  const { api, connection, op, files, targets, state, board, signal } = run;
  const label = (file: string) => run.labels.get(file) ?? path.basename(file);
  const interrupted = () => {
    board.note("interrupted: what was uploaded is remembered; re-run the same command to continue");
    board.finish();
    return EXIT_INTERRUPTED;
  };

  const failed = new Set<string>();
  const mediaIds = new Map<string, string>();
  const pending: string[] = [];
  for (const file of files) {
    const entry = await state.get(file);
    if (entry?.done) board.update(file, label(file), 1, "done before");
    else pending.push(file);
    if (entry?.mediaId) mediaIds.set(file, entry.mediaId);
  }

  // Upload what has no media id yet, each file retried on its own.
  await eachLimited(
    pending.filter((file) => !mediaIds.has(file)),
    run.concurrency,
    async (file) => {
      for (let attempt = 1; !signal.aborted; attempt++) {
        try {
          const media = await uploadFile(connection, file, { signal, onBytes: (sent, total) => board.update(file, label(file), total ? (0.5 * sent) / total : 0.5, "uploading") });
          mediaIds.set(file, media.id);
        } catch (error) {
          if (error instanceof UploadInterruptedError) {
            board.update(file, label(file), 0, "stopped");
            return;
          }
          if (error instanceof UploadRefusedError || attempt >= 3) {
            failed.add(file);
            board.update(file, label(file), 0, "failed");
            board.note(`upload failed: ${file}: ${messageOf(error)}`);
            return;
          }
          board.note(`upload of ${label(file)} failed (${messageOf(error)}); retrying`);
          await pause(500 * attempt, signal);
          continue;
        }
        await state.set(file, { mediaId: mediaIds.get(file)! });
        board.update(file, label(file), 0.5, "uploaded");
        return;
      }
    },
  );
  if (signal.aborted) return interrupted();

  // One batch for every uploaded file that has no job yet. Not interrupted midway: the
  // server creates the jobs whether or not we stay to hear their ids.
  const needJob: string[] = [];
  for (const file of pending) if (mediaIds.has(file) && !(await state.get(file))?.jobId) needJob.push(file);
  if (needJob.length) {
    const parent = await api.jobs.createBatch.mutate({
      mediaFileIds: needJob.map((file) => mediaIds.get(file)!),
      type: OPERATIONS[op].batch,
      language: run.language,
      ...(op === "convert" ? { convert: { format: run.convertTo } } : {}),
    });
    const { batch } = await api.jobs.get.query({ id: parent.id });
    for (const [index, file] of needJob.entries()) await state.set(file, { mediaId: mediaIds.get(file)!, jobId: batch!.childIds[index]! });
    process.stdout.write(`batch ${parent.id}: ${needJob.length} ${op} job(s)\n`);
  }
  if (signal.aborted) return interrupted();
  if (!run.wait) {
    board.finish();
    return failed.size ? 1 : 0;
  }

  // --wait: follow every unfinished job and write its output beside the input (or into --out).
  const waiting: { file: string; jobId: string }[] = [];
  for (const file of pending) {
    const entry = await state.get(file);
    if (entry?.jobId && !entry.done) waiting.push({ file, jobId: entry.jobId });
  }
  await eachLimited(waiting, 8, async ({ file, jobId }) => {
    while (!signal.aborted) {
      const { job } = await api.jobs.get.query({ id: jobId });
      if (job.status === "DONE") {
        const target = targets.get(file)!;
        await writeJobOutput(api, connection, job, run.output, target);
        await state.set(file, { mediaId: mediaIds.get(file)!, jobId, done: true });
        board.update(file, `${label(file)} → ${target}`, 1, "done");
        return;
      }
      if (job.status === "FAILED" || job.status === "CANCELLED") {
        failed.add(file);
        board.update(file, label(file), 1, job.status.toLowerCase());
        board.note(`${job.status.toLowerCase()}: ${file}: ${job.failureReason ?? ""}`);
        return;
      }
      board.update(file, label(file), 0.5 + 0.5 * (job.progress ?? 0), job.status.toLowerCase());
      await pause(500, signal);
    }
  });
  if (signal.aborted) return interrupted();
  board.finish();
  return failed.size ? 1 : 0;
}

/** Writes a finished job's output to `target`, creating its folder. */
async function writeJobOutput(api: Api, connection: Connection, job: { id: string; result: unknown }, output: OutputKind, target: string): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  if (output.kind === "transcript") {
    const transcript = await api.jobs.transcript.query({ id: job.id, format: output.format });
    await fs.writeFile(target, transcript.body);
    return;
  }
  const result = mediaOutputResultSchema.safeParse(job.result);
  if (!result.success) throw new Error(`Job ${job.id} finished without an output file (its result has no outputMediaFileId)`);
  const url = new URL(`/api/media/${encodeURIComponent(result.data.outputMediaFileId)}/content`, connection.server);
  const response = await fetchDescribed(url, { headers: authHeaders(connection) });
  if (!response.ok) throw new Error(`Downloading the output of ${job.id} failed: GET ${url.href}: HTTP ${response.status}`);
  await fs.writeFile(target, Buffer.from(await response.arrayBuffer()));
}

/**
 * download: one job's output to `<out>/<job id>.<ext>`, or, for a batch, every finished
 * child's output named after the child's file. Children not finished (or failed) are listed
 * and make the exit status 1, so a script can run it again later.
 */
async function download(api: Api, connection: Connection, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: "string", default: "srt" }, out: { type: "string", default: "." }, ...CONNECTION_OPTIONS } });
  const id = positionals[0];
  if (!id) throw new Error("download needs a job id or a batch id");
  if (!isFormat(values.format)) throw new Error(`--format must be one of ${FORMATS.join(", ")}`);
  const format = values.format;
  const outDir = values.out;
  const { job, batch } = await api.jobs.get.query({ id });

  if (!batch) {
    if (job.status !== "DONE") throw new Error(`Job ${id} is ${job.status}${job.failureReason ? ` (${job.failureReason})` : ""}: it has no output to download yet`);
    const target = path.join(outDir, outputName(id, outputKindOfJob(job, format)));
    await writeJobOutput(api, connection, job, outputKindOfJob(job, format), target);
    process.stdout.write(`${target}\n`);
    return 0;
  }

  const children: ListedJob[] = [];
  for (let cursor: string | undefined; ; ) {
    const page = await api.jobs.list.query({ parentId: id, order: "oldest", limit: 100, ...(cursor ? { cursor } : {}) });
    children.push(...page.jobs);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  // Names come from every child, finished or not, so a later run names files the same way
  // and a clash is found before anything is written.
  const label = (child: ListedJob) => `${child.id} (${child.media?.originalName ?? "no file"})`;
  const planned = children.map((child) => ({ child, output: outputKindOfJob(child, format), name: child.media?.originalName ?? child.id }));
  const targets = new Map(planned.map(({ child, output, name }) => [label(child), path.join(outDir, outputName(baseName(name), output))]));
  assertDistinctTargets(targets, `Nothing was downloaded from batch ${id}`);

  const notDone: string[] = [];
  const failed: string[] = [];
  let written = 0;
  await eachLimited(planned, 4, async ({ child, output }) => {
    if (child.status !== "DONE") {
      notDone.push(`${child.status.toLowerCase()}: ${label(child)}${child.failureReason ? `: ${child.failureReason}` : ""}`);
      return;
    }
    const target = targets.get(label(child))!;
    try {
      await writeJobOutput(api, connection, child, output, target);
      written++;
      process.stdout.write(`${target}\n`);
    } catch (error) {
      failed.push(`download failed: ${label(child)}: ${messageOf(error)}`);
    }
  });
  for (const line of [...notDone, ...failed]) process.stderr.write(`${line}\n`);
  process.stderr.write(`batch ${id}: ${written} of ${children.length} output(s) written${notDone.length ? `, ${notDone.length} not done` : ""}${failed.length ? `, ${failed.length} failed to download` : ""}\n`);
  return notDone.length || failed.length ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const connection = readConnection(rest);
  const api = createApi(connection);
  switch (command) {
    case "upload":
      return upload(api, connection, rest);
    case "status": {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: { ...CONNECTION_OPTIONS } });
      if (!positionals[0]) throw new Error("status needs a job id");
      const { job, batch } = await api.jobs.get.query({ id: positionals[0] });
      process.stdout.write(`${JSON.stringify({ id: job.id, type: job.type, status: job.status, progress: job.progress, failureReason: job.failureReason, ...(batch ? { batch } : {}) }, null, 2)}\n`);
      return 0;
    }
    case "list": {
      const { values } = parseArgs({ args: rest, options: { status: { type: "string" }, limit: { type: "string", default: "20" }, ...CONNECTION_OPTIONS } });
      const page = await api.jobs.list.query({ limit: Number(values.limit), ...(values.status ? { status: [values.status.toUpperCase() as "DONE"] } : {}) });
      for (const job of page.jobs) process.stdout.write(`${job.id}  ${job.status.padEnd(9)} ${job.type.padEnd(18)} ${job.media?.originalName ?? ""}\n`);
      return 0;
    }
    case "download":
      return download(api, connection, rest);
    default:
      process.stdout.write(`${USAGE}\n`);
      return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`transcribe-cli: ${messageOf(error)}\n`);
    process.exit(1);
  },
);
