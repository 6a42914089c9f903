import { formatTimestamp, parseTimingLine, splitLines, subtitleErrorFactory, type Cue } from "./cues";

/** Renders cues as SubRip (SRT): `00:00:01,234 --> 00:00:02,000`, blocks separated by a blank line. */
export function renderSrt(cues: readonly Cue[]): string {
  return cues
    .map((cue) => {
      // A blank line ends an SRT block, so blank text lines cannot be written.
      const lines = cue.lines.filter((line) => line.trim().length > 0);
      return [String(cue.index), cue.timingLine ?? `${formatTimestamp(cue.startS, ",")} --> ${formatTimestamp(cue.endS, ",")}`, ...lines].join("\n");
    })
    .map((block) => `${block}\n\n`)
    .join("");
}

const SRT_TIME = String.raw`(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})`;
/** Anything after the end time (SSA-style "X1:... Y2:..." positions) is ignored. */
const SRT_TIMING = new RegExp(String.raw`^\s*${SRT_TIME}\s*-->\s*${SRT_TIME}(?:\s.*)?$`);
const CUE_NUMBER = /^\s*\d+\s*$/;

/**
 * Parses SubRip text. Tolerates a BOM, CRLF/CR line ends, extra blank lines, a missing
 * trailing blank line, a missing cue number and "." as the millisecond separator. Throws
 * AppError BAD_REQUEST naming the line of anything else. `keepTimingLines` keeps each raw
 * timing line so that rendering writes it back byte for byte (an edit of the text only).
 */
export function parseSrt(text: string, options: { keepTimingLines?: boolean } = {}): Cue[] {
  const lines = splitLines(text);
  const cues: Cue[] = [];
  let i = 0;
  const invalid = subtitleErrorFactory("SRT", lines);

  while (i < lines.length) {
    if ((lines[i] ?? "").trim() === "") {
      i++;
      continue;
    }
    let index = cues.length + 1;
    if (CUE_NUMBER.test(lines[i] ?? "")) {
      index = Number((lines[i] ?? "").trim());
      i++;
    } else if (!(lines[i] ?? "").includes("-->")) {
      throw invalid(i, "a cue number");
    }
    const { startS, endS } = parseTimingLine(SRT_TIMING, lines, i, "00:00:01,000 --> 00:00:04,000", invalid);
    const timingLine = (lines[i] ?? "").trim();
    i++;

    const textLines: string[] = [];
    while (i < lines.length && (lines[i] ?? "").trim() !== "") {
      // Tolerate a missing blank line: a number followed by a timing line starts a new cue.
      if (CUE_NUMBER.test(lines[i] ?? "") && SRT_TIMING.test(lines[i + 1] ?? "")) break;
      textLines.push((lines[i] ?? "").trimEnd());
      i++;
    }
    cues.push({ index, startS, endS, lines: textLines, ...(options.keepTimingLines ? { timingLine } : {}) });
  }
  return cues;
}
