import { z } from "zod";

/**
 * Capacity is per kind of work: each job type runs in a lane, and each lane has its own
 * limit in every process that serves it.
 * - asr: transcriptions, on engine slots (embedded) or the remote fleet (TRANSPORT=sqs);
 * - convert: ffmpeg, on a bounded pool (embedded) or the remote fleet;
 * - llm: fix_srt, at most MAX_LLM_CONCURRENCY jobs running per process.
 * Batch parents have no lane: they are never claimed, their children are.
 */
export const laneSchema = z.enum(["asr", "convert", "llm"]);
export type Lane = z.infer<typeof laneSchema>;

const LANE_OF_TYPE: Record<string, Lane> = {
  transcribe: "asr",
  generate_srt: "asr",
  convert: "convert",
  fix_srt: "llm",
};

/** The lane a job type runs in; null for batch parents (and types no handler knows, which fail when claimed). */
export function laneOf(type: string): Lane | null {
  return LANE_OF_TYPE[type] ?? null;
}
