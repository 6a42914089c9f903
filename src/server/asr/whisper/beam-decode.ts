import type * as ort from "onnxruntime-node";
import { BeamGroup } from "./decode-groups";
import { gatherRows } from "./kv-rows";
import type { KvCache, WhisperSessions } from "./whisper-sessions";

export type BeamOptions = {
  prompt: readonly number[];
  /** Hypotheses kept per sequence (1 = greedy). */
  beamSize: number;
  maxNewTokens: number;
  endOfText: number;
  filterLogits?: (logits: Float32Array, generated: readonly number[]) => void;
  /** Sees each sequence's prompt logits (its first position) at the first call, e.g. for p(no speech). */
  onPromptLogits?: (sequence: number, logits: Float32Array) => void;
  signal?: AbortSignal;
};

export type BeamResult = { tokens: number[]; /** Σ log p of the tokens */ logProb: number };

/**
 * Beam search over the KV-cached decoder for `batch` sequences of a precomputed encoder
 * output, all starting together: the plain form of what the engine's continuous-batching
 * scheduler does (the same BeamGroup chooses the hypotheses), kept as the reference its
 * results are tested against.
 */
export async function beamDecode(sessions: WhisperSessions, encoderHidden: ort.Tensor, batch: number, options: BeamOptions): Promise<BeamResult[]> {
  const groups = Array.from({ length: batch }, () => new BeamGroup({ maxNewTokens: options.maxNewTokens, endOfText: options.endOfText, ...(options.filterLogits ? { filterLogits: options.filterLogits } : {}) }, options.beamSize));
  // Each group's rows in the current call, in order; a group starts as one row (its prompt).
  let widths = groups.map(() => 1);
  let feed = BigInt64Array.from(groups.flatMap(() => options.prompt.map(BigInt)));
  let cache: KvCache | null = null;
  for (let step = 0; groups.some((group) => !group.finished); step++) {
    options.signal?.throwIfAborted();
    const rows = widths.reduce((a, b) => a + b, 0);
    // The encoder states are read on the first call only; later calls take the cache.
    const out = await sessions.run({ tokens: feed, batch: rows, encoderHidden: step === 0 ? encoderHidden : null, past: cache });
    const sources: number[] = [];
    const tokens: number[] = [];
    let first = 0;
    groups.forEach((group, s) => {
      const width = widths[s]!;
      if (step === 0) options.onPromptLogits?.(s, out.logits.subarray(first * out.steps * out.vocab, first * out.steps * out.vocab + out.vocab));
      if (width > 0) {
        const logits = Array.from({ length: width }, (_, j) => {
          const offset = ((first + j) * out.steps + out.steps - 1) * out.vocab;
          return out.logits.slice(offset, offset + out.vocab);
        });
        const advance = group.advance(logits);
        advance.parents.forEach((parent) => sources.push(first + parent));
        tokens.push(...advance.tokens);
      }
      first += width;
    });
    widths = groups.map((group) => group.width);
    if (!sources.length) break;
    // The next call's rows: each hypothesis continues its parent's cache.
    cache = gatherRows([...out.cache.keys()], sources.map((row) => ({ tensors: out.cache, row })));
    feed = BigInt64Array.from(tokens.map(BigInt));
  }
  return groups.map((group) => {
    const { tokens, meanLogProb } = group.result();
    return { tokens, logProb: meanLogProb * Math.max(1, tokens.length) };
  });
}
