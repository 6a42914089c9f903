import type { TranscriptWord } from "../../src/server/asr/engine";
import type { Cue } from "../../src/server/subtitles/cues";

/** The layout rules a set of cues is checked against (the spec's numbers, not the code's constants). */
export type ExpectedRules = {
  maxLineChars: number;
  maxLines: number;
  /** s */
  minCueS: number;
  /** s */
  maxCueS: number;
  maxCharsPerS: number;
  /** ms: smallest gap between cues, and the gap of chained cues */
  minGapMs: number;
  /** ms: gaps below this are chained (closed to minGapMs) */
  chainGapMs: number;
  /** s: no cue spans a pause longer than this */
  maxPauseInCueS: number;
};

/** Netflix-style defaults: 42 × 2, 1–7 s, 20 cps, 2 frames at 24 fps, chaining under 0.5 s, no cue across 1.5 s of silence. */
export const NETFLIX_RULES: ExpectedRules = {
  maxLineChars: 42,
  maxLines: 2,
  minCueS: 1,
  maxCueS: 7,
  maxCharsPerS: 20,
  minGapMs: 83,
  chainGapMs: 500,
  maxPauseInCueS: 1.5,
};

/** What the checks saw, so a test can insist that a rule was actually exercised. */
export type RuleStats = {
  cues: number;
  /** cues shown longer than their speech to reach minCueS or maxCharsPerS */
  extended: number;
  /** gaps closed to minGapMs */
  chained: number;
  /** cues that break a timing rule because the timing does not allow it */
  excused: number;
};

const ms = (seconds: number): number => Math.round(seconds * 1000);

/**
 * Every way `cues` break the subtitle rules for `words` (the input words, in time order):
 * lost or split words, lines, duration, reading speed, gaps and chaining, overlaps, pauses
 * inside a cue, and timings that do not follow the words. Timing rules are checked "where
 * timing allows": against the time a cue could stay up (to `maxCueS`, or the next cue less
 * the minimum gap).
 */
export function subtitleRuleViolations(cues: readonly Cue[], words: readonly TranscriptWord[], rules: ExpectedRules): { violations: string[]; stats: RuleStats } {
  const violations: string[] = [];
  const stats: RuleStats = { cues: cues.length, extended: 0, chained: 0, excused: 0 };
  const cueWords = wordsPerCue(cues, words, violations);
  cues.forEach((cue, k) => {
    const own = cueWords[k] ?? [];
    const next = cues[k + 1];
    const label = `cue ${cue.index} "${cue.lines.join(" / ")}" ${cue.startS}–${cue.endS}`;
    checkLines(cue, label, rules, violations);
    checkPauses(own, label, rules, violations);
    checkTiming(cue, own, next, label, rules, violations, stats);
  });
  return { violations, stats };
}

/** Splits the input words among the cues by their text; a cue that does not match is a violation. */
function wordsPerCue(cues: readonly Cue[], words: readonly TranscriptWord[], violations: string[]): TranscriptWord[][] {
  let next = 0;
  const perCue = cues.map((cue) => {
    const texts = cue.lines.join(" ").split(" ").filter(Boolean);
    const own = words.slice(next, next + texts.length);
    if (own.map((word) => word.text).join(" ") !== texts.join(" ")) violations.push(`cue ${cue.index} text "${texts.join(" ")}" is not the next words "${own.map((w) => w.text).join(" ")}"`);
    next += texts.length;
    return own;
  });
  if (next !== words.length) violations.push(`${words.length - next} words are in no cue`);
  return perCue;
}

function checkLines(cue: Cue, label: string, rules: ExpectedRules, violations: string[]): void {
  if (cue.lines.length < 1 || cue.lines.length > rules.maxLines) violations.push(`${label}: ${cue.lines.length} lines`);
  for (const line of cue.lines) {
    if (line.length > rules.maxLineChars && line.includes(" ")) violations.push(`${label}: line "${line}" is ${line.length} characters`);
  }
}

function checkPauses(own: readonly TranscriptWord[], label: string, rules: ExpectedRules, violations: string[]): void {
  for (let i = 1; i < own.length; i++) {
    const pause = (own[i] as TranscriptWord).startS - (own[i - 1] as TranscriptWord).endS;
    if (pause > rules.maxPauseInCueS) violations.push(`${label}: spans a ${pause.toFixed(2)} s pause`);
  }
}

function checkTiming(cue: Cue, own: readonly TranscriptWord[], next: Cue | undefined, label: string, rules: ExpectedRules, violations: string[], stats: RuleStats): void {
  const first = own[0];
  const last = own[own.length - 1];
  if (!first || !last) return;
  const durationMs = ms(cue.endS) - ms(cue.startS);
  const speechEndMs = Math.max(ms(first.startS), ms(last.endS));
  const singleLongWord = own.length === 1 && speechEndMs - ms(first.startS) > rules.maxCueS * 1000;
  // Built from word timings: shown from the first word, and not hidden before the last word
  // ends unless chaining pulls the end back to the next cue.
  if (ms(cue.startS) !== ms(first.startS)) violations.push(`${label}: starts at ${cue.startS}, its first word at ${first.startS}`);
  const chainedEndMs = next ? ms(next.startS) - rules.minGapMs : Number.POSITIVE_INFINITY;
  if (ms(cue.endS) < Math.min(speechEndMs, chainedEndMs)) violations.push(`${label}: ends before its last word (${last.endS})`);
  if (durationMs <= 0) violations.push(`${label}: empty or backwards`);
  if (durationMs > rules.maxCueS * 1000 && !singleLongWord) violations.push(`${label}: lasts ${durationMs} ms`);

  // Where timing allows: the longest this cue could stay up.
  const roomMs = Math.min(ms(cue.startS) + rules.maxCueS * 1000, chainedEndMs) - ms(cue.startS);
  if (durationMs < rules.minCueS * 1000) {
    if (roomMs >= rules.minCueS * 1000) violations.push(`${label}: lasts ${durationMs} ms though ${roomMs} ms were free`);
    else stats.excused++;
  }
  const chars = cue.lines.join(" ").length;
  if (chars * 1000 > rules.maxCharsPerS * (durationMs + 1)) {
    if (chars * 1000 <= rules.maxCharsPerS * roomMs) violations.push(`${label}: ${((chars * 1000) / durationMs).toFixed(1)} characters/s though ${roomMs} ms were free`);
    else stats.excused++;
  }
  if (ms(cue.endS) > speechEndMs) stats.extended++;

  if (!next) return;
  const gapMs = ms(next.startS) - ms(cue.endS);
  if (gapMs < rules.minGapMs) violations.push(`${label}: gap of ${gapMs} ms to the next cue`);
  else if (gapMs === rules.minGapMs) stats.chained++;
  // A gap under the chaining threshold is closed, unless closing it would break maxCueS.
  else if (gapMs < rules.chainGapMs && durationMs + gapMs - rules.minGapMs <= rules.maxCueS * 1000) violations.push(`${label}: gap of ${gapMs} ms is not chained`);
}
