import { z } from "zod";
import { formatTimestamp, type Cue } from "../subtitles/cues";

/** One chat completion request: the caller adds the limiter, retries, timeout and abort. */
export type CompletionRequest = {
  model: string;
  messages: { role: "system" | "user"; content: string }[];
  /** The JSON schema the reply must follow (response_format json_schema, strict). */
  schema: { name: string; schema: Record<string, unknown> };
};
/** Who a request is for, so every operator log line about it names its job. */
export type CompletionContext = { jobId?: string };
export type Complete = (request: CompletionRequest, signal: AbortSignal, context?: CompletionContext) => Promise<string>;

export type FixSrtOptions = {
  model: string;
  /** Appended to the built-in instructions (seeds/002's sys_msg). */
  systemMessage?: string;
  complete: Complete;
  signal: AbortSignal;
  /** Cues corrected per request. */
  windowSize?: number;
  /** Cues shown before and after a window, for context only. */
  contextCues?: number;
  /** Replies tried per window before it keeps its original text. */
  maxReplies?: number;
  /** A corrected cue must be at least this similar to the original (0..1, edit-distance based). */
  minSimilarity?: number;
  log?: (level: "info" | "warn", message: string) => void;
  /** Fraction 0..1 of the windows settled (corrected or kept), for job progress. */
  onProgress?: (fraction: number) => void;
};

export type CueChange = { index: number; before: string; after: string };
export type FixSrtResult = { cues: Cue[]; changes: CueChange[]; warnings: string[]; requests: number };

export const DEFAULT_SYSTEM_PROMPT = [
  "You correct subtitles produced by automatic speech recognition.",
  "Fix spelling, punctuation, casing and evident mis-recognitions; keep the wording otherwise.",
  "Return every cue of `cues` exactly once, in order, with its index, start and end unchanged.",
  "Do not merge, split, add or drop cues. Use \\n inside text for a line break.",
  "Context cues are for understanding only: do not return them.",
].join(" ");

const replySchema = z.object({
  cues: z.array(z.object({ index: z.number().int(), start: z.string(), end: z.string(), text: z.string() })),
});

const REPLY_JSON_SCHEMA = {
  name: "srt_corrections",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["cues"],
    properties: {
      cues: {
        type: "array",
        items: {
          type: "object",
          additionalProperties: false,
          required: ["index", "start", "end", "text"],
          properties: { index: { type: "integer" }, start: { type: "string" }, end: { type: "string" }, text: { type: "string" } },
        },
      },
    },
  },
};

const cueText = (cue: Cue) => cue.lines.join("\n");
const timing = (cue: Cue) => ({ start: formatTimestamp(cue.startS, ","), end: formatTimestamp(cue.endS, ",") });

/**
 * Corrects subtitle text with an LLM, window by window (windows run concurrently; the
 * caller's `complete` goes through the process-wide limiter). Every reply is checked: the
 * same cues in the same order, timings unchanged, each text within `minSimilarity` of the
 * original. A reply that fails is retried; a window whose replies keep failing keeps its
 * original text and adds a warning. Timings are never taken from the model.
 */
export async function fixSrtCues(cues: readonly Cue[], options: FixSrtOptions): Promise<FixSrtResult> {
  const windowSize = options.windowSize ?? 20;
  const windows: Cue[][] = [];
  for (let start = 0; start < cues.length; start += windowSize) windows.push(cues.slice(start, start + windowSize));
  let requests = 0;
  let settled = 0;
  const windowDone = () => options.onProgress?.(++settled / windows.length);
  const warnings: string[] = [];
  const corrected = await Promise.all(
    windows.map(async (window, w) => {
      const first = w * windowSize;
      const context = options.contextCues ?? 3;
      const before = cues.slice(Math.max(0, first - context), first);
      const after = cues.slice(first + window.length, first + window.length + context);
      const request = buildRequest(options, window, before, after);
      const maxReplies = options.maxReplies ?? 3;
      const problems: string[] = [];
      for (let reply = 1; reply <= maxReplies; reply++) {
        options.signal.throwIfAborted();
        requests++;
        const content = await options.complete(request, options.signal);
        const problem = validateReply(content, window, options.minSimilarity ?? 0.5);
        if (typeof problem !== "string") {
          windowDone();
          return problem;
        }
        problems.push(problem);
        options.log?.("warn", `LLM reply ${reply}/${maxReplies} for cues ${window[0]!.index}–${window.at(-1)!.index} rejected: ${problem}`);
      }
      const warning = `Cues ${window[0]!.index}–${window.at(-1)!.index} keep their original text: ${maxReplies} LLM replies were rejected (last: ${problems.at(-1)})`;
      warnings.push(warning);
      options.log?.("warn", warning);
      windowDone();
      return window.map(cueText);
    }),
  );
  const texts = corrected.flat();
  const changes: CueChange[] = [];
  const out = cues.map((cue, i) => {
    const after = texts[i]!;
    const before = cueText(cue);
    if (after === before) return cue;
    changes.push({ index: cue.index, before, after });
    return { ...cue, lines: after.split("\n") };
  });
  return { cues: out, changes, warnings, requests };
}

function buildRequest(options: FixSrtOptions, window: readonly Cue[], before: readonly Cue[], after: readonly Cue[]): CompletionRequest {
  const system = options.systemMessage ? `${DEFAULT_SYSTEM_PROMPT}\n\n${options.systemMessage}` : DEFAULT_SYSTEM_PROMPT;
  const user = {
    context_before: before.map((cue) => ({ index: cue.index, text: cueText(cue) })),
    cues: window.map((cue) => ({ index: cue.index, ...timing(cue), text: cueText(cue) })),
    context_after: after.map((cue) => ({ index: cue.index, text: cueText(cue) })),
  };
  return { model: options.model, messages: [{ role: "system", content: system }, { role: "user", content: JSON.stringify(user) }], schema: REPLY_JSON_SCHEMA };
}

/** The corrected texts of the window, or why the reply cannot be used. */
function validateReply(content: string, window: readonly Cue[], minSimilarity: number): string[] | string {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    return "the reply is not JSON";
  }
  const parsed = replySchema.safeParse(json);
  if (!parsed.success) return `the reply does not follow the schema (${parsed.error.issues[0]?.message ?? "invalid"})`;
  const reply = parsed.data.cues;
  if (reply.length !== window.length) return `it has ${reply.length} cues instead of ${window.length}`;
  const texts: string[] = [];
  for (const [i, cue] of window.entries()) {
    const got = reply[i]!;
    if (got.index !== cue.index) return `cue ${i + 1} has index ${got.index} instead of ${cue.index}`;
    const { start, end } = timing(cue);
    if (got.start !== start || got.end !== end) return `cue ${cue.index} changed its timing to ${got.start} --> ${got.end}`;
    const text = got.text.replace(/\r\n?/g, "\n").trim();
    if (!text && cueText(cue).trim()) return `cue ${cue.index} lost its text`;
    const similarity = textSimilarity(cueText(cue), text);
    if (similarity < minSimilarity) return `cue ${cue.index} was rewritten (similarity ${similarity.toFixed(2)} < ${minSimilarity})`;
    // A blank line would end the SRT block: collapse them.
    texts.push(text.replace(/\n\s*\n+/g, "\n"));
  }
  return texts;
}

/** 1 − (Levenshtein distance / longer length), case-insensitive. */
export function textSimilarity(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return 1;
  const longer = Math.max(x.length, y.length);
  if (longer === 0) return 1;
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return 1 - previous[y.length]! / longer;
}
