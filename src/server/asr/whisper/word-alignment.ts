import { logSoftmaxAt } from "./greedy-decode";
import type { WhisperTokenizer } from "./tokenizer";
import type { DecoderStep } from "./whisper-sessions";

/**
 * Word timestamps from the decoder's cross-attention, as openai-whisper's `timing.py`
 * computes them (faster-whisper and HF transformers do the same): the decoder is run once
 * over `<|startoftranscript|> <|lang|> <|task|> <|notimestamps|> text <|endoftext|>`; the
 * alignment heads' attention over the chunk's audio frames is standardised per frame over
 * the tokens, median-filtered along time and averaged over heads; dynamic time warping
 * finds the monotonic token → frame path, and a word starts at the frame where the path
 * reaches its first token. tools/whisper-test-model/word_alignment.py is the PyTorch
 * reference this is tested against (same path, same times).
 */

/** Encoder frames per second (each is 20 ms of audio). */
export const FRAMES_PER_SECOND = 50;

/** One alignment head's cross-attention: [tokens × frames] probabilities, row-major. */
export type HeadAttention = { data: Float32Array; tokens: number; frames: number };

export type AlignedWord = {
  text: string;
  tokens: number[];
  /** Seconds from the chunk start. */
  startS: number;
  endS: number;
  /** Mean probability of the word's tokens. */
  probability: number;
};

/**
 * The [text tokens + 1 × frames] cost matrix: each head's attention over the first
 * `audioFrames` frames (renormalised: openai softmaxes the raw scores over just those),
 * standardised per frame over the tokens, median-filtered over frames; then the mean over
 * heads, keeping the rows from `<|notimestamps|>` to the last text token. Computed in
 * float32, as the reference does, so near-ties fall the same way in the DTW.
 */
export function alignmentMatrix(heads: readonly HeadAttention[], audioFrames: number, promptLength: number, medianWidth: number): { data: Float32Array; rows: number; cols: number } {
  const first = heads[0];
  if (!first) throw new Error("Word alignment needs at least one alignment head");
  const tokens = first.tokens;
  const cols = Math.max(1, Math.min(audioFrames, first.frames));
  const rows = tokens - promptLength - 1;
  const mean = new Float32Array(rows * cols);
  const head = new Float32Array(tokens * cols);
  for (const attention of heads) {
    for (let t = 0; t < tokens; t++) {
      let sum = 0;
      for (let f = 0; f < cols; f++) sum += attention.data[t * attention.frames + f]!;
      const scale = sum > 0 ? 1 / sum : 0;
      for (let f = 0; f < cols; f++) head[t * cols + f] = Math.fround(attention.data[t * attention.frames + f]! * scale);
    }
    for (let f = 0; f < cols; f++) {
      let sum = 0;
      for (let t = 0; t < tokens; t++) sum += head[t * cols + f]!;
      const average = sum / tokens;
      let squares = 0;
      for (let t = 0; t < tokens; t++) squares += (head[t * cols + f]! - average) ** 2;
      const std = Math.sqrt(squares / tokens);
      for (let t = 0; t < tokens; t++) head[t * cols + f] = std > 0 ? (head[t * cols + f]! - average) / std : 0;
    }
    // The filter runs along each row on its own: only the rows the matrix keeps need it.
    const filtered = medianFilterRows(head.subarray(promptLength * cols, (promptLength + rows) * cols), rows, cols, medianWidth);
    for (let i = 0; i < mean.length; i++) mean[i] = Math.fround(mean[i]! + filtered[i]!);
  }
  for (let i = 0; i < mean.length; i++) mean[i] = Math.fround(mean[i]! / heads.length);
  return { data: mean, rows, cols };
}

/** openai-whisper's median_filter along each row: reflect padding, window `width` (odd). */
export function medianFilterRows(data: Float32Array, rows: number, cols: number, width: number): Float32Array {
  const pad = Math.floor(width / 2);
  if (cols <= pad || width <= 1) return data.slice();
  const out = new Float32Array(data.length);
  const window = new Float32Array(width);
  const reflect = (i: number) => (i < 0 ? -i : i >= cols ? 2 * (cols - 1) - i : i);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      for (let k = 0; k < width; k++) window[k] = data[base + reflect(c - pad + k)]!;
      window.sort();
      out[base + c] = window[pad]!;
    }
  }
  return out;
}

