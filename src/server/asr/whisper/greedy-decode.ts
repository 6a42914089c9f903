import type * as ort from "onnxruntime-node";
import type { KvCache, WhisperSessions } from "./whisper-sessions";

export type GreedyOptions = {
  /** Forced start: <|startoftranscript|>, language, task, optionally <|notimestamps|>. */
  prompt: readonly number[];
  /** Tokens to generate after the prompt, at most. */
  maxNewTokens: number;
  /** Stop a sequence at this token (and pad it with it); null decodes the full length. */
  endOfText: number | null;
  /** false recomputes the whole sequence every step (the reference the cache must equal). */
  useCache: boolean;
  /** Adjusts one sequence's next-token logits in place before the argmax (suppression rules). */
  filterLogits?: (logits: Float32Array, generated: readonly number[]) => void;
  /** Sees the first call's logits for the whole prompt ([batch × steps × vocab]), e.g. to read p(no speech). */
  onPromptLogits?: (logits: Float32Array, steps: number, vocab: number) => void;
  /** Ends a sequence early (a repetition loop); its tokens so far are kept. */
  shouldStop?: (generated: readonly number[]) => boolean;
  /** Receives the log-probability of each chosen token, after filtering. */
  onToken?: (sequence: number, token: number, logProb: number) => void;
  signal?: AbortSignal;
};

/**
 * Batched greedy decoding: every sequence of the batch advances one token per decoder call,
 * reusing the KV cache between calls. Returns the generated tokens (without the prompt) per
 * sequence, cut at the end-of-text token.
 */
export async function greedyDecode(sessions: WhisperSessions, encoderHidden: ort.Tensor, batch: number, options: GreedyOptions): Promise<number[][]> {
  const generated: number[][] = Array.from({ length: batch }, () => []);
  const done = new Array<boolean>(batch).fill(false);
  const sequences: number[][] = Array.from({ length: batch }, () => [...options.prompt]);
  let cache: KvCache | null = null;
  let feed = sequenceTokens(sequences);

  for (let step = 0; step < options.maxNewTokens; step++) {
    options.signal?.throwIfAborted();
    const out = await sessions.decode(feed, batch, encoderHidden, options.useCache ? cache : null);
    if (step === 0) options.onPromptLogits?.(out.logits, out.steps, out.vocab);
    if (options.useCache) cache = out.cache;
    for (let b = 0; b < batch; b++) {
      const offset = (b * out.steps + out.steps - 1) * out.vocab;
      // A copy: filters write into it, and the decoder's output buffer may be reused.
      const logits = out.logits.slice(offset, offset + out.vocab);
      let next: number;
      if (done[b]) {
        next = options.endOfText ?? argmax(logits);
      } else {
        options.filterLogits?.(logits, generated[b]!);
        next = argmax(logits);
        generated[b]!.push(next);
        if (options.onToken) options.onToken(b, next, logSoftmaxAt(logits, next));
        if (next === options.endOfText || options.shouldStop?.(generated[b]!)) done[b] = true;
      }
      sequences[b]!.push(next);
    }
    if (done.every(Boolean)) break;
    feed = options.useCache ? BigInt64Array.from(sequences.map((sequence) => BigInt(sequence[sequence.length - 1]!))) : sequenceTokens(sequences);
  }
  return generated.map((tokens) => (options.endOfText !== null && tokens[tokens.length - 1] === options.endOfText ? tokens.slice(0, -1) : tokens));
}

function sequenceTokens(sequences: readonly number[][]): BigInt64Array {
  return BigInt64Array.from(sequences.flatMap((sequence) => sequence.map((token) => BigInt(token))));
}

/** log Σ exp(logits), stably: a token's log-probability is its logit less this. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/** log p(index) under a softmax of `logits`. */
export function logSoftmaxAt(logits: Float32Array, index: number): number {
  return logits[index]! - logSumExp(logits);
}

export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i]! > bestValue) {
      bestValue = values[i]!;
      best = i;
    }
  }
  return best;
}
