import { z } from "zod";
import type { Db } from "../db/client";
import { batchJobTypeSchema } from "../jobs/job-types";

/** The throughput chart's request: how far back to look and into how many bars to split it. */
export const throughputInputSchema = z.object({
  /** Minutes back from now, 5 minutes to a day. */
  windowMinutes: z.number().int().min(5).max(1440).default(60),
  buckets: z.number().int().min(5).max(120).default(30),
});

export type ThroughputInput = z.infer<typeof throughputInputSchema>;

/** Jobs that finished within one slice of the window. */
export type ThroughputBucket = {
  /** Start of the slice (inclusive); it ends where the next one starts. */
  start: Date;
  done: number;
  failed: number;
  /** s of media the DONE jobs of this slice decoded (transcriptions and conversions). */
  audioS: number;
};

export type Throughput = {
  windowMinutes: number;
  /** ms each bucket spans (may be fractional when the window does not divide evenly). */
  bucketMs: number;
  /** Oldest first; `buckets` entries. */
  buckets: ThroughputBucket[];
};

/**
 * Finished work per time slice over the last `windowMinutes`, for the capacity page's chart.
 * Counts single jobs (batch children included) by when they finished: batch parents are left
 * out, as their children are already counted. Cancelled jobs are neither done nor failed work.
 * One query for the rows, bucketed here, so the SQL stays the same on SQLite and PostgreSQL.
 */
export async function readThroughput(db: Db, input: ThroughputInput, now: Date = new Date()): Promise<Throughput> {
  const windowMs = input.windowMinutes * 60_000;
  const bucketMs = windowMs / input.buckets;
  const from = now.getTime() - windowMs;
  const rows = await db.job.findMany({
    where: {
      finishedAt: { gte: new Date(from), lte: now },
      status: { in: ["DONE", "FAILED"] },
      // The known list rather than `startsWith: "batch_"`: "_" is a LIKE wildcard.
      type: { notIn: batchJobTypeSchema.options },
    },
    select: { type: true, status: true, finishedAt: true, mediaFile: { select: { durationS: true } } },
  });
  const buckets: ThroughputBucket[] = Array.from({ length: input.buckets }, (_, i) => ({ start: new Date(from + i * bucketMs), done: 0, failed: 0, audioS: 0 }));
  for (const row of rows) {
    if (!row.finishedAt) continue;
    // A job finishing exactly at `now` belongs to the last bucket, not one past it.
    const index = Math.min(input.buckets - 1, Math.floor((row.finishedAt.getTime() - from) / bucketMs));
    const bucket = buckets[index];
    if (!bucket) continue;
    if (row.status === "DONE") {
      bucket.done++;
      // A fix_srt job's file is subtitles: it carries its source's duration but decoded no audio.
      if (row.type !== "fix_srt") bucket.audioS += row.mediaFile?.durationS ?? 0;
    } else {
      bucket.failed++;
    }
  }
  // Sums of float durations pick up binary noise; ms is more than a chart can show.
  for (const bucket of buckets) bucket.audioS = Math.round(bucket.audioS * 1000) / 1000;
  return { windowMinutes: input.windowMinutes, bucketMs, buckets };
}
