import { AppError } from "../errors";
import type { TranscriptSegment, TranscriptWord } from "../asr/engine";
import { groupWords, latestEndS } from "./cue-groups";
import type { CueRules, LayoutRules } from "./cue-rules";
import { wrapBalanced } from "./line-wrap";

export { wrapBalanced } from "./line-wrap";
export type { CueRules } from "./cue-rules";

/** One subtitle. Times in seconds; `index` is 1-based. */
export type Cue = {
  index: number;
  startS: number;
  endS: number;
  lines: string[];
  /** The timing line as parsed from a file; rendering writes it back unchanged (byte for byte). */
  timingLine?: string;
};

const DEFAULT_RULES: Required<CueRules> = { maxLineChars: 42, maxLines: 2, maxCueS: 7, minCueS: 1, maxCharsPerS: 20, minGapS: 2 / 24 };

/**
 * A gap shorter than this (s) between two cues is closed to `minGapS` by moving the earlier
 * cue's end ("chaining", Netflix: gaps under half a second): a blink of empty screen between
 * subtitles is more distracting than a subtitle held a little longer.
 */
export const CHAIN_GAP_S = 0.5;

/**
 * Turns transcript segments into subtitle cues. The words of all segments (word timings, or
 * segmentWords' spread for a segment without them) are grouped into cues that break at
 * sentence ends, then clause ends, then pauses (never across a pause over
 * MAX_PAUSE_IN_CUE_S; see cue-groups), wrapped into balanced lines (line-wrap), then timed:
 * each cue starts with its first word and ends with its last, extended for `minCueS` and
 * `maxCharsPerS` as far as `maxCueS` and the gap allow, and chained to the next cue when the
 * gap left is under CHAIN_GAP_S. Times are whole ms so they survive SRT/VTT round trips.
 */
export function buildCues(segments: readonly TranscriptSegment[], rules: CueRules = {}): Cue[] {
  const settings: LayoutRules = { ...DEFAULT_RULES, ...definedRules(rules) };
  const groups = groupWords(orderedWords(segments), settings);
  const texts = groups.map((group) => group.map((word) => word.text));
  const timings = timeCues(groups, texts.map((words) => words.join(" ").length), settings);
  return groups.map((_, k) => ({
    index: k + 1,
    ...(timings[k] as { startS: number; endS: number }),
    lines: wrapBalanced(texts[k] as string[], settings.maxLineChars, settings.maxLines) ?? [(texts[k] as string[]).join(" ")],
  }));
}

/** Rules without keys set to undefined, so they do not hide the defaults. */
function definedRules(rules: CueRules): CueRules {
  return Object.fromEntries(Object.entries(rules).filter(([, value]) => value !== undefined)) as CueRules;
}

/** Every segment's words in time order (a stable sort: engines may overlap segments slightly). */
function orderedWords(segments: readonly TranscriptSegment[]): TranscriptWord[] {
  const ordered = [...segments].sort((a, b) => a.startS - b.startS);
  return ordered.flatMap((segment) => segmentWords(segment)).sort((a, b) => a.startS - b.startS);
}

/**
 * A segment's words; for a segment without word timings, its text split at spaces with
 * times spread in proportion to word length.
 */
export function segmentWords(segment: TranscriptSegment): TranscriptWord[] {
  const timed = segment.words.filter((word) => word.text.trim().length > 0);
  if (timed.length > 0) return timed.map((word) => ({ ...word, text: word.text.trim() }));
  const texts = segment.text.split(/\s+/).filter(Boolean);
  const totalChars = texts.reduce((sum, text) => sum + text.length, 0);
  const spanS = Math.max(0, segment.endS - segment.startS);
  let cursor = segment.startS;
  return texts.map((text) => {
    const lengthS = totalChars > 0 ? (spanS * text.length) / totalChars : 0;
    const word = { text, startS: cursor, endS: cursor + lengthS, confidence: 1 };
    cursor += lengthS;
    return word;
  });
}

/**
 * Display times of grouped cues, in whole ms. Each cue's end is pulled before the next cue's
 * start by at least the minimum gap; a cue whose next one starts too soon even for that
 * (overlapping words from the engine) keeps a short display and pushes the next one later,
 * so cues never overlap whatever the input.
 */
