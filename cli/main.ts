import fs from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { eachLimited } from "../src/shared/each-limited";
import { TRANSCRIPT_FILE_EXTENSION } from "../src/server/transcripts/render-transcript";
import { authHeaders, CONNECTION_OPTIONS, createApi, readConnection, type Api, type Connection } from "./connection";
import { ProgressBoard } from "./progress";
import { ResumeState } from "./resume-state";
import { UploadRefusedError, uploadFile } from "./upload-file";

const USAGE = `transcribe-cli: bulk uploads and downloads against a transcription server

  transcribe-cli upload <files|dirs...> [--op transcribe|srt|fix|convert] [--language en]
                 [--format srt|vtt|txt|json|json-v2] [--convert-to mp4|m4a|mp3|wav]
                 [--concurrency 4] [--wait] [--out DIR] [--server URL] [--api-key KEY]
  transcribe-cli status <job-id>        [--server URL] [--api-key KEY]
  transcribe-cli list [--status S] [--limit N] [--server URL] [--api-key KEY]
  transcribe-cli download <job-id> [--format srt] [--out DIR] [--server URL] [--api-key KEY]

--server defaults to $TRANSCRIBE_SERVER or http://127.0.0.1:18000; --api-key to $TRANSCRIBE_API_KEY
(needed when the server sets API_KEYS). A re-run of upload skips
files already done (state in <out or cwd>/.transcribe-cli.json).`;

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

