import path from "node:path";
import { eachLimited } from "../src/shared/each-limited";
import { parseDownloadArgs } from "./args";
import type { Api, Connection } from "./connection";
import { messageOf } from "./errors";
import { writeJobOutput } from "./job-output";
import { assertDistinctTargets, baseName, outputKindOfJob, outputName } from "./outputs";

/** A job as jobs.list returns it (a batch's children). */
type ListedJob = Awaited<ReturnType<Api["jobs"]["list"]["query"]>>["jobs"][number];

/**
 * download: one job's output to `<out>/<job id>.<ext>`, or, for a batch, every finished
 * child's output named after the child's file. Children not finished (or failed) are listed
 * and make the exit status 1, so a script can run it again later.
 */
export async function download(api: Api, connection: Connection, args: string[]): Promise<number> {
  const { id, format, outDir } = parseDownloadArgs(args);
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
