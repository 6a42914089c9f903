/**
 * Subtitle cues as the dashboard edits them. The server parses and checks the saved SRT
 * again (it is the authority); this gives the editor immediate, per-field feedback.
 */

import { formatTimestamp as formatSrtTimestamp, timestampSeconds } from "../../server/subtitles/cues";

export type EditableCue = { key: string; start: string; end: string; text: string };
export type Cue = { startS: number; endS: number; text: string };

const TIMESTAMP = /^(\d{1,2}):([0-5]\d):([0-5]\d)[,.](\d{3})$/;

/** "00:01:02,345" → 62.345; null when it is not an SRT timestamp. */
export function parseTimestamp(value: string): number | null {
  const match = TIMESTAMP.exec(value.trim());
  if (!match) return null;
  const [, h, m = "", s = "", ms = ""] = match;
  return timestampSeconds(h, m, s, ms);
}

/** 62.345 → "00:01:02,345" (rounded to the millisecond). */
export function formatTimestamp(seconds: number): string {
  return formatSrtTimestamp(seconds, ",");
}

/** The cues of an SRT the server rendered (well-formed by construction). */
export function parseSrtCues(srt: string): Cue[] {
  const cues: Cue[] = [];
  for (const block of srt.replace(/\r\n/g, "\n").split(/\n{2,}/)) {
    const lines = block.split("\n").filter((line, i) => i > 0 || line.trim() !== "");
    const timingAt = lines.findIndex((line) => line.includes("-->"));
    if (timingAt < 0) continue;
    const [startText, endText] = lines[timingAt]!.split("-->").map((part) => part.trim().split(/\s+/)[0] ?? "");
    const startS = parseTimestamp(startText ?? "");
    const endS = parseTimestamp(endText ?? "");
    if (startS === null || endS === null) continue;
    cues.push({ startS, endS, text: lines.slice(timingAt + 1).join("\n").trim() });
  }
  return cues;
}

export function toEditable(cues: readonly Cue[]): EditableCue[] {
  return cues.map((cue, i) => ({ key: `cue-${i}`, start: formatTimestamp(cue.startS), end: formatTimestamp(cue.endS), text: cue.text }));
}

export type CueProblems = { start?: string; end?: string; text?: string };

/** Problems per cue (by key), and warnings that do not block saving. */
export function validateCues(cues: readonly EditableCue[]): { errors: Map<string, CueProblems>; warnings: string[] } {
  const errors = new Map<string, CueProblems>();
  const warnings: string[] = [];
  let previous: { start: number; end: number } | null = null;
  cues.forEach((cue, i) => {
    const problems: CueProblems = {};
    const start = parseTimestamp(cue.start);
    const end = parseTimestamp(cue.end);
    if (start === null) problems.start = "Use HH:MM:SS,mmm";
    if (end === null) problems.end = "Use HH:MM:SS,mmm";
    if (start !== null && end !== null && end <= start) problems.end = "Must be after the start";
    if (start !== null && previous && start < previous.start) problems.start = `Starts before cue ${i}`;
    if (!cue.text.trim()) problems.text = "A cue needs text";
    if (start !== null && end !== null && previous && start < previous.end && !problems.start) warnings.push(`Cue ${i + 1} overlaps cue ${i}`);
    if (Object.keys(problems).length) errors.set(cue.key, problems);
    if (start !== null && end !== null) previous = { start, end };
  });
  return { errors, warnings };
}

/**
 * The cues as an SRT file, numbered from 1. Call only when validateCues found no errors.
 * A blank line ends an SRT block, so blank lines inside a cue's text are dropped (as the
 * server's renderSrt does); otherwise the server would reject the saved file.
 */
export function serializeSrt(cues: readonly EditableCue[]): string {
  return cues
    .map((cue, i) => {
      const text = cue.text.split(/\r?\n/).filter((line) => line.trim() !== "").join("\n").trim();
      return `${i + 1}\n${formatTimestamp(parseTimestamp(cue.start) ?? 0)} --> ${formatTimestamp(parseTimestamp(cue.end) ?? 0)}\n${text}\n`;
    })
    .join("\n");
}
