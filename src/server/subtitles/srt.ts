import { AppError } from "../errors";
import { formatTimestamp, splitLines, timestampSeconds, type Cue } from "./cues";

/** Renders cues as SubRip (SRT): `00:00:01,234 --> 00:00:02,000`, blocks separated by a blank line. */
export function renderSrt(cues: readonly Cue[]): string {
  return cues
    .map((cue) => {
      // A blank line ends an SRT block, so blank text lines cannot be written.
      const lines = cue.lines.filter((line) => line.trim().length > 0);
      return [String(cue.index), `${formatTimestamp(cue.startS, ",")} --> ${formatTimestamp(cue.endS, ",")}`, ...lines].join("\n");
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
 * AppError BAD_REQUEST naming the line of anything else.
 */
export function parseSrt(text: string): Cue[] {
  const lines = splitLines(text);
  const cues: Cue[] = [];
  let i = 0;
  const invalid = (lineIndex: number, expected: string): AppError => {
    const found = (lines[lineIndex] ?? "").trim().slice(0, 80);
    return new AppError("BAD_REQUEST", `Invalid SRT at line ${lineIndex + 1}: expected ${expected}, found "${found}"`);
  };

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
    const timing = SRT_TIMING.exec(lines[i] ?? "");
    if (!timing) throw invalid(i, 'a timing line such as "00:00:01,000 --> 00:00:04,000"');
    const [, h1, m1, s1, f1, h2, m2, s2, f2] = timing;
    const startS = timestampSeconds(h1, m1 ?? "", s1 ?? "", f1 ?? "");
    const endS = timestampSeconds(h2, m2 ?? "", s2 ?? "", f2 ?? "");
    if (startS === null || endS === null) throw invalid(i, "minutes and seconds below 60");
    if (endS < startS) throw invalid(i, "an end time after the start time");
    i++;

    const textLines: string[] = [];
    while (i < lines.length && (lines[i] ?? "").trim() !== "") {
      // Tolerate a missing blank line: a number followed by a timing line starts a new cue.
      if (CUE_NUMBER.test(lines[i] ?? "") && SRT_TIMING.test(lines[i + 1] ?? "")) break;
      textLines.push((lines[i] ?? "").trimEnd());
      i++;
    }
    cues.push({ index, startS, endS, lines: textLines });
  }
  return cues;
}
