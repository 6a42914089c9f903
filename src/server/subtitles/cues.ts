import { AppError } from "../errors";
import type { TranscriptSegment, TranscriptWord } from "../asr/engine";

/** One subtitle. Times in seconds; `index` is 1-based. */
export type Cue = {
  index: number;
  startS: number;
  endS: number;
  lines: string[];
  /** The timing line as parsed from a file; rendering writes it back unchanged (byte for byte). */
  timingLine?: string;
};

/** Layout limits for subtitles. */
export type CueRules = {
  /** Characters per line (a single longer word still gets a line of its own). Default 42. */
  maxLineChars?: number;
  /** Lines per cue. Default 2. */
  maxLines?: number;
  /** Longest cue in s (a single longer word is kept whole). Default 7. */
  maxCueS?: number;
  /** Shortest display time in s, reached by extending the end up to the next cue. Default 1. */
  minCueS?: number;
};

const DEFAULT_RULES: Required<CueRules> = { maxLineChars: 42, maxLines: 2, maxCueS: 7, minCueS: 1 };

/** Cost of one more cue; dwarfs the balance terms so the fewest cues always win. */
const CUE_COST = 1e6;

/**
 * Turns transcript segments into subtitle cues. Each segment is split at word boundaries
 * (using word timings) into the fewest cues that respect the rules, with text spread evenly
 * over them and a preference for breaking at pauses and punctuation; each cue's lines are
 * balanced. Cue times are rounded to ms so they survive SRT/VTT round trips unchanged.
 */
export function buildCues(segments: readonly TranscriptSegment[], rules: CueRules = {}): Cue[] {
  const settings = { ...DEFAULT_RULES, ...rules };
  const ordered = [...segments].sort((a, b) => a.startS - b.startS);
  const cues: Cue[] = [];
  for (const segment of ordered) {
    for (const group of splitSegment(segmentWords(segment), settings)) {
      const first = group[0];
      const last = group[group.length - 1];
      if (!first || !last) continue;
      const lines = wrapBalanced(group.map((word) => word.text), settings.maxLineChars, settings.maxLines) ?? [group.map((word) => word.text).join(" ")];
      cues.push({ index: cues.length + 1, startS: roundMs(first.startS), endS: roundMs(Math.max(first.startS, last.endS)), lines });
    }
  }
  applyMinimumDuration(cues, settings.minCueS);
  return cues;
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

/** Splits one segment's words into cue-sized groups by dynamic programming. */
function splitSegment(words: readonly TranscriptWord[], rules: Required<CueRules>): TranscriptWord[][] {
  const n = words.length;
  if (n === 0) return [];
  const capacity = rules.maxLines * rules.maxLineChars;
  // best[j]: cheapest split of words[0..j); from[j]: where its last cue starts.
  const best = new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY);
  const from = new Array<number>(n + 1).fill(0);
  best[0] = 0;
  for (let i = 0; i < n; i++) {
    const base = best[i] ?? Number.POSITIVE_INFINITY;
    if (!Number.isFinite(base)) continue;
    const start = words[i] as TranscriptWord;
    let chars = -1;
    for (let j = i; j < n; j++) {
      const word = words[j] as TranscriptWord;
      chars += word.text.length + 1;
      const single = j === i;
      const tooLong = word.endS - start.startS > rules.maxCueS;
      const fits = wrapBalanced(words.slice(i, j + 1).map((w) => w.text), rules.maxLineChars, rules.maxLines) !== null;
      // Both limits only grow with j, so the first violation ends the scan.
      if (!single && (tooLong || !fits)) break;
      const slack = Math.max(0, capacity - chars);
      const next = words[j + 1];
      const pauseS = next ? Math.max(0, next.startS - word.endS) : 0;
      const punctuation = /[.!?]$/.test(word.text) ? 2 : /[,;:]$/.test(word.text) ? 1 : 0;
      const cost = base + CUE_COST + slack * slack - Math.min(pauseS, 2) * 200 - punctuation * 150;
      if (cost < (best[j + 1] ?? Number.POSITIVE_INFINITY)) {
        best[j + 1] = cost;
        from[j + 1] = i;
      }
    }
  }
  const groups: TranscriptWord[][] = [];
  for (let end = n; end > 0; ) {
    const start = from[end] ?? 0;
    groups.unshift(words.slice(start, end));
    end = start;
  }
  return groups;
}

/**
 * Wraps words into at most `maxLines` lines of at most `maxLineChars`, using the fewest
 * lines and then the most even lengths. Returns null when they do not fit; a single word
 * longer than a line is allowed on a line of its own.
 */
export function wrapBalanced(words: readonly string[], maxLineChars: number, maxLines: number): string[] | null {
  const n = words.length;
  if (n === 0) return [];
  const lengthOf = (from: number, to: number): number => {
    let total = -1;
    for (let k = from; k < to; k++) total += (words[k] as string).length + 1;
    return total;
  };
  const fits = (from: number, to: number): boolean => to - from === 1 || lengthOf(from, to) <= maxLineChars;

  // Fewest lines, greedily.
  let lineCount = 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && fits(i, j + 1)) j++;
    i = j;
    lineCount++;
  }
  if (lineCount > maxLines) return null;

  // Among splits into `lineCount` lines: smallest longest line, then smallest sum of squares.
  type Plan = { longest: number; squares: number; breaks: number[] };
  const memo = new Map<string, Plan | null>();
  const plan = (from: number, lines: number): Plan | null => {
    const key = `${from}:${lines}`;
    if (memo.has(key)) return memo.get(key) ?? null;
    let result: Plan | null = null;
    if (lines === 1) {
      result = fits(from, n) ? { longest: lengthOf(from, n), squares: lengthOf(from, n) ** 2, breaks: [] } : null;
    } else {
      for (let to = from + 1; to <= n - (lines - 1); to++) {
        if (!fits(from, to)) break;
        const rest = plan(to, lines - 1);
        if (!rest) continue;
        const length = lengthOf(from, to);
        const candidate = { longest: Math.max(length, rest.longest), squares: length ** 2 + rest.squares, breaks: [to, ...rest.breaks] };
        if (!result || candidate.longest < result.longest || (candidate.longest === result.longest && candidate.squares < result.squares)) {
          result = candidate;
        }
      }
    }
    memo.set(key, result);
    return result;
  };
  const chosen = plan(0, lineCount);
  if (!chosen) return null;
  const lines: string[] = [];
  let start = 0;
  for (const end of [...chosen.breaks, n]) {
    lines.push(words.slice(start, end).join(" "));
    start = end;
  }
  return lines;
}

/** Stretches short cues to `minCueS`, never into the next cue. Mutates `cues`. */
function applyMinimumDuration(cues: Cue[], minCueS: number): void {
  for (let i = 0; i < cues.length; i++) {
    const cue = cues[i] as Cue;
    const nextStart = cues[i + 1]?.startS ?? Number.POSITIVE_INFINITY;
    if (cue.endS - cue.startS < minCueS) cue.endS = roundMs(Math.max(cue.endS, Math.min(cue.startS + minCueS, nextStart)));
  }
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
