import { z } from "zod";
import type { JobView } from "./trpc";

// The job's result and params are JSON whose shape depends on the type; read only the
// fields the dashboard shows, and tolerate anything else.
const engineResult = z.object({ engine: z.string() });
const modelParams = z.object({ model: z.string() });
const batchParams = z.object({ count: z.number().int() });

/** Which engine (or LLM model) did, or will do, the work. */
export function jobEngine(job: JobView): string {
  const result = engineResult.safeParse(job.result);
  if (result.success) return result.data.engine;
  const params = modelParams.safeParse(job.params);
  if (params.success) return params.data.model;
  if (job.type === "convert" || job.type === "batch_convert") return "ffmpeg";
  return job.enginesRequested > 1 ? `${job.enginesRequested} slots` : "—";
}

/** The job's name in tables: its file, or the batch it is ("Batch of 3 files · 1a2b3c"). */
export function jobTitle(job: JobView): string {
  if (job.media) return job.media.originalName;
  const batch = batchParams.safeParse(job.params);
  if (!batch.success) return `Batch ${job.id}`;
  return `Batch of ${batch.data.count} file${batch.data.count === 1 ? "" : "s"} · ${job.id.slice(-6)}`;
}
