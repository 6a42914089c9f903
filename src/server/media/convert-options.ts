import { z } from "zod";

// Pure zod, no Node imports: the dashboard validates convert options with the same schema.
/** What `convert` can produce: MP4 (H.264/AAC), or audio only. Validated at every boundary. */
export const convertOptionsSchema = z
  .object({
    format: z.enum(["mp4", "m4a", "mp3", "wav"]).default("mp4"),
    /** H.264 quality (lower is better, 18–28 is usual). */
    crf: z.number().int().min(0).max(51).default(23),
    preset: z.enum(["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]).default("veryfast"),
    /** Scale video down to at most this height (keeping the aspect ratio). */
    maxHeight: z.number().int().min(144).max(4320).optional(),
    audioBitrateKbps: z.number().int().min(32).max(512).default(128),
    sampleRateHz: z.union([z.literal(8000), z.literal(16000), z.literal(22050), z.literal(24000), z.literal(32000), z.literal(44100), z.literal(48000)]).optional(),
    channels: z.union([z.literal(1), z.literal(2)]).optional(),
  })
  .strict();
export type ConvertOptions = z.infer<typeof convertOptionsSchema>;
