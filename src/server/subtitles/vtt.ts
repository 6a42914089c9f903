import { formatTimestamp, parseTimingLine, splitLines, subtitleErrorFactory, type Cue } from "./cues";

/**
 * Renders cues as WebVTT. The cue index is written as the cue identifier so parseVtt gives
 * it back; `&`, `<` and `>` are escaped, as cue text requires (which also keeps "-->" out).
 */
export function renderVtt(cues: readonly Cue[]): string {
  const blocks = cues.map((cue) => {
    const lines = cue.lines.filter((line) => line.trim().length > 0).map(escapeCueText);
    return [String(cue.index), `${formatTimestamp(cue.startS, ".")} --> ${formatTimestamp(cue.endS, ".")}`, ...lines].join("\n");
  });
  return `WEBVTT\n\n${blocks.map((block) => `${block}\n\n`).join("")}`;
}

const VTT_TIME = String.raw`(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})`;
/** Cue settings ("align:start line:0") may follow the end time. */
const VTT_TIMING = new RegExp(String.raw`^\s*${VTT_TIME}[ \t]+-->[ \t]+${VTT_TIME}(?:[ \t].*)?$`);

/**
 * Parses WebVTT. Skips the header, NOTE, STYLE and REGION blocks; strips cue tags
 * (`<v Speaker>`, `<i>`, inline timestamps) and decodes entities. A numeric cue identifier
 * becomes the index, otherwise cues are numbered in order. Tolerates a BOM and CRLF/CR.
 * Throws AppError BAD_REQUEST naming the line of anything malformed.
 */
export function parseVtt(text: string): Cue[] {
  const lines = splitLines(text);
  const invalid = subtitleErrorFactory("WebVTT", lines);
  if (!/^WEBVTT(?:[ \t].*)?$/.test(lines[0] ?? "")) throw invalid(0, 'the "WEBVTT" header');

  let i = 1;
  // The header runs to the first blank line.
  while (i < lines.length && (lines[i] ?? "").trim() !== "") i++;

  const cues: Cue[] = [];
  const skipBlock = (): void => {
    while (i < lines.length && (lines[i] ?? "").trim() !== "") i++;
  };
  while (i < lines.length) {
    const line = lines[i] ?? "";
    if (line.trim() === "") {
      i++;
      continue;
    }
    if (/^(NOTE|STYLE|REGION)(?:[ \t]|$)/.test(line)) {
      skipBlock();
      continue;
    }
    let identifier: string | null = null;
    if (!line.includes("-->")) {
      identifier = line.trim();
      i++;
    }
    const { startS, endS } = parseTimingLine(VTT_TIMING, lines, i, "00:00:01.000 --> 00:00:04.000", invalid);
    i++;

    const payload: string[] = [];
    while (i < lines.length && (lines[i] ?? "").trim() !== "") {
      payload.push(decodeCueText(lines[i] ?? "").trimEnd());
      i++;
    }
    const index = identifier !== null && /^\d+$/.test(identifier) ? Number(identifier) : cues.length + 1;
    cues.push({ index, startS, endS, lines: payload });
  }
  return cues;
}

function escapeCueText(line: string): string {
  return line.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", nbsp: "\u00a0", lrm: "\u200e", rlm: "\u200f", quot: '"', apos: "'" };

/** Tags are removed first, then entities decoded in one pass (so "&amp;lt;" stays "&lt;"). */
function decodeCueText(line: string): string {
  return line.replace(/<[^>]*>/g, "").replace(/&(?:([a-z]+)|#(\d+)|#x([0-9a-f]+));/gi, (match, name?: string, decimal?: string, hex?: string) => {
    if (name) return ENTITIES[name] ?? match;
    const code = decimal ? Number(decimal) : Number.parseInt(hex ?? "", 16);
    return Number.isInteger(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
  });
}
