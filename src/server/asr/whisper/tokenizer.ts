import { z } from "zod";

/** The parts of a Hugging Face tokenizer.json that decoding needs. */
const tokenizerJsonSchema = z.object({
  model: z.object({
    type: z.literal("BPE", { error: "tokenizer.json: only byte-level BPE models are supported" }),
    vocab: z.record(z.string(), z.number().int()),
    /** "a b" (older files) or ["a", "b"] (newer), in rank order. */
    merges: z.array(z.union([z.string(), z.tuple([z.string(), z.string()])])).default([]),
  }),
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
  /** `<|startofprev|>`: previous text (an initial prompt) goes between it and `<|startoftranscript|>`. */
  startOfPrev: number | null;
  /** `<|en|>` → id */
  languages: Map<string, number>;
};

export type WhisperTokenizer = {
  readonly vocabSize: number;
  readonly special: WhisperSpecialTokens;
  /** Text of the ids, skipping special and timestamp tokens. */
  decode(ids: readonly number[]): string;
  /** Ids of plain text (byte-level BPE; special tokens in the text are not recognised). */
  encode(text: string): number[];
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
const BYTE_CHARS = new Map([...BYTES].map(([char, byte]) => [byte, char]));

/** GPT-2's pre-tokenisation: contractions, letters, numbers, other symbols, spaces. */
const PRE_TOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Byte-level BPE: each pre-token's bytes as printable characters, merged pair by pair in rank order. */
function bpeEncoder(vocab: ReadonlyMap<string, number>, merges: readonly (string | readonly [string, string])[]): (text: string) => number[] {
  const ranks = new Map<string, number>();
  merges.forEach((merge, rank) => {
    const [a, b] = typeof merge === "string" ? (merge.split(" ") as [string, string]) : merge;
    ranks.set(`${a}\u0000${b}`, rank);
  });
  const cache = new Map<string, number[]>();
  const encodePiece = (piece: string): number[] => {
    const cached = cache.get(piece);
    if (cached) return cached;
    let symbols = [...Buffer.from(piece, "utf8")].map((byte) => BYTE_CHARS.get(byte)!);
    for (;;) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = ranks.get(`${symbols[i]}\u0000${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) break;
      const [a, b] = [symbols[best]!, symbols[best + 1]!];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(symbols[i]!);
      }
      symbols = merged;
    }
    const ids = symbols.map((symbol) => {
      const id = vocab.get(symbol);
      if (id === undefined) throw new Error(`tokenizer.json has no token for ${JSON.stringify(symbol)}`);
      return id;
    });
    if (cache.size < 10_000) cache.set(piece, ids);
    return ids;
  };
  return (text) => [...text.matchAll(PRE_TOKENIZE)].flatMap((match) => encodePiece(match[0]));
}

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
    startOfPrev: byToken.get("<|startofprev|>") ?? null,
    languages,
  };
  const vocabSize = Math.max(...byId.keys()) + 1;
  const textVocab = new Map(Object.entries(parsed.data.model.vocab));
  const encode = bpeEncoder(textVocab, parsed.data.model.merges);
  const isTimestamp = (id: number) => id >= timestampBegin;

  return {
    vocabSize,
    special,
    isTimestamp,
    timestampSeconds: (id) => (id - timestampBegin) * 0.02,
    tokenId: (token) => byToken.get(token),
    encode,
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