/** The DTW path: step k pairs row textIndices[k] (a token) with encoder frame timeIndices[k]. */
export type WarpPath = { textIndices: number[]; timeIndices: number[] };

/**
 * openai-whisper's dtw_cpu + backtrace over `cost` = −matrix: the monotonic path from (0,0)
 * to (rows−1, cols−1). Accumulated costs are float32 and ties resolve as there (diagonal
 * only when strictly cheapest, then up, else left), so the path is the reference's.
 */
export function dynamicTimeWarp(matrix: Float32Array, rows: number, cols: number): WarpPath {
  const width = cols + 1;
  const cost = new Float32Array((rows + 1) * width).fill(Number.POSITIVE_INFINITY);
  const trace = new Int8Array((rows + 1) * width).fill(-1);
  cost[0] = 0;
  for (let j = 1; j <= cols; j++) {
    for (let i = 1; i <= rows; i++) {
      const c0 = cost[(i - 1) * width + j - 1]!;
      const c1 = cost[(i - 1) * width + j]!;
      const c2 = cost[i * width + j - 1]!;
      let c: number;
      let t: number;
      if (c0 < c1 && c0 < c2) [c, t] = [c0, 0];
      else if (c1 < c0 && c1 < c2) [c, t] = [c1, 1];
      else [c, t] = [c2, 2];
      cost[i * width + j] = -matrix[(i - 1) * cols + j - 1]! + c;
      trace[i * width + j] = t;
    }
  }
  for (let j = 0; j <= cols; j++) trace[j] = 2;
  for (let i = 0; i <= rows; i++) trace[i * width] = 1;
  const textIndices: number[] = [];
  const timeIndices: number[] = [];
  let i = rows;
  let j = cols;
  while (i > 0 || j > 0) {
    textIndices.push(i - 1);
    timeIndices.push(j - 1);
    const step = trace[i * width + j];
    if (step === 0) {
      i--;
      j--;
    } else if (step === 1) i--;
    else j--;
  }
  return { textIndices: textIndices.reverse(), timeIndices: timeIndices.reverse() };
}

/** Languages written without spaces: openai-whisper splits their words at unicode characters. */
const UNSPACED_LANGUAGES = new Set(["zh", "ja", "th", "lo", "my", "yue"]);
const PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

/**
 * Text tokens (plus a final `<|endoftext|>`) grouped into words, as openai-whisper's
 * split_to_word_tokens does: tokens are first gathered until they decode to whole
 * characters; then, for spaced scripts, a new word starts at a leading space, a punctuation
 * mark or a special token.
 */
export function splitWordTokens(textTokens: readonly number[], tokenizer: WhisperTokenizer, language: string): { words: string[]; tokens: number[][] } {
  const all = [...textTokens, tokenizer.special.endOfText];
  const pieces: { text: string; tokens: number[] }[] = [];
  let pending: number[] = [];
  for (const token of all) {
    pending.push(token);
    const text = tokenizer.decode(pending);
    // A token that ends mid-character decodes to U+FFFD; wait for the rest of its bytes.
    if (text.includes("\ufffd") && token !== tokenizer.special.endOfText) continue;
    pieces.push({ text, tokens: pending });
    pending = [];
  }
  if (pending.length) pieces.push({ text: tokenizer.decode(pending), tokens: pending });
  if (UNSPACED_LANGUAGES.has(language)) return { words: pieces.map((piece) => piece.text), tokens: pieces.map((piece) => piece.tokens) };
  const words: string[] = [];
  const tokens: number[][] = [];
  for (const piece of pieces) {
    const special = piece.tokens[0]! >= tokenizer.special.endOfText;
    if (special || piece.text.startsWith(" ") || PUNCTUATION.has(piece.text.trim()) || words.length === 0) {
      words.push(piece.text);
      tokens.push([...piece.tokens]);
    } else {
      words[words.length - 1] += piece.text;
      tokens[tokens.length - 1]!.push(...piece.tokens);
    }
  }
  return { words, tokens };
}

/**
 * Words with their times (s from the chunk start) from the DTW path: a word runs from the
 * frame where the path first reaches its first token to where it first reaches the next
 * word's. `tokenProbabilities` are the text tokens' probabilities (for word confidence).
 */