function timeCues(groups: readonly TranscriptWord[][], chars: readonly number[], rules: LayoutRules): { startS: number; endS: number }[] {
  const starts = groups.map((group) => roundMs((group[0] as TranscriptWord).startS));
  const timings: { startS: number; endS: number }[] = [];
  for (let k = 0; k < groups.length; k++) {
    const group = groups[k] as TranscriptWord[];
    const startS = starts[k] as number;
    const speechEndS = roundMs(Math.max(startS, (group[group.length - 1] as TranscriptWord).endS));
    const nextStartS = starts[k + 1] ?? Number.POSITIVE_INFINITY;
    let endS = cueEndS(startS, speechEndS, chars[k] as number, nextStartS, rules);
    if (endS - startS < DEGENERATE_CUE_S) {
      endS = roundMs(startS + DEGENERATE_CUE_S);
      starts[k + 1] = roundMs(Math.max(nextStartS, endS + rules.minGapS));
    }
    timings.push({ startS, endS });
  }
  return timings;
}

/** Display of a cue the next one leaves no room for (s): enough to register, delaying the next cue little. */
const DEGENERATE_CUE_S = 0.1;

/** When a cue starting at `startS` ends (ms grid), given its speech end, length and the next cue's start. */
function cueEndS(startS: number, speechEndS: number, chars: number, nextStartS: number, rules: LayoutRules): number {
  const latestS = latestEndS(startS, speechEndS, nextStartS, rules);
  const wantedS = Math.max(speechEndS, startS + rules.minCueS, startS + chars / rules.maxCharsPerS);
  let endS = Math.min(wantedS, latestS);
  const chainedS = nextStartS - rules.minGapS;
  // Chaining may also pull the end back a little, when speech runs up to the next cue.
  if (nextStartS - endS < CHAIN_GAP_S && chainedS <= latestS) endS = chainedS;
  return roundMs(endS);
}

/** Rounds seconds to whole milliseconds (half away from zero on the ms grid). */
export function roundMs(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

/** Formats seconds as HH:MM:SS<sep>mmm (hours grow past two digits if needed). */
export function formatTimestamp(seconds: number, separator: "," | "."): string {
  const totalMs = Math.max(0, Math.round(seconds * 1000));
  const ms = totalMs % 1000;
  const totalS = Math.floor(totalMs / 1000);
  const s = totalS % 60;
  const m = Math.floor(totalS / 60) % 60;
  const h = Math.floor(totalS / 3600);
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}${separator}${String(ms).padStart(3, "0")}`;
}

/**
 * Parses the parts of a timestamp matched by a caller's regex: hours (optional), minutes,
 * seconds and a decimal fraction ("5" = 0.5 s, "050" = 0.05 s). Returns null when minutes
 * or seconds are out of range.
 */
export function timestampSeconds(hours: string | undefined, minutes: string, seconds: string, fraction: string): number | null {
  const m = Number(minutes);
  const s = Number(seconds);
  if (m >= 60 || s >= 60) return null;
  const ms = Math.round(Number(`0.${fraction}`) * 1000);
  return (Number(hours ?? 0) * 3600 * 1000 + m * 60 * 1000 + s * 1000 + ms) / 1000;
}

/** Splits text into lines, dropping a BOM and accepting CRLF, CR and LF. */
export function splitLines(text: string): string[] {
  return text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);
}

/** Builds the BAD_REQUEST errors of a subtitle parser, naming the line and what was expected. */
export function subtitleErrorFactory(format: string, lines: readonly string[]): (lineIndex: number, expected: string) => AppError {
  return (lineIndex, expected) => {
    const found = (lines[lineIndex] ?? "").trim().slice(0, 80);
    return new AppError("BAD_REQUEST", `Invalid ${format} at line ${lineIndex + 1}: expected ${expected}, found "${found}"`);
  };
}

/**
 * Reads a `start --> end` line whose pattern captures hours?, minutes, seconds and fraction
 * twice. Throws through `invalid` when it does not match or the times are impossible.
 */
export function parseTimingLine(
  pattern: RegExp,
  lines: readonly string[],
  lineIndex: number,
  example: string,
  invalid: (lineIndex: number, expected: string) => AppError,
): { startS: number; endS: number } {
  const timing = pattern.exec(lines[lineIndex] ?? "");
  if (!timing) throw invalid(lineIndex, `a timing line such as "${example}"`);
  const [, h1, m1, s1, f1, h2, m2, s2, f2] = timing;
  const startS = timestampSeconds(h1, m1 ?? "", s1 ?? "", f1 ?? "");
  const endS = timestampSeconds(h2, m2 ?? "", s2 ?? "", f2 ?? "");
  if (startS === null || endS === null) throw invalid(lineIndex, "minutes and seconds below 60");
  if (endS < startS) throw invalid(lineIndex, "an end time after the start time");
  return { startS, endS };
}
