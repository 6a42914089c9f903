import { z } from "zod";
import { convertOptionsSchema } from "../media/convert-options";
import { transcriptionPromptSchema, transcriptionTaskSchema } from "../../shared/transcription-task";

export { transcriptionPromptSchema, transcriptionTaskSchema, type TranscriptionTask } from "../../shared/transcription-task";

/** Job types this control plane knows. Handlers are registered per type in the registry. */
export const singleJobTypeSchema = z.enum(["transcribe", "generate_srt", "fix_srt", "convert"]);
export type SingleJobType = z.infer<typeof singleJobTypeSchema>;

export const batchJobTypeSchema = z.enum(["batch_transcribe", "batch_generate_srt", "batch_fix_srt", "batch_convert"]);
export type BatchJobType = z.infer<typeof batchJobTypeSchema>;

export const BATCH_CHILD_TYPE: Record<BatchJobType, SingleJobType> = {
  batch_transcribe: "transcribe",
  batch_generate_srt: "generate_srt",
  batch_fix_srt: "fix_srt",
  batch_convert: "convert",
};

/** Parameters of a convert job (seeds/002: a file id and ConvertVideoRequest-shaped options). */
export const convertParamsSchema = z.object({ mediaFileId: z.string().min(1), options: convertOptionsSchema });
export type ConvertParams = z.infer<typeof convertParamsSchema>;

/** Result of a convert job: the new file and what it turned out to be. */
export const convertResultSchema = z.object({
  outputMediaFileId: z.string(),
  uri: z.string(),
  format: z.string(),
  durationS: z.number(),
  videoCodec: z.string().nullable(),
  audioCodec: z.string().nullable(),
  sizeBytes: z.number().int(),
});
export type ConvertResult = z.infer<typeof convertResultSchema>;

/** Parameters of a fix_srt job: which SRT, which model, and an optional extra system message (seeds/002's sys_msg). */
export const fixSrtParamsSchema = z.object({
  mediaFileId: z.string().min(1),
  model: z.string().min(1),
  systemMessage: z.string().max(20_000).optional(),
});
export type FixSrtParams = z.infer<typeof fixSrtParamsSchema>;

/** Result of a fix_srt job: the corrected SRT (a new media file) and the per-cue before/after diff. */
export const fixSrtResultSchema = z.object({
  outputMediaFileId: z.string(),
  uri: z.string(),
  cues: z.number().int(),
  changed: z.number().int(),
  warnings: z.array(z.string()),
  changes: z.array(z.object({ index: z.number().int(), before: z.string(), after: z.string() })),
  model: z.string(),
  requests: z.number().int(),
});
export type FixSrtResult = z.infer<typeof fixSrtResultSchema>;

export function isBatchType(type: string): type is BatchJobType {
  return batchJobTypeSchema.safeParse(type).success;
}


/** Bounds of a job's subtitle layout: no player shows longer lines or more lines than this. */
export const SUBTITLE_LAYOUT_LIMITS = { maxLineChars: 200, maxLines: 10 } as const;

/**
 * A job's subtitle layout for its srt and vtt outputs (the vendor's
 * `output_config.srt_overrides`): characters per line and lines per cue. Unset fields keep
 * the defaults (42, 2).
 */
export const subtitleLayoutSchema = z.object({
  maxLineChars: z.number().int().min(1).max(SUBTITLE_LAYOUT_LIMITS.maxLineChars).optional(),
  maxLines: z.number().int().min(1).max(SUBTITLE_LAYOUT_LIMITS.maxLines).optional(),
});
export type SubtitleLayout = z.infer<typeof subtitleLayoutSchema>;

/** Parameters of transcribe and generate_srt jobs (stored as JSON in Job.params). */
export const transcriptionParamsSchema = z.object({
  mediaFileId: z.string().min(1),
  /** ISO 639-1 code or "auto". */
  language: z.string().min(1),
  /** Requested but not every engine honours it; a warning is logged when ignored. */
  diarization: z.enum(["none", "speaker", "channel"]).default("none"),
  operatingPoint: z.enum(["standard", "enhanced"]).optional(),
  /** translate: English text from speech in any language (Whisper only). */
  task: transcriptionTaskSchema.default("transcribe"),
  /** Layout of the srt and vtt renderings; absent: the defaults. */
  subtitles: subtitleLayoutSchema.optional(),
  /**
   * Text the decoder is conditioned on, as previous text (OpenAI's `prompt`; the vendor's
   * `additional_vocab` becomes a list of its words): spellings, names, style. Whisper only.
   */
  prompt: transcriptionPromptSchema.optional(),
});
export type TranscriptionParams = z.infer<typeof transcriptionParamsSchema>;

/** Result of a transcription job (Job.result). The transcript itself is in the Transcript table. */
export const transcriptionResultSchema = z.object({
  transcriptId: z.string(),
  words: z.number().int(),
  /** seconds of audio */
  durationS: z.number(),
  engine: z.string(),
  /** wall seconds spent transcribing */
  elapsedS: z.number(),
});
export type TranscriptionResult = z.infer<typeof transcriptionResultSchema>;

/** Result of a batch parent (Job.result): the seeds' BatchResult, outcome counts and child ids. */
export const batchResultSchema = z.object({
  total: z.number().int(),
  done: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  childIds: z.array(z.string()),
});
export type BatchResult = z.infer<typeof batchResultSchema>;
