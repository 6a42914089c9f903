import { argmax, logSumExp } from "./greedy-decode";

/**
 * What decoding one chunk produced: the tokens (without the prompt and end-of-text), their
 * mean log-probability, and whether decoding was stopped because the sequence looped
 * (`shouldStop`): a loop is what openai-whisper's compression-ratio test catches after
 * decoding to the token limit; stopping at the fourth repeat saves those steps.
 */
export type DecodedSequence = { tokens: number[]; meanLogProb: number; looped?: boolean };

/** How the next decoder call continues a group: per row, which row of this call it extends and the token it feeds. */
export type GroupAdvance = { parents: number[]; tokens: number[] };

/**
 * The decoding state of one chunk inside a continuously batched decoder: greedy (one row)
 * or beam search (up to beamSize rows). The scheduler owns the rows and the KV cache; a
 * group only sees its rows' next-token logits and says how its rows continue.
 */
export interface SequenceGroup {
  /** Rows this group occupies in the next decoder call. */
  readonly width: number;
  /** Rows it may occupy at most (what admission reserves for it). */
  readonly maxWidth: number;
  readonly finished: boolean;
  /**
   * Consumes the last-position logits of each of the group's rows (copies the group may
   * write into) and returns how its rows continue; after it, `finished` may be true.
   */
  advance(rowLogits: Float32Array[]): GroupAdvance;
  result(): DecodedSequence;
}

/**
 * Adjusts one row's next-token logits in place before choosing (Whisper's timestamp and
 * suppression rules). A filter that summed the distribution anyway returns the log-sum-exp
 * of the logits as it leaves them, so choosing needs no second pass over the vocabulary.
 */
export type LogitsFilter = (logits: Float32Array, generated: readonly number[]) => number | undefined | void;

export type GroupRules = {
  maxNewTokens: number;
  endOfText: number;
  filterLogits?: LogitsFilter;
  /** Ends a greedy sequence early (a repetition loop); its tokens so far are kept. */
  shouldStop?: (generated: readonly number[]) => boolean;
};

/** Greedy decoding of one chunk: the same choices as `greedyDecode` makes for one sequence. */
export class GreedyGroup implements SequenceGroup {
  private readonly generated: number[] = [];
  private logProbSum = 0;
  private done = false;
  private looped = false;

  readonly maxWidth = 1;

  constructor(private readonly rules: GroupRules) {}

  get width(): number {
    return this.done ? 0 : 1;
  }

  get finished(): boolean {
    return this.done;
  }

  advance([logits]: Float32Array[]): GroupAdvance {
    if (this.done || !logits) throw new Error("advance() on a finished sequence");
    const normaliser = this.rules.filterLogits?.(logits, this.generated) ?? logSumExp(logits);
    const next = argmax(logits);
    this.generated.push(next);
    this.logProbSum += logits[next]! - normaliser;
    this.looped = next !== this.rules.endOfText && (this.rules.shouldStop?.(this.generated) ?? false);
    if (next === this.rules.endOfText || this.generated.length >= this.rules.maxNewTokens || this.looped) this.done = true;
    return this.done ? { parents: [], tokens: [] } : { parents: [0], tokens: [next] };
  }

  result(): DecodedSequence {
    const count = this.generated.length;
    const meanLogProb = count ? this.logProbSum / count : 0;
    const tokens = this.generated[count - 1] === this.rules.endOfText ? this.generated.slice(0, -1) : [...this.generated];
    return { tokens, meanLogProb, ...(this.looped ? { looped: true } : {}) };
  }
}

type Hypothesis = { tokens: number[]; logProb: number };

/**
 * Beam search over one chunk, as `beamDecode` does it: `beamSize` live hypotheses; one that
 * emits end-of-text is set aside; the group ends with `beamSize` finished ones or at
 * `maxNewTokens`, and the result is the best by length-normalised log-probability. It
 * starts as one row (the prompt) and widens to the live hypotheses after its first step.
 */
export class BeamGroup implements SequenceGroup {
  private live: Hypothesis[] = [{ tokens: [], logProb: 0 }];
  private readonly done: Hypothesis[] = [];
  private steps = 0;

  constructor(
    private readonly rules: GroupRules,
    private readonly beamSize: number,
  ) {}

  get maxWidth(): number {
    return this.beamSize;
  }

  get width(): number {
    return this.finished ? 0 : this.live.length;
  }

  get finished(): boolean {
    return this.done.length >= this.beamSize || this.steps >= this.rules.maxNewTokens || this.live.length === 0;
  }

  advance(rowLogits: Float32Array[]): GroupAdvance {
    if (this.finished) throw new Error("advance() on a finished beam");
    const candidates: { parent: number; token: number; logProb: number }[] = [];
    this.live.forEach((hypothesis, parent) => {
      const logits = rowLogits[parent]!;
      const normaliser = this.rules.filterLogits?.(logits, hypothesis.tokens) ?? logSumExp(logits);
      for (const token of topK(logits, this.beamSize + 1)) candidates.push({ parent, token, logProb: hypothesis.logProb + logits[token]! - normaliser });
    });
    candidates.sort((a, b) => b.logProb - a.logProb);
    const kept: Hypothesis[] = [];
    const advance: GroupAdvance = { parents: [], tokens: [] };
    for (const candidate of candidates) {
      const tokens = [...this.live[candidate.parent]!.tokens, candidate.token];
      if (candidate.token === this.rules.endOfText) {
        if (this.done.length < this.beamSize) this.done.push({ tokens: tokens.slice(0, -1), logProb: candidate.logProb });
      } else if (kept.length < this.beamSize) {
        kept.push({ tokens, logProb: candidate.logProb });
        advance.parents.push(candidate.parent);
        advance.tokens.push(candidate.token);
      }
      if (kept.length === this.beamSize) break;
    }
    this.steps++;
    this.live = kept;
    return this.finished ? { parents: [], tokens: [] } : advance;
  }

