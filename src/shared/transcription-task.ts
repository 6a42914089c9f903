import { z } from "zod";

/** What the recogniser produces: the spoken language's text, or an English translation of it. */
export const transcriptionTaskSchema = z.enum(["transcribe", "translate"]);
export type TranscriptionTask = z.infer<typeof transcriptionTaskSchema>;
