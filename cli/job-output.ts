import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { authHeaders, fetchDescribed, type Api, type Connection } from "./connection";
import type { OutputKind } from "./outputs";

/** A fix_srt or convert job's result: the output is a new media file. */
const mediaOutputResultSchema = z.object({ outputMediaFileId: z.string().min(1) });

/** Writes a finished job's output to `target`, creating its folder. */
export async function writeJobOutput(api: Api, connection: Connection, job: { id: string; result: unknown }, output: OutputKind, target: string): Promise<void> {
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