export function wordsFromPath(
  path: { textIndices: readonly number[]; timeIndices: readonly number[] },
  split: { words: readonly string[]; tokens: readonly (readonly number[])[] },
  tokenProbabilities: readonly number[],
): AlignedWord[] {
  const jumpTimes: number[] = [];
  path.textIndices.forEach((textIndex, k) => {
    if (k === 0 || textIndex - path.textIndices[k - 1]! === 1) jumpTimes.push(path.timeIndices[k]! / FRAMES_PER_SECOND);
  });
  const words: AlignedWord[] = [];
  let boundary = 0;
  for (let w = 0; w + 1 < split.words.length; w++) {
    const tokens = split.tokens[w]!;
    const next = boundary + tokens.length;
    const probabilities = tokenProbabilities.slice(boundary, next);
    words.push({
      text: split.words[w]!,
      tokens: [...tokens],
      startS: jumpTimes[boundary] ?? 0,
      endS: jumpTimes[next] ?? jumpTimes[jumpTimes.length - 1] ?? 0,
      probability: probabilities.length ? probabilities.reduce((a, b) => a + b, 0) / probabilities.length : 0,
    });
    boundary = next;
  }
  return words;
}

/**
 * Aligns one chunk's text: `heads` are the alignment heads' cross-attention from the
 * decoder run over `prompt` (`promptLength` tokens) + `<|notimestamps|>` + `textTokens` +
 * `<|endoftext|>`;
 * `audioFrames` is how many encoder frames hold the chunk's audio (the rest is padding).
 */
export function alignWords(input: {
  heads: readonly HeadAttention[];
  promptLength: number;
  textTokens: readonly number[];
  tokenProbabilities: readonly number[];
  audioFrames: number;
  medianWidth: number;
  tokenizer: WhisperTokenizer;
  language: string;
}): { words: AlignedWord[]; path: WarpPath } {
  if (input.textTokens.length === 0) return { words: [], path: { textIndices: [], timeIndices: [] } };
  // Row promptLength is <|notimestamps|>'s, the one that predicts the first text token.
  const matrix = alignmentMatrix(input.heads, input.audioFrames, input.promptLength, input.medianWidth);
  const path = dynamicTimeWarp(matrix.data, matrix.rows, matrix.cols);
  const split = splitWordTokens(input.textTokens, input.tokenizer, input.language);
  return { words: split.words.length <= 1 ? [] : wordsFromPath(path, split, input.tokenProbabilities), path };
}

/**
 * Raw word timings of one chunk from its alignment call, the decoder run over `tokens` =
 * prompt (`promptLength` tokens), <|notimestamps|>, text, <|endoftext|>: the alignment heads'
 * cross-attention over the chunk's `audioFrames` encoder frames, and each text token's
 * probability from that call's logits (softmax over the text vocabulary, as openai-whisper).
 */
export function alignDecoderOutput(
  output: Pick<DecoderStep, "logits" | "vocab" | "crossAttentions">,
  input: {
    tokens: readonly number[];
    promptLength: number;
    alignmentHeads: readonly (readonly [number, number])[];
    audioFrames: number;
    medianWidth: number;
    tokenizer: WhisperTokenizer;
    language: string;
  },
): { words: AlignedWord[]; path: WarpPath } {
  const { promptLength } = input;
  const { endOfText } = input.tokenizer.special;
  const textTokens = input.tokens.slice(promptLength + 1, -1);
  const heads: HeadAttention[] = input.alignmentHeads.map(([layer, head]) => {
    const attention = output.crossAttentions.get(layer);
    if (!attention) throw new Error(`The alignment call returned no cross-attention for layer ${layer}`);
    const [, headCount, steps, frames] = attention.dims as [number, number, number, number];
    if (head >= headCount) throw new Error(`alignment_heads names head ${head} of layer ${layer}, which has ${headCount}`);
    return { data: attention.data.subarray(head * steps * frames, (head + 1) * steps * frames), tokens: steps, frames };
  });
  const tokenProbabilities = textTokens.map((token, k) => {
    const row = output.logits.subarray((promptLength + k) * output.vocab, (promptLength + k) * output.vocab + endOfText);
    return Math.exp(logSoftmaxAt(row, token));
  });
  return alignWords({ heads, promptLength, textTokens, tokenProbabilities, audioFrames: input.audioFrames, medianWidth: input.medianWidth, tokenizer: input.tokenizer, language: input.language });
}

