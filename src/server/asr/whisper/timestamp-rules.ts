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
};

/**
 * Whisper's decoding rules as a logits filter (openai/whisper SuppressTokens, SuppressBlank
 * and ApplyTimestampRules): timestamps come in pairs and never go backwards, the first
 * token is a timestamp within `maxInitialTimestampS`, and a timestamp is forced whenever
 * the timestamp tokens together are more likely than any single text token.
 */
export function createWhisperLogitRules(options: LogitRulesOptions): (logits: Float32Array, generated: readonly number[]) => void {
  const { special } = options;
  const begin = special.timestampBegin;
  const eot = special.endOfText;
  return (logits, generated) => {
    for (const token of options.suppressTokens) if (token < logits.length) logits[token] = -Infinity;
    if (generated.length === 0) for (const token of options.beginSuppressTokens) if (token < logits.length) logits[token] = -Infinity;
    if (!options.timestamps) return;

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
    if (timestampMassWins(logits, begin)) logits.fill(-Infinity, 0, begin);
  };
}

/** log Σ p(timestamp) > max log p(text token), computed stably without a full softmax copy. */
function timestampMassWins(logits: Float32Array, begin: number): boolean {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === -Infinity) return false;
  let total = 0;
  let timestampMass = 0;
  let maxText = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    total += e;
    if (i >= begin) timestampMass += e;
    else if (logits[i]! > maxText) maxText = logits[i]!;
  }
  const logTotal = Math.log(total) + max;
  const timestampLogProb = Math.log(timestampMass) + max - logTotal;
  const maxTextLogProb = maxText - logTotal;
  return timestampLogProb > maxTextLogProb;
}
