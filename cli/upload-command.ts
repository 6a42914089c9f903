import path from "node:path";
import { eachLimited } from "../src/shared/each-limited";
import { OPERATIONS, parseUploadArgs, type ConvertFormat, type Operation } from "./args";
import type { Api, Connection } from "./connection";
import { messageOf } from "./errors";
import { collect, supported } from "./inputs";
import { writeJobOutput } from "./job-output";
import { assertDistinctTargets, commonRoot, outputPath, type OutputKind } from "./outputs";
import { ProgressBoard } from "./progress";
import { ResumeState } from "./resume-state";
import { UploadInterruptedError, UploadRefusedError, uploadFile } from "./upload-file";

/** Exit status after Ctrl-C, as shells report a process ended by SIGINT (128 + 2). */
const EXIT_INTERRUPTED = 130;

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

export async function upload(api: Api, connection: Connection, args: string[]): Promise<number> {
  const { op, language, format, convertTo, concurrency, wait, outDir, paths } = parseUploadArgs(args);
  const output: OutputKind = op === "fix" ? { kind: "fixed" } : op === "convert" ? { kind: "converted", format: convertTo } : { kind: "transcript", format };

  // A file named twice (a folder and a file in it) is still one file, uploaded once.
  const all = [...new Set(await collect(paths))];
  const files = all.filter((file) => supported(file, op));
  // Every output path is settled before anything is sent, so a clash stops the run while
  // nothing is uploaded yet (and a re-run after renaming starts clean).
  const root = await commonRoot(paths);
  const targets = new Map(files.map((file) => [file, outputPath(file, root, outDir, output)]));
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
    return await uploadAndWait({ api, connection, op, language, convertTo, output, files, targets, labels, wait, concurrency, state, board, signal: interrupt.signal });
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