  result(): DecodedSequence {
    const pool = this.done.length ? this.done : this.live;
    const score = (h: Hypothesis) => h.logProb / Math.max(1, h.tokens.length);
    const best = pool.reduce((a, b) => (score(b) > score(a) ? b : a), pool[0] ?? { tokens: [], logProb: 0 });
    return { tokens: best.tokens, meanLogProb: best.logProb / Math.max(1, best.tokens.length) };
  }
}

type Sample = { tokens: number[]; logProb: number; done: boolean; looped: boolean };

/**
 * Sampling at a temperature, as openai-whisper decodes a chunk again when the greedy or
 * beam result fails its checks: `bestOf` independent samples (rows), each token drawn from
 * softmax(logits / temperature) after the logit rules; the result is the sample with the
 * best log-probability per token (log-probabilities are of the unscaled logits, as there).
 * `random` gives uniform numbers in [0, 1): a seeded generator makes a job's output repeat.
 * Starts as the prompt's row and widens to `bestOf` rows after its first step.
 */
export class SampledGroup implements SequenceGroup {
  private samples: Sample[] = [];
  private started = false;

  constructor(
    private readonly rules: GroupRules,
    private readonly temperature: number,
    private readonly bestOf: number,
    private readonly random: () => number,
  ) {
    if (!(temperature > 0)) throw new Error("Sampling needs a temperature above 0");
  }

  get maxWidth(): number {
    return this.bestOf;
  }

  get width(): number {
    return this.started ? this.live().length : 1;
  }

  get finished(): boolean {
    return this.started && this.live().length === 0;
  }

  advance(rowLogits: Float32Array[]): GroupAdvance {
    if (this.finished) throw new Error("advance() on a finished sample");
    // The row of this call each sample reads: all read the prompt's row at first.
    const rowOf = new Map<Sample, number>();
    if (!this.started) {
      this.started = true;
      this.samples = Array.from({ length: this.bestOf }, () => ({ tokens: [], logProb: 0, done: false, looped: false }));
      const first = rowLogits[0]!;
      const normaliser = this.rules.filterLogits?.(first, []) ?? logSumExp(first);
      for (const sample of this.samples) {
        rowOf.set(sample, 0);
        this.extend(sample, first, normaliser);
      }
    } else {
      this.live().forEach((sample, row) => {
        const logits = rowLogits[row]!;
        const normaliser = this.rules.filterLogits?.(logits, sample.tokens) ?? logSumExp(logits);
        rowOf.set(sample, row);
        this.extend(sample, logits, normaliser);
      });
    }
    const advance: GroupAdvance = { parents: [], tokens: [] };
    for (const sample of this.live()) {
      advance.parents.push(rowOf.get(sample)!);
      advance.tokens.push(sample.tokens[sample.tokens.length - 1]!);
    }
    return advance;
  }

  result(): DecodedSequence {
    const score = (sample: Sample) => sample.logProb / Math.max(1, sample.tokens.length);
    const best = this.samples.reduce((a, b) => (score(b) > score(a) ? b : a), this.samples[0] ?? { tokens: [], logProb: 0, done: true, looped: false });
    // As greedy: the mean counts the end-of-text token's log-probability as a step.
    const steps = best.tokens.length + (best.looped || best.tokens.length >= this.rules.maxNewTokens ? 0 : 1);
    return { tokens: [...best.tokens], meanLogProb: best.logProb / Math.max(1, steps), ...(best.looped ? { looped: true } : {}) };
  }

  private live(): Sample[] {
    return this.samples.filter((sample) => !sample.done);
  }

  /** `normaliser`: the log-sum-exp of `logits` (log-probabilities are of the unscaled logits). */
  private extend(sample: Sample, logits: Float32Array, normaliser: number): void {
    const token = sampleToken(logits, this.temperature, this.random());
    sample.logProb += logits[token]! - normaliser;
    if (token === this.rules.endOfText) {
      sample.done = true;
      return;
    }
    sample.tokens.push(token);
    sample.looped = this.rules.shouldStop?.(sample.tokens) ?? false;
    if (sample.looped || sample.tokens.length >= this.rules.maxNewTokens) sample.done = true;
  }
}

/** A token drawn from softmax(logits / temperature) with `u` uniform in [0, 1). */
export function sampleToken(logits: Float32Array, temperature: number, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += weights[i] = Math.exp((logits[i]! - max) / temperature);
  let target = u * total;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue;
    last = i;
    target -= weights[i]!;
    if (target < 0) return i;
  }
  return last;
}

/** Indices of the k largest values, best first. */
export function topK(values: Float32Array, k: number): number[] {
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
