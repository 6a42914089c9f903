import type { LogitsFilter } from "./decode-groups";
import type { WhisperSpecialTokens } from "./tokenizer";

export type LogitRulesOptions = {
  special: WhisperSpecialTokens;
  /** generation_config.suppress_tokens: never generated. */
  suppressTokens: readonly number[];
  /** generation_config.begin_suppress_tokens: not as the first token (blank, end-of-text). */
  beginSuppressTokens: readonly number[];
  /** Predict timestamp tokens (segment times) or plain text with <|notimestamps|>. */
  timestamps: boolean;
  /** Latest timestamp allowed as the first token, in s (Whisper uses 1.0). */
  maxInitialTimestampS: number;
  /** End-of-text is suppressed until this many tokens are generated (benchmarks fix a chunk's length with it); default 0. */
  minNewTokens?: number;
};

/**
 * Whisper's decoding rules as a logits filter (openai/whisper SuppressTokens, SuppressBlank
 * and ApplyTimestampRules): timestamps come in pairs and never go backwards, the first
 * token is a timestamp within `maxInitialTimestampS`, and a timestamp is forced whenever
 * the timestamp tokens together are more likely than any single text token.
 *
 * That last test sums the whole distribution, so the filter returns the log-sum-exp of the
 * logits as it leaves them and the chosen token's log-probability needs no second pass over
 * the vocabulary (a pass is about 0.6 ms for 51,865 tokens, per row and step).
 */
export function createWhisperLogitRules(options: LogitRulesOptions): LogitsFilter {
  const { special } = options;
  const begin = special.timestampBegin;
  const eot = special.endOfText;
  const minNewTokens = options.minNewTokens ?? 0;
  return (logits, generated) => {
    for (const token of options.suppressTokens) if (token < logits.length) logits[token] = -Infinity;
    if (generated.length === 0) for (const token of options.beginSuppressTokens) if (token < logits.length) logits[token] = -Infinity;
    const dropEndOfText = generated.length < minNewTokens;
    if (!options.timestamps) {
      if (dropEndOfText) logits[eot] = -Infinity;
      return undefined;
    }

    logits[special.noTimestamps] = -Infinity;
    const last = generated[generated.length - 1];
    const lastWasTimestamp = last !== undefined && last >= begin;
    const penultimate = generated[generated.length - 2];
    const penultimateWasTimestamp = generated.length < 2 || (penultimate !== undefined && penultimate >= begin);
    if (lastWasTimestamp) {
      if (penultimateWasTimestamp) logits.fill(-Infinity, begin);
      else logits.fill(-Infinity, 0, eot);
    }
    let lastTimestamp = -1;
    for (const token of generated) if (token >= begin) lastTimestamp = token;
    if (lastTimestamp >= 0) {
      // Never go back in time; a closing timestamp may repeat the opening one only right after it.
      const firstAllowed = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1;
      logits.fill(-Infinity, begin, firstAllowed);
    }
    if (generated.length === 0) {
      logits.fill(-Infinity, 0, begin);
      logits.fill(-Infinity, begin + Math.round(options.maxInitialTimestampS / 0.02) + 1);
    }
    // The end of text, where suppressed, still counts as text in the test (as it did when the
    // suppression was applied after these rules).
    const test = timestampTest(logits, begin, dropEndOfText ? eot : -1);
    if (test.forceTimestamp) logits.fill(-Infinity, 0, begin);
    else if (dropEndOfText) logits[eot] = -Infinity;
    return test.logSumExpAfter;
  };
}

/**
 * Whether log Σ p(timestamp) > max log p(text token), computed stably without a softmax copy,
 * and the log-sum-exp of the logits after the rule acts on the answer (text dropped when
 * timestamps win, else `dropped` alone, if ≥ 0); undefined when that cannot be had from
 * these sums (nothing left but what underflowed).
 */
function timestampTest(logits: Float32Array, begin: number, dropped: number): { forceTimestamp: boolean; logSumExpAfter: number | undefined } {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === -Infinity) return { forceTimestamp: false, logSumExpAfter: undefined };
  let total = 0;
  let timestampMass = 0;
  let droppedMass = 0;
  let maxText = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    total += e;
    if (i >= begin) timestampMass += e;
    else if (logits[i]! > maxText) maxText = logits[i]!;
    if (i === dropped) droppedMass = e;
  }
  const logTotal = Math.log(total) + max;
  const timestampLogProb = Math.log(timestampMass) + max - logTotal;
  const maxTextLogProb = maxText - logTotal;
  const forceTimestamp = timestampLogProb > maxTextLogProb;
  // What is left: total less the dropped term only where that term is at most half the total
  // (the difference then loses at most a bit); else the caller sums the logits afresh.
  const left = forceTimestamp ? timestampMass : dropped >= 0 ? (droppedMass > total / 2 ? Number.NaN : total - droppedMass) : total;
  return { forceTimestamp, logSumExpAfter: left > 0 ? Math.log(left) + max : undefined };
}
