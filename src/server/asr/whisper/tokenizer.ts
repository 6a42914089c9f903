import { z } from "zod";

/** The parts of a Hugging Face tokenizer.json that decoding needs. */
const tokenizerJsonSchema = z.object({
  model: z.object({ type: z.literal("BPE", { error: "tokenizer.json: only byte-level BPE models are supported" }), vocab: z.record(z.string(), z.number().int()) }),
  added_tokens: z.array(z.object({ id: z.number().int(), content: z.string(), special: z.boolean().optional() })).default([]),
});

/** Ids a decoder needs, read from the files (never hard-coded: test and real vocabularies differ). */
export type WhisperSpecialTokens = {
  endOfText: number;
  startOfTranscript: number;
  translate: number;
  transcribe: number;
  noTimestamps: number;
  /** Id of `<|0.00|>`; later ids step 0.02 s. */
  timestampBegin: number;
  noSpeech: number | null;
  /** `<|en|>` → id */
  languages: Map<string, number>;
};

export type WhisperTokenizer = {
  readonly vocabSize: number;
  readonly special: WhisperSpecialTokens;
  /** Text of the ids, skipping special and timestamp tokens. */
  decode(ids: readonly number[]): string;
  isTimestamp(id: number): boolean;
  /** Seconds of a timestamp token. */
  timestampSeconds(id: number): number;
  /** The id of a token string exactly as the vocabulary writes it, if present. */
  tokenId(token: string): number | undefined;
};

/** GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE. */
function byteDecoder(): Map<string, number> {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map<string, number>();
  for (const b of printable) map.set(String.fromCharCode(b), b);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) map.set(String.fromCharCode(256 + extra++), b);
  }
  return map;
}

const BYTES = byteDecoder();

/**
 * Builds a decoder from tokenizer.json. Throws an Error naming what is missing when the
 * file is not a Whisper tokenizer (no `<|startoftranscript|>`, no timestamp tokens, …).
 */
export function loadWhisperTokenizer(tokenizerJson: unknown): WhisperTokenizer {
  const parsed = tokenizerJsonSchema.safeParse(tokenizerJson);
  if (!parsed.success) throw new Error(`tokenizer.json is not a byte-level BPE tokenizer: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  const byId = new Map<number, string>();
  const byToken = new Map<string, number>();
  for (const [token, id] of Object.entries(parsed.data.model.vocab)) {
    byId.set(id, token);
    byToken.set(token, id);
  }
  const specialIds = new Set<number>();
  for (const added of parsed.data.added_tokens) {
    byId.set(added.id, added.content);
    byToken.set(added.content, added.id);
    if (added.special !== false) specialIds.add(added.id);
  }
  const required = (token: string): number => {
    const id = byToken.get(token);
    if (id === undefined) throw new Error(`tokenizer.json has no ${token} token: not a Whisper tokenizer`);
    return id;
  };
  const languages = new Map<string, number>();
  for (const [token, id] of byToken) {
    const match = /^<\|([a-z]{2,3}|haw|yue)\|>$/.exec(token);
    if (match && specialIds.has(id)) languages.set(match[1]!, id);
  }
  const timestampBegin = required("<|0.00|>");
  const special: WhisperSpecialTokens = {
    endOfText: required("<|endoftext|>"),
    startOfTranscript: required("<|startoftranscript|>"),
    translate: required("<|translate|>"),
    transcribe: required("<|transcribe|>"),
    noTimestamps: required("<|notimestamps|>"),
    timestampBegin,
    noSpeech: byToken.get("<|nospeech|>") ?? byToken.get("<|nocaptions|>") ?? null,
    languages,
  };
  const vocabSize = Math.max(...byId.keys()) + 1;
  const isTimestamp = (id: number) => id >= timestampBegin;

  return {
    vocabSize,
    special,
    isTimestamp,
    timestampSeconds: (id) => (id - timestampBegin) * 0.02,
    tokenId: (token) => byToken.get(token),
    decode(ids) {
      const bytes: number[] = [];
      for (const id of ids) {
        if (specialIds.has(id) || isTimestamp(id)) continue;
        const token = byId.get(id);
        if (token === undefined) continue;
        for (const char of token) {
          const byte = BYTES.get(char);
          if (byte !== undefined) bytes.push(byte);
        }
      }
      return new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(bytes));
    },
  };
}
