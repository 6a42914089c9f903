import type { TranscriptWord } from "../asr/engine";
import { breakKind, isFunctionWord, type BreakKind } from "./break-points";
import type { LayoutRules } from "./cue-rules";
import { LineCounter } from "./line-wrap";

/**
 * A pause longer than this (s) always ends a cue: a subtitle left up through 1.5 s of
 * silence reads as belonging to the wrong speech, and its words would show long before (or
 * after) they are said. Shorter pauses may sit inside a cue, so a cue can span the
 * engine's segments, which are not sentences.
 */
export const MAX_PAUSE_IN_CUE_S = 1.5;

/*
 * Costs of one cue, in arbitrary units. Breaking at a sentence end is free, at a clause end
 * costs more than one extra cue, mid-clause much more: so within the hard limits (lines,
 * 7 s) the fewest cues win, and when a break is needed it goes to a sentence end, then a
 * clause end, then the longest pause. A sentence end followed by a clear pause (over 0.6 s)
 * is worth a cue of its own: that is where a reader expects the next subtitle.
 */
const CUE_COST = 400;
const CUE_BREAK_COST: Record<BreakKind, number> = { sentence: 0, clause: 600, none: 1500 };
/** Taken off a break's cost in proportion to the pause after it (full at MAX_PAUSE_IN_CUE_S): pauses are where speech breaks. */
const PAUSE_BONUS = 1000;
/** A cue that ends with "the" or "and" (Netflix: break before conjunctions and prepositions). */
const DANGLING_CUE_COST = 700;
/** Times the squared unused share of a cue: among equal breaks, even cues beat one full and one nearly empty. */
const FILL_COST = 200;
/** Per character beyond what the cue can show at maxCharsPerS in the time it can stay up. */
const CPS_COST_PER_CHAR = 100;
/** Per second a cue falls short of minCueS even when extended as far as it may go. */
const SHORT_COST_PER_S = 3000;


/**
 * Splits time-ordered words into cue-sized groups: never across a pause longer than
 * MAX_PAUSE_IN_CUE_S, never more than `maxLines` lines of `maxLineChars` or longer than
 * `maxCueS` (a single word that breaks a limit gets a cue of its own), and within those
 * limits the cheapest breaks by dynamic programming.
 */
export function groupWords(words: readonly TranscriptWord[], rules: LayoutRules): TranscriptWord[][] {
  return pauseRuns(words).flatMap((run) => groupRun(run.words, run.followingStartS, rules));
}

type Run = { words: TranscriptWord[]; /** s: when the next run's speech starts (Infinity after the last) */ followingStartS: number };

/** Cuts words at every pause longer than MAX_PAUSE_IN_CUE_S. */
function pauseRuns(words: readonly TranscriptWord[]): Run[] {
  const runs: Run[] = [];
  let current: TranscriptWord[] = [];
  for (const word of words) {
    const previous = current[current.length - 1];
    if (previous && word.startS - previous.endS > MAX_PAUSE_IN_CUE_S) {
      runs.push({ words: current, followingStartS: word.startS });
      current = [];
    }
    current.push(word);
  }
  if (current.length > 0) runs.push({ words: current, followingStartS: Number.POSITIVE_INFINITY });
  return runs;
}

/**
 * The latest a cue may end (s): `maxCueS` after its start (or its speech end, for one
 * over-long word) and `minGapS` before the next cue. buildCues' timing uses the same bound.
 */
export function latestEndS(startS: number, speechEndS: number, nextStartS: number, rules: LayoutRules): number {
  return Math.min(Math.max(startS + rules.maxCueS, speechEndS), nextStartS - rules.minGapS);
}

/** The cheapest split of one run into cues; `best[j]` is the cheapest split of run[0..j). */
function groupRun(run: readonly TranscriptWord[], followingStartS: number, rules: LayoutRules): TranscriptWord[][] {
  const n = run.length;
  const best = new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY);
  const from = new Array<number>(n + 1).fill(0);
  best[0] = 0;
  for (let i = 0; i < n; i++) {
    const base = best[i] as number;
    if (!Number.isFinite(base)) continue;
    const first = run[i] as TranscriptWord;
    const lines = new LineCounter(rules.maxLineChars);
    let chars = -1;
    for (let j = i; j < n; j++) {
      const word = run[j] as TranscriptWord;
      lines.add(word.text);
      chars += word.text.length + 1;
      // Lines and duration only grow with j, so the first violation ends the scan.
      if (j > i && (lines.lines > rules.maxLines || word.endS - first.startS > rules.maxCueS)) break;
      const nextStartS = j + 1 < n ? (run[j + 1] as TranscriptWord).startS : followingStartS;
      const cost = base + cueCost(first, word, chars, nextStartS, j === n - 1, rules);
      if (cost < (best[j + 1] as number)) {
        best[j + 1] = cost;
        from[j + 1] = i;
      }
    }
  }
  const groups: TranscriptWord[][] = [];
  for (let end = n; end > 0; end = from[end] as number) groups.unshift(run.slice(from[end] as number, end));
  return groups;
}

/** Cost of one cue from `first` to `last` (`chars` long) when the next cue starts at `nextStartS`. */
function cueCost(first: TranscriptWord, last: TranscriptWord, chars: number, nextStartS: number, endsRun: boolean, rules: LayoutRules): number {
  const capacity = rules.maxLines * rules.maxLineChars;
  let cost = CUE_COST + FILL_COST * (Math.max(0, capacity - chars) / capacity) ** 2;
  // A run ends at a long pause: the best break there is, whatever the words.
  if (!endsRun) cost += breakCost(last, nextStartS - last.endS);
  const shownS = latestEndS(first.startS, Math.max(first.startS, last.endS), nextStartS, rules) - first.startS;
  cost += CPS_COST_PER_CHAR * Math.max(0, chars - rules.maxCharsPerS * shownS);
  cost += SHORT_COST_PER_S * Math.max(0, rules.minCueS - shownS);
  return cost;
}

/** Cost of ending a cue after `word` followed by `pauseS` of silence. */
function breakCost(word: TranscriptWord, pauseS: number): number {
  const pause = Math.min(Math.max(0, pauseS), MAX_PAUSE_IN_CUE_S) / MAX_PAUSE_IN_CUE_S;
  return CUE_BREAK_COST[breakKind(word.text)] - PAUSE_BONUS * pause + (isFunctionWord(word.text) ? DANGLING_CUE_COST : 0);
}