function supported(file: string, op: Operation): boolean {
  const extension = path.extname(file).toLowerCase();
  return OPERATIONS[op].accepts === "srt" ? extension === ".srt" : MEDIA_EXTENSIONS.has(extension);
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
  if (!(values.op! in OPERATIONS)) throw new Error(`--op must be one of ${Object.keys(OPERATIONS).join(", ")}`);
  const op = values.op as Operation;
  const format = (values.format ?? OPERATIONS[op].defaultFormat) as Format;
  if (op !== "convert" && op !== "fix" && !FORMATS.includes(format)) throw new Error(`--format must be one of ${FORMATS.join(", ")}`);
  if (positionals.length === 0) throw new Error("upload needs files or folders");
  const outDir = values.out ? path.resolve(values.out) : null;
  const state = await ResumeState.open(outDir ?? process.cwd());

  const all = await collect(positionals);
  const files = all.filter((file) => supported(file, op));
  const board = new ProgressBoard(process.stderr, files.length);
  for (const file of all) if (!supported(file, op)) board.note(`skipped (unsupported for ${op}): ${file}`);

  const failed = new Set<string>();
  const mediaIds = new Map<string, string>();
  const pending: string[] = [];
  for (const file of files) {
    const entry = await state.get(file);
    if (entry?.done) board.update(file, path.basename(file), 1, "done before");
    else pending.push(file);
    if (entry?.mediaId) mediaIds.set(file, entry.mediaId);
  }

  // Upload what has no media id yet, each file retried on its own.
  await eachLimited(pending.filter((file) => !mediaIds.has(file)), Math.max(1, Number(values.concurrency)), async (file) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const media = await uploadFile(connection, file, (sent, total) => board.update(file, path.basename(file), total ? (0.5 * sent) / total : 0.5, "uploading"));
        mediaIds.set(file, media.id);
      } catch (error) {
        if (error instanceof UploadRefusedError || attempt >= 3) {
          failed.add(file);
          board.update(file, path.basename(file), 0, "failed");
          board.note(`upload failed: ${file}: ${(error as Error).message}`);
          return;
        }
        board.note(`upload of ${path.basename(file)} failed (${(error as Error).message}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
        continue;
      }
      await state.set(file, { mediaId: mediaIds.get(file)! });
      board.update(file, path.basename(file), 0.5, "uploaded");
      return;
    }
  });

  // One batch for every uploaded file that has no job yet.
  const needJob: string[] = [];
  for (const file of pending) if (mediaIds.has(file) && !(await state.get(file))?.jobId) needJob.push(file);
  if (needJob.length) {
    const parent = await api.jobs.createBatch.mutate({
      mediaFileIds: needJob.map((file) => mediaIds.get(file)!),
      type: OPERATIONS[op].batch,
      language: values.language!,
      ...(op === "convert" ? { convert: { format: values["convert-to"] as "mp4" } } : {}),
    });
    const { batch } = await api.jobs.get.query({ id: parent.id });
    for (const [index, file] of needJob.entries()) await state.set(file, { mediaId: mediaIds.get(file)!, jobId: batch!.childIds[index]! });
    process.stdout.write(`batch ${parent.id}: ${needJob.length} ${op} job(s)\n`);
  }
  if (!values.wait) {
    board.finish();
    return failed.size ? 1 : 0;
  }

  // --wait: follow every unfinished job and write its output beside the input (or into --out).
  const waiting = [];
  for (const file of pending) {
    const entry = await state.get(file);
    if (entry?.jobId && !entry.done) waiting.push({ file, jobId: entry.jobId });
  }
  await eachLimited(waiting, 8, async ({ file, jobId }) => {
    for (;;) {
      const { job } = await api.jobs.get.query({ id: jobId });
      if (job.status === "DONE") {
        const target = await writeOutput(api, connection, job, file, op, format, outDir);
        await state.set(file, { mediaId: mediaIds.get(file)!, jobId, done: true });
        board.update(file, `${path.basename(file)} → ${target}`, 1, "done");
        return;
      }
      if (job.status === "FAILED" || job.status === "CANCELLED") {
        failed.add(file);
        board.update(file, path.basename(file), 1, job.status.toLowerCase());
        board.note(`${job.status.toLowerCase()}: ${file}: ${job.failureReason ?? ""}`);
        return;
      }
      board.update(file, path.basename(file), 0.5 + 0.5 * (job.progress ?? 0), job.status.toLowerCase());
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });
  board.finish();
  return failed.size ? 1 : 0;
}

async function writeOutput(api: Api, connection: Connection, job: { id: string; result: unknown }, input: string, op: Operation, format: Format, outDir: string | null): Promise<string> {
  const dir = outDir ?? path.dirname(input);
  await fs.mkdir(dir, { recursive: true });
  const base = path.basename(input, path.extname(input));
  if (op === "fix" || op === "convert") {
    const result = job.result as { outputMediaFileId: string; format?: string };
    const response = await fetch(new URL(`/api/media/${result.outputMediaFileId}/content`, connection.server), { headers: authHeaders(connection) });
    if (!response.ok) throw new Error(`Downloading the output of ${job.id} failed: HTTP ${response.status}`);
    const target = path.join(dir, op === "fix" ? `${base}.fixed.srt` : `${base}.converted.${result.format ?? "mp4"}`);
    await fs.writeFile(target, Buffer.from(await response.arrayBuffer()));
    return target;
  }
  const transcript = await api.jobs.transcript.query({ id: job.id, format });
  const target = path.join(dir, `${base}.${TRANSCRIPT_FILE_EXTENSION[format]}`);
  await fs.writeFile(target, transcript.body);
  return target;
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
    case "download": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { format: { type: "string", default: "srt" }, out: { type: "string", default: "." }, ...CONNECTION_OPTIONS } });
      if (!positionals[0]) throw new Error("download needs a job id");
      const transcript = await api.jobs.transcript.query({ id: positionals[0], format: values.format as Format });
      const target = path.join(values.out!, `${positionals[0]}.${TRANSCRIPT_FILE_EXTENSION[values.format as Format] ?? values.format}`);
      await fs.mkdir(values.out!, { recursive: true });
      await fs.writeFile(target, transcript.body);
      process.stdout.write(`${target}\n`);
      return 0;
    }
    default:
      process.stdout.write(`${USAGE}\n`);
      return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`transcribe-cli: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
