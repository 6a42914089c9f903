import { z } from "zod";

/** What the recogniser produces: the spoken language's text, or an English translation of it. */
export const transcriptionTaskSchema = z.enum(["transcribe", "translate"]);
export type TranscriptionTask = z.infer<typeof transcriptionTaskSchema>;

/** Longest prompt accepted (characters). Whisper reads only its last 223 tokens; this is well beyond. */
export const MAX_PROMPT_CHARS = 2000;

/** Text the decoder is conditioned on (OpenAI's `prompt`, the vendor's `additional_vocab`). */
export const transcriptionPromptSchema = z.string().max(MAX_PROMPT_CHARS, { error: `The prompt is longer than ${MAX_PROMPT_CHARS} characters` });
