/**
 * Whisper (random or real) can fall into loops repeating one phrase until the token limit.
 * A sequence whose tail is the same n-token pattern `minRepeats` times over is a loop.
 */
export function endsInLoop(tokens: readonly number[], maxPeriod = 16, minRepeats = 4): boolean {
  for (let period = 1; period <= maxPeriod; period++) {
    if (tokens.length < period * minRepeats) break;
    let repeats = true;
    for (let i = tokens.length - period * (minRepeats - 1); i < tokens.length && repeats; i++) {
      if (tokens[i] !== tokens[i - period]) repeats = false;
    }
    if (repeats) return true;
  }
  return false;
}

/** Keeps one copy of a trailing loop (the first occurrence) and drops the repeats. */
export function cutTrailingLoop(tokens: readonly number[], maxPeriod = 16, minRepeats = 4): number[] {
  for (let period = 1; period <= maxPeriod; period++) {
    if (tokens.length < period * minRepeats) break;
    let start = tokens.length - period;
    while (start - period >= 0 && tokens.slice(start - period, start).every((token, i) => token === tokens[start + i])) start -= period;
    const copies = (tokens.length - start) / period;
    if (copies >= minRepeats) return tokens.slice(0, start + period);
  }
  return [...tokens];
}