const SENTENCE_END_MARKS = new Set([".", "。", "!", "！", "?", "？"]);
const PREPEND_PUNCTUATION = "\"'“¿([{-";
const APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、";

/**
 * openai-whisper's clean-up of raw alignments, in its order:
 * - a word longer than twice the median (at most 0.7 s) next to a sentence end is cut to
 *   that length (DTW tends to stretch the word before or after a pause);
 * - opening punctuation joins the next word and closing punctuation the previous one
 *   (" Hello" "," → " Hello,"), keeping that word's times.
 */
export function tidyAlignedWords(raw: readonly AlignedWord[]): AlignedWord[] {
  const words = raw.map((word) => ({ ...word, tokens: [...word.tokens] }));
  const durations = words.map((word) => word.endS - word.startS).filter((duration) => duration > 0).sort((a, b) => a - b);
  if (durations.length) {
    const middle = Math.floor(durations.length / 2);
    const median = durations.length % 2 ? durations[middle]! : (durations[middle - 1]! + durations[middle]!) / 2;
    const maxDuration = Math.min(0.7, median) * 2;
    for (let i = 1; i < words.length; i++) {
      const word = words[i]!;
      if (word.endS - word.startS <= maxDuration) continue;
      if (SENTENCE_END_MARKS.has(word.text.trim())) word.endS = word.startS + maxDuration;
      else if (SENTENCE_END_MARKS.has(words[i - 1]!.text.trim())) word.startS = word.endS - maxDuration;
    }
  }
  return mergePunctuation(words);
}

/** openai-whisper's merge_punctuations: the merged word keeps its own times. */
function mergePunctuation(words: AlignedWord[]): AlignedWord[] {
  // Opening marks, right to left: each joins the next word still standing.
  for (let i = words.length - 2, j = words.length - 1; i >= 0; i--) {
    const previous = words[i]!;
    const following = words[j]!;
    if (previous.text.startsWith(" ") && PREPEND_PUNCTUATION.includes(previous.text.trim())) {
      following.text = previous.text + following.text;
      following.tokens = [...previous.tokens, ...following.tokens];
      previous.text = "";
      previous.tokens = [];
    } else {
      j = i;
    }
  }
  // Closing marks, left to right: each joins the previous word still standing.
  for (let i = 0, j = 1; j < words.length; j++) {
    const previous = words[i]!;
    const following = words[j]!;
    if (!previous.text.endsWith(" ") && following.text !== "" && APPEND_PUNCTUATION.includes(following.text)) {
      previous.text += following.text;
      previous.tokens = [...previous.tokens, ...following.tokens];
      following.text = "";
      following.tokens = [];
    } else {
      i = j;
    }
  }
  return words.filter((word) => word.text !== "");
}

/** A stretch of speech the VAD found, in seconds (same time base as the words it clips). */
export type SpeechSpan = { startS: number; endS: number };

/**
 * Keeps a word's times on speech. A chunk can hold several VAD regions with silence between
 * them, and DTW may stretch a word over that silence: a word overlapping speech is cut to the
 * region it overlaps most; a word wholly inside a silence is put at the edge of the nearer
 * region. `speech` is in time order; empty: the word is left as it is.
 */
export function clipToSpeech(startS: number, endS: number, speech: readonly SpeechSpan[]): { startS: number; endS: number } {
  // Already on speech (a zero-length word included: DTW often gives several words one frame).
  if (speech.length === 0 || speech.some((span) => span.startS <= startS && endS <= span.endS)) return { startS, endS };
  let best: SpeechSpan | null = null;
  let bestOverlap = 0;
  for (const span of speech) {
    const overlap = Math.min(endS, span.endS) - Math.max(startS, span.startS);
    if (overlap > bestOverlap) [best, bestOverlap] = [span, overlap];
  }
  if (best) return { startS: Math.max(startS, best.startS), endS: Math.min(endS, best.endS) };
  const before = [...speech].reverse().find((span) => span.endS <= startS);
  const after = speech.find((span) => span.startS >= endS);
  const edge = !after || (before && startS - before.endS <= after.startS - endS) ? before!.endS : after.startS;
  return { startS: edge, endS: edge };
}
