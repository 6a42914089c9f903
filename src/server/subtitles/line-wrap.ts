import { breakKind, isFunctionWord, type BreakKind } from "./break-points";

/*
 * Line costs are in the unit of the balance term: two lines whose lengths differ by d
 * characters cost d². So a clause break is worth about 12 characters of imbalance over a
 * plain break, a sentence break about 16, and not leaving "the" at a line end about 17.
 */
const LINE_BREAK_COST: Record<BreakKind, number> = { sentence: 0, clause: 100, none: 250 };
const DANGLING_LINE_COST = 300;

/**
 * Counts lines as words are appended, filling each line greedily; greedy filling gives the
 * fewest lines, so a cue fits exactly when this count stays within its limit. A word longer
 * than a line gets a line of its own.
 */
export class LineCounter {
  lines = 0;
  private current = 0;

  constructor(private readonly maxLineChars: number) {}

  add(word: string): void {
    if (this.lines > 0 && this.current + 1 + word.length <= this.maxLineChars) {
      this.current += 1 + word.length;
      return;
    }
    this.lines++;
    this.current = word.length;
  }
}

/**
 * Wraps words into at most `maxLines` lines of at most `maxLineChars`: the fewest lines (one
 * line when it fits, as Netflix asks), then the split with the most even lengths, breaking
 * after punctuation rather than mid-phrase, not after an article, preposition or conjunction;
 * between equally good splits, the longer line goes at the bottom (bottom-heavy, the shape
 * Netflix's guide prefers). Returns null when the words need more lines; a
 * single word longer than a line is allowed on a line of its own.
 */
export function wrapBalanced(words: readonly string[], maxLineChars: number, maxLines: number): string[] | null {
  const n = words.length;
  if (n === 0) return [];
  const counter = new LineCounter(maxLineChars);
  for (const word of words) counter.add(word);
  if (counter.lines > maxLines) return null;
  if (counter.lines === 1) return [words.join(" ")];
  const breaks = cheapestBreaks(words, maxLineChars, counter.lines);
  if (!breaks) return null;
  const lines: string[] = [];
  let start = 0;
  for (const end of [...breaks, n]) {
    lines.push(words.slice(start, end).join(" "));
    start = end;
  }
  return lines;
}

/** Where each of `lineCount` lines but the last ends (word indices), by dynamic programming. */
function cheapestBreaks(words: readonly string[], maxLineChars: number, lineCount: number): number[] | null {
  const n = words.length;
  // prefix[k]: characters of words[0..k) plus one space after each.
  const prefix = [0];
  for (const word of words) prefix.push((prefix[prefix.length - 1] as number) + word.length + 1);
  const lengthOf = (from: number, to: number): number => (prefix[to] as number) - (prefix[from] as number) - 1;
  const target = (lengthOf(0, n) - (lineCount - 1)) / lineCount;
  const lineCost = (from: number, to: number, last: boolean): number => {
    const length = lengthOf(from, to);
    const balance = 2 * (length - target) ** 2;
    if (last) return balance;
    const word = words[to - 1] as string;
    return balance + LINE_BREAK_COST[breakKind(word)] + (isFunctionWord(word) ? DANGLING_LINE_COST : 0);
  };
  type Plan = { cost: number; breaks: number[] };
  const memo = new Map<number, Plan | null>();
  const plan = (from: number, lines: number): Plan | null => {
    const key = from * (lineCount + 1) + lines;
    if (memo.has(key)) return memo.get(key) ?? null;
    let result: Plan | null = null;
    if (lines === 1) {
      result = n - from === 1 || lengthOf(from, n) <= maxLineChars ? { cost: lineCost(from, n, true), breaks: [] } : null;
    } else {
      for (let to = from + 1; to <= n - (lines - 1); to++) {
        if (to - from > 1 && lengthOf(from, to) > maxLineChars) break;
        const rest = plan(to, lines - 1);
        if (!rest) continue;
        const cost = lineCost(from, to, false) + rest.cost;
        // Shorter upper lines are tried first and a tie keeps the first: bottom-heavy.
        if (!result || cost < result.cost) result = { cost, breaks: [to, ...rest.breaks] };
      }
    }
    memo.set(key, result);
    return result;
  };
  return plan(0, lineCount)?.breaks ?? null;
}
