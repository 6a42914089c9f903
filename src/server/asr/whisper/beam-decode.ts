import * as ort from "onnxruntime-node";
import { logSoftmaxAt } from "./greedy-decode";
import type { KvCache, WhisperSessions } from "./whisper-sessions";

export type BeamOptions = {
  prompt: readonly number[];
  /** Hypotheses kept per sequence (1 = greedy). */
  beamSize: number;
  maxNewTokens: number;
  endOfText: number;
  filterLogits?: (logits: Float32Array, generated: readonly number[]) => void;
  /** Sees each sequence's prompt logits (its first beam's row) at the first call, e.g. for p(no speech). */
  onPromptLogits?: (sequence: number, logits: Float32Array) => void;
  signal?: AbortSignal;
};

export type BeamResult = { tokens: number[]; /** Σ log p of the tokens */ logProb: number };

type Hypothesis = { tokens: number[]; logProb: number };

/** Rows `indices` of a [batch, ...] tensor, in that order (beam reordering of the KV cache). */
function gatherRows(tensor: ort.Tensor, indices: readonly number[]): ort.Tensor {
  const rowSize = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
  const source = tensor.data as Float32Array | Uint16Array;
  const out = new (source.constructor as Float32ArrayConstructor | Uint16ArrayConstructor)(rowSize * indices.length);
  indices.forEach((row, i) => out.set(source.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize));
  return new ort.Tensor(tensor.type as "float32", out as Float32Array, [indices.length, ...tensor.dims.slice(1)]);
}

/**
 * Beam search over the KV-cached decoder, Whisper-style: each of the `batch` sequences
 * keeps `beamSize` live hypotheses; a hypothesis that emits end-of-text is set aside; a
 * sequence stops once it has `beamSize` finished ones (or at `maxNewTokens`). The result
 * is the finished hypothesis with the best length-normalised log-probability.
 */
export async function beamDecode(sessions: WhisperSessions, encoderHidden: ort.Tensor, batch: number, options: BeamOptions): Promise<BeamResult[]> {
  const beams = options.beamSize;
  // Every sequence starts as `beams` copies of the prompt; only the first is live at step 0.
  const rows = Array.from({ length: batch * beams }, (_, i) => Math.floor(i / beams));
  const hidden = gatherRows(encoderHidden, rows);
  let live: Hypothesis[][] = Array.from({ length: batch }, () => Array.from({ length: beams }, (_, b) => ({ tokens: [], logProb: b === 0 ? 0 : -Infinity })));
  const finished: Hypothesis[][] = Array.from({ length: batch }, () => []);
  let cache: KvCache | null = null;
  let feed = BigInt64Array.from(rows.flatMap(() => options.prompt.map(BigInt)));

  for (let step = 0; step < options.maxNewTokens; step++) {
    options.signal?.throwIfAborted();
    const out = await sessions.decode(feed, batch * beams, hidden, cache);
    if (step === 0 && options.onPromptLogits) {
      for (let s = 0; s < batch; s++) {
        const offset = s * beams * out.steps * out.vocab;
        options.onPromptLogits(s, out.logits.subarray(offset, offset + out.vocab));
      }
    }
    const parents: number[] = [];
    const nextTokens: number[] = [];
    const nextLive: Hypothesis[][] = [];
    for (let s = 0; s < batch; s++) {
      const candidates: { parent: number; token: number; logProb: number }[] = [];
      if (finished[s]!.length < beams) {
        for (let b = 0; b < beams; b++) {
          const hypothesis = live[s]![b]!;
          if (hypothesis.logProb === -Infinity) continue;
          const row = s * beams + b;
          const offset = (row * out.steps + out.steps - 1) * out.vocab;
          const logits = out.logits.slice(offset, offset + out.vocab);
          options.filterLogits?.(logits, hypothesis.tokens);
          for (const token of topK(logits, beams + 1)) {
            candidates.push({ parent: b, token, logProb: hypothesis.logProb + logSoftmaxAt(logits, token) });
          }
        }
      }
      candidates.sort((a, b) => b.logProb - a.logProb);
      const kept: Hypothesis[] = [];
      for (const candidate of candidates) {
        const tokens = [...live[s]![candidate.parent]!.tokens, candidate.token];
        if (candidate.token === options.endOfText) {
          if (finished[s]!.length < beams) finished[s]!.push({ tokens: tokens.slice(0, -1), logProb: candidate.logProb });
        } else if (kept.length < beams) {
          kept.push({ tokens, logProb: candidate.logProb });
          parents.push(s * beams + candidate.parent);
          nextTokens.push(candidate.token);
        }
        if (kept.length === beams) break;
      }
      // Pad a sequence that is done (or short of candidates) with dead hypotheses.
      while (kept.length < beams) {
        kept.push({ tokens: [...(live[s]![0]?.tokens ?? [])], logProb: -Infinity });
        parents.push(s * beams);
        nextTokens.push(options.endOfText);
      }
      nextLive.push(kept);
    }
    live = nextLive;
    if (finished.every((done) => done.length >= beams)) break;
    const reordered: KvCache = new Map();
    for (const [name, tensor] of out.cache) reordered.set(name, name.includes(".encoder.") ? tensor : gatherRows(tensor, parents));
    cache = reordered;
    feed = BigInt64Array.from(nextTokens.map(BigInt));
  }

  return Array.from({ length: batch }, (_, s) => {
    const pool = finished[s]!.length ? finished[s]! : live[s]!.filter((h) => h.logProb > -Infinity);
    const score = (h: Hypothesis) => h.logProb / Math.max(1, h.tokens.length);
    const best = pool.reduce((a, b) => (score(b) > score(a) ? b : a), pool[0] ?? { tokens: [], logProb: 0 });
    return { tokens: best.tokens, logProb: best.logProb };
  });
}

/** Indices of the k largest values, best first. */
function topK(values: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] === -Infinity) continue;
    if (best.length < k || values[i]! > values[best[best.length - 1]!]!) {
      best.push(i);
      best.sort((a, b) => values[b]! - values[a]!);
      if (best.length > k) best.pop();
    }
  }
  return best;
}
