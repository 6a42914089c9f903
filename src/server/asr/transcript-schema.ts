import { z } from "zod";
import type { SegmentDecoding, TranscriptSegment, TranscriptWord, WordTimings } from "./engine";

/**
 * Transcripts as they cross a boundary (an engine thread's messages, a remote worker's
 * result): one schema for both, checked against the engine's types.
 */
export const transcriptWordSchema = z.object({ text: z.string(), startS: z.number(), endS: z.number(), confidence: z.number() }) satisfies z.ZodType<TranscriptWord>;

export const segmentDecodingSchema = z.object({
  avgLogProb: z.number(),
  compressionRatio: z.number(),
  noSpeechProb: z.number(),
  temperature: z.number(),
}) satisfies z.ZodType<SegmentDecoding>;

export const transcriptSegmentSchema = z.object({
  startS: z.number(),
  endS: z.number(),
  text: z.string(),
  words: z.array(transcriptWordSchema),
  decoding: segmentDecodingSchema.optional(),
}) satisfies z.ZodType<TranscriptSegment>;

export const wordTimingsSchema = z.enum(["recognised", "aligned", "proportional"]) satisfies z.ZodType<WordTimings>;
