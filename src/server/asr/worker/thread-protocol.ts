import { z } from "zod";
import { transcriptSegmentSchema, wordTimingsSchema } from "../transcript-schema";
import { transcriptionTaskSchema } from "../../../shared/transcription-task";

/** Which engine a thread builds; options are plain JSON (they cross the thread boundary). */
export const threadEngineSpecSchema = z.object({
  /** Module (file URL) exporting `createEngineFactory(options): EngineFactory`. */
  module: z.string().min(1),
  options: z.unknown(),
});
export type ThreadEngineSpec = z.infer<typeof threadEngineSpecSchema>;

const spanSchema = z.object({ startS: z.number(), endS: z.number() });
const windowSchema = spanSchema.extend({ speech: z.array(spanSchema).readonly().optional() });

export const toThreadSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("transcribe"),
    id: z.number().int(),
    input: z.object({
      mediaPath: z.string(),
      startS: z.number().optional(),
      endS: z.number().optional(),
      language: z.string(),
      task: transcriptionTaskSchema.optional(),
      chunks: z.array(windowSchema).optional(),
      weight: z.number().int().positive().optional(),
      seed: z.number().int().optional(),
      prompt: z.string().optional(),
    }),
  }),
  z.object({ type: z.literal("plan"), id: z.number().int(), mediaPath: z.string() }),
  z.object({ type: z.literal("detect"), id: z.number().int(), mediaPath: z.string(), window: windowSchema }),
  z.object({ type: z.literal("abort"), id: z.number().int() }),
  z.object({ type: z.literal("close") }),
]);
export type ToThread = z.infer<typeof toThreadSchema>;

const infoSchema = z.object({ name: z.string(), model: z.string(), provider: z.string(), languages: z.array(z.string()) });

export const fromThreadSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready"), info: infoSchema, canPlan: z.boolean(), canDetect: z.boolean(), sharedBatching: z.boolean() }),
  z.object({ type: z.literal("progress"), id: z.number().int(), fraction: z.number().min(0).max(1) }),
  z.object({ type: z.literal("detected"), id: z.number().int(), language: z.string() }),
  z.object({ type: z.literal("planned"), id: z.number().int(), chunks: z.array(windowSchema) }),
  z.object({ type: z.literal("init-failed"), message: z.string() }),
  z.object({ type: z.literal("result"), id: z.number().int(), language: z.string(), segments: z.array(transcriptSegmentSchema), wordTimings: wordTimingsSchema.optional() }),
  z.object({ type: z.literal("error"), id: z.number().int(), message: z.string(), permanent: z.boolean() }),
]);
export type FromThread = z.infer<typeof fromThreadSchema>;
