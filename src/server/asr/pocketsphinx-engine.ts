import { execFile } from "node:child_process";
import { access, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PermanentJobError } from "../errors";
import { resolveFfmpegBinaries } from "../media/ffmpeg-binaries";
import { fileUrl } from "../media/probe-media";
import { findExecutable, lastLine, runProcess } from "../media/run-process";
import type { Engine, EngineFactory, EngineInfo, EngineInput, EngineTranscription, TranscriptSegment, TranscriptWord } from "./engine";

export type PocketSphinxOptions = {
  /** pocketsphinx_continuous, by name (looked up on PATH) or path. */
  binary?: string;
  /** Directory holding `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`. */
  modelDir?: string;
};

const DEFAULT_BINARY = "pocketsphinx_continuous";
const DEFAULT_MODEL_DIR = "/usr/share/pocketsphinx/model/en-us";
const SUPPORTED_LANGUAGES = ["en"] as const;

/** A pause at least this long (s) between two words starts a new segment. */
export const SEGMENT_PAUSE_S = 0.5;
/** Segments are cut before they grow longer than this (s). */
export const SEGMENT_MAX_S = 15;

/**
 * A window after the file's first is decoded from this many seconds before its start (s),
 * and the words from there are dropped. Why: pocketsphinx_continuous normalises features by a
 * running cepstral mean that starts at the model's generic one (feat.params' -cmninit
 * 41.00,-5.29,-0.12,…; the LibriVox recordings settle near 53,7,-8,23,…) and only adapts at
 * the end of an utterance. The command line pays for that once, on the file's first
 * utterance; a decoder started cold at each window paid again on every window's first one
 * (measured on 44 such utterances: WER 0.350 against the command line's 0.283 on the same
 * words; with a 20 s lead-in 0.286, and 6 of the 44 scored differently from the command
 * line's, better or worse, against 22 cold). -cmninit cannot be passed instead: in this
 * version the model's feat.params overrides it. A lead-in that would reach back to the file's
 * start starts at 0, so such a window decodes exactly as the command line does, but for an
 * utterance still open at its run-out's end.
 */
export const WINDOW_LEAD_IN_S = 20;
/**
 * A window is decoded this far past its end (s), and keeps the words that start before its
 * end: where the splitter found no pause and cut in speech, the word across the cut was cut in
 * two (a 65 s file cut every 9 s: WER 0.323 → 0.301), and an utterance across the cut gets
 * its right-hand context, as the command line's does. The next window drops those words.
 */
export const WINDOW_RUN_OUT_S = 2;
/**
 * The shortest window worth a slot of its own (s), so files under twice this run on one
 * slot. Each window pays a lead-in, so a shorter one spends more on warming up than it saves;
 * and however warm, a decoder started anywhere but at 0 never rejoins the command line's
 * exact state (the running mean's sums are rescaled at other frames), so each cut makes some
 * later words differ from the command line's, better or worse by chance (four 65-80 s files
 * cut in 2 to 4 windows with the lead-in: WER -0.06 to +0.04 from the command line's). Files
 * that decode quickly on one slot anyway are left whole: the command line's result, exactly.
 */
export const POCKETSPHINX_MIN_WINDOW_S = 3 * WINDOW_LEAD_IN_S;

/**
 * ms a whole file of unknown length may take to decode and recognise: 12 h of audio at 0.3x
 * real time is 3.6 h. The job's own limit (JOB_TIMEOUT_MS) is what normally ends it first.
 */
const DECODE_TIMEOUT_UNKNOWN_MS = 6 * 3600_000;

/**
 * One pocketsphinx slot per call. Throws at factory time when the binary, the model or
 * ffmpeg is missing, so a misconfigured worker fails at start-up, not on its first job.
 */
export function createPocketSphinxEngineFactory(opts: PocketSphinxOptions = {}): EngineFactory {
  return async () => {
    const binary = await findExecutable(opts.binary ?? DEFAULT_BINARY);
    if (!binary) throw new Error(`${opts.binary ?? DEFAULT_BINARY} not found: apt-get install pocketsphinx pocketsphinx-en-us`);
    const modelDir = opts.modelDir ?? DEFAULT_MODEL_DIR;
    const model = {
      hmm: path.join(modelDir, "en-us"),
      lm: path.join(modelDir, "en-us.lm.bin"),
      dict: path.join(modelDir, "cmudict-en-us.dict"),
    };
    for (const file of Object.values(model)) {
      try {
        await access(file);
      } catch {
        throw new Error(`PocketSphinx model file ${file} not found: apt-get install pocketsphinx-en-us, or pass modelDir`);
      }
    }
    // Fails with its own clear message when there is no ffmpeg at all.
    await resolveFfmpegBinaries();
    staleWorkDirsSwept ??= removeStaleWorkDirs(os.tmpdir());
    await staleWorkDirsSwept;
    return new PocketSphinxEngine(binary, model);
  };
}

/** Work directories (each holds one FIFO) are `pocketsphinx-<pid>-XXXXXX`: the pid says whose. */
const WORK_DIR_PREFIX = `pocketsphinx-${process.pid}-`;
const WORK_DIR_NAME = /^pocketsphinx-(?:(\d+)-)?[A-Za-z0-9]{6}$/;
/** A directory without a pid (written before they carried one) is stale after this long (ms). */
const UNOWNED_WORK_DIR_MAX_AGE_MS = 24 * 3600_000;
let staleWorkDirsSwept: Promise<number> | undefined;

/**
 * Removes the work directories of processes that no longer run (a SIGKILLed server leaves
 * its decoded audio behind, up to gigabytes). Once per process, when the first slot starts.
 * Exported for tests. Returns how many went.
 */
export async function removeStaleWorkDirs(tmpDir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(tmpDir).catch(() => [] as string[])) {
    const match = WORK_DIR_NAME.exec(name);
    if (!match) continue;
    const dir = path.join(tmpDir, name);
    const stale = match[1] !== undefined ? !isRunning(Number(match[1])) : ((await stat(dir).catch(() => null))?.mtimeMs ?? Date.now()) < Date.now() - UNOWNED_WORK_DIR_MAX_AGE_MS;
    if (!stale) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    removed += 1;
  }
  return removed;
}

async function makeFifo(file: string): Promise<void> {
  await promisify(execFile)("mkfifo", ["-m", "600", file]);
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

type ModelPaths = { hmm: string; lm: string; dict: string };

class PocketSphinxEngine implements Engine {
  readonly info: EngineInfo = { name: "pocketsphinx", model: "en-us (cmusphinx)", provider: "cpu", languages: SUPPORTED_LANGUAGES };
  readonly minWindowS = POCKETSPHINX_MIN_WINDOW_S;
  private busy = false;
  private closed = false;
  /** Aborts the transcription in flight when the slot is closed. */
  private readonly lifetime = new AbortController();

  constructor(
    private readonly binary: string,
    private readonly model: ModelPaths,
  ) {}

  async transcribe(input: EngineInput): Promise<EngineTranscription> {
    if (this.closed) throw new Error("This pocketsphinx engine slot is closed");
    if (this.busy) throw new Error("This pocketsphinx engine slot is already transcribing (one transcription per slot)");
    if (input.task === "translate") {
      throw new PermanentJobError("The pocketsphinx engine cannot translate; translation needs the whisper-onnx engine (ASR_ENGINE=whisper-onnx with a model)");
    }
    const language = resolveLanguage(input.language);
    input.signal.throwIfAborted();
    this.busy = true;
    const signal = AbortSignal.any([input.signal, this.lifetime.signal]);
    try {
      const span = decodeSpan(input.startS, input.endS);
      const tokens = await this.decodeAndRecognise(input.mediaPath, span, signal);
      return { language, segments: groupIntoSegments(keepWindow(tokens, span), span.fromS), wordTimings: "recognised" };
    } finally {
      this.busy = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lifetime.abort(new Error("The pocketsphinx engine slot was closed"));
  }

  /**
   * ffmpeg decodes the (windowed) first audio stream to raw 16 kHz mono s16le into a FIFO
   * that pocketsphinx_continuous reads as it goes: nothing is written to disk, so a long
   * file costs no temp space (12 h of audio would be 1.4 GB of PCM) and a full disk cannot
   * fail it. (A FIFO, not a pipe from Node: pocketsphinx opens its input by name, and Node's
   * stdio pipes are sockets that /dev/stdin cannot open.) Raw PCM, not WAV: pocketsphinx skips
   * exactly 44 header bytes and would read any extra header chunk as samples. Either process
   * failing stops the other (each would otherwise wait forever to open the FIFO).
   */
  private async decodeAndRecognise(mediaPath: string, span: DecodeSpan, signal: AbortSignal): Promise<RecognisedToken[]> {
    const { ffmpeg } = await resolveFfmpegBinaries();
    const window: string[] = [];
    const lengthS = span.toS === null ? null : Math.max(0, span.toS - span.fromS);
    if (span.fromS > 0) window.push("-ss", span.fromS.toFixed(3));
    if (lengthS !== null) window.push("-t", lengthS.toFixed(3));
    // Recognition runs at ~0.3x real time on one core; leave ample headroom for a loaded machine.
    const timeoutMs = lengthS === null ? DECODE_TIMEOUT_UNKNOWN_MS : 120_000 + lengthS * 3000;
    const workDir = await mkdtemp(path.join(os.tmpdir(), WORK_DIR_PREFIX));
    try {
      const fifo = path.join(workDir, "audio.s16le");
      await makeFifo(fifo);
      return await this.streamThrough(fifo, ffmpeg, window, mediaPath, timeoutMs, signal);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  private async streamThrough(fifo: string, ffmpeg: string, window: string[], mediaPath: string, timeoutMs: number, signal: AbortSignal): Promise<RecognisedToken[]> {
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    const tokens: RecognisedToken[] = [];

    const decoding = runProcess(
      ffmpeg,
      [
        "-nostdin", "-hide_banner", "-nostats", "-v", "error",
        // Input options: fast seek, then exactly the window's length.
        ...window,
        "-i", fileUrl(mediaPath),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", "-f", "s16le",
        "-y", fifo,
      ],
      { timeoutMs, signal: both },
    ).then(
      (result) => {
        if (result.exitCode !== 0) {
          const detail = lastLine(result.stderrTail);
          stop.abort(new PermanentJobError(`The audio could not be decoded${detail ? ` (${detail})` : ""}`));
        }
        return result;
      },
      (error: unknown) => {
        stop.abort(error);
        throw error;
      },
    );
    const recognising = runProcess(
      this.binary,
      ["-infile", fifo, "-time", "yes", "-hmm", this.model.hmm, "-lm", this.model.lm, "-dict", this.model.dict, "-samprate", "16000", "-input_endian", "little"],
      {
        timeoutMs,
        signal: both,
        onStdoutLine: (line) => {
          const token = parseTokenLine(line);
          if (token) tokens.push(token);
        },
      },
    ).then(
      (result) => {
        if (result.exitCode !== 0) stop.abort(new Error(`pocketsphinx_continuous failed (exit ${result.exitCode ?? result.exitSignal}): ${lastLine(result.stderrTail)}`));
        return result;
      },
      (error: unknown) => {
        stop.abort(error);
        throw error;
      },
    );
    const [decoded, recognised] = await Promise.allSettled([decoding, recognising]);
    // The first failure is the reason (the other process was only stopped because of it);
    // the caller's abort comes through as the processes' rejection.
    if (stop.signal.aborted) throw stop.signal.reason;
    if (decoded.status === "rejected") throw decoded.reason;
    if (recognised.status === "rejected") throw recognised.reason;
    // An empty or very short window is no error: pocketsphinx reads it and finds no words.
    return tokens;
  }
}

/**
 * What a window's decode covers (file time, s; toS null: to the end of the audio) and which
 * of its words are kept: those starting in [keepFromS, keepToS).
 */
export type DecodeSpan = { fromS: number; toS: number | null; keepFromS: number; keepToS: number };

/** The decode span of the window [startS, endS) (undefined: the file's start, its end): see WINDOW_LEAD_IN_S and WINDOW_RUN_OUT_S. */
export function decodeSpan(startS: number | undefined, endS: number | undefined): DecodeSpan {
  const keepFromS = Math.max(0, startS ?? 0);
  return {
    fromS: Math.max(0, keepFromS - WINDOW_LEAD_IN_S),
    toS: endS === undefined ? null : endS + WINDOW_RUN_OUT_S,
    keepFromS,
    keepToS: endS ?? Infinity,
  };
}

/** Tolerance (s) for token times, which pocketsphinx prints in whole 10 ms frames. */
const TIME_EPSILON_S = 1e-6;

/** The tokens (times relative to span.fromS) that start inside the window; utterance markers in it stay, as boundaries. */
export function keepWindow(tokens: readonly RecognisedToken[], span: DecodeSpan): RecognisedToken[] {
  return tokens.filter((token) => {
    const startS = span.fromS + token.startS;
    return startS >= span.keepFromS - TIME_EPSILON_S && startS < span.keepToS - TIME_EPSILON_S;
  });
}

/** "en", "en-US", "EN_gb", "auto" → "en"; anything else is a permanent failure. */
export function resolveLanguage(requested: string): string {
  const trimmed = requested.trim();
  if (trimmed.toLowerCase() === "auto") return "en";
  const code = /^([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]{1,8})*$/.exec(trimmed)?.[1]?.toLowerCase();
  if (code && (SUPPORTED_LANGUAGES as readonly string[]).includes(code)) return code;
  throw new PermanentJobError(
    `Language '${requested}' is not supported by the pocketsphinx engine (supported: ${SUPPORTED_LANGUAGES.join(", ")})`,
  );
}

/** One line of `-time yes` output: a word or filler with its times (s) and posterior. */
export type RecognisedToken = { token: string; startS: number; endS: number; confidence: number };

const TOKEN_LINE = /^(\S+) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/i;

/** Parses a `word start end confidence` line; the hypothesis lines in between give null. */
export function parseTokenLine(line: string): RecognisedToken | null {
  const match = TOKEN_LINE.exec(line.trim());
  if (!match?.[1] || !match[2] || !match[3] || !match[4]) return null;
  const startS = Number(match[2]);
  const endS = Number(match[3]);
  const confidence = Number(match[4]);
  if (![startS, endS, confidence].every(Number.isFinite)) return null;
  return { token: match[1], startS, endS: Math.max(startS, endS), confidence: Math.min(1, Math.max(0, confidence)) };
}

/** `<s>`, `</s>`, `<sil>`, `[NOISE]`, `++BREATH++`: not words. */
function isFiller(token: string): boolean {
  return /^<.*>$/.test(token) || /^\[.*\]$/.test(token) || /^\+\+.*\+\+$/.test(token);
}

/** "and(2)" (an alternate pronunciation) → "and". */
function wordText(token: string): string {
  return token.replace(/\(\d+\)$/, "");
}

/**
 * Groups recognised tokens into segments: a new segment at each utterance boundary
 * (`<s>`/`</s>`), after a pause of SEGMENT_PAUSE_S or more (a `<sil>` filler is part of the
 * pause), and before a segment would exceed SEGMENT_MAX_S. Times are shifted by `offsetS`
 * and rounded to ms.
 */
export function groupIntoSegments(tokens: readonly RecognisedToken[], offsetS: number): TranscriptSegment[] {
  const segments: TranscriptSegment[] = [];
  let current: TranscriptWord[] = [];
  const flush = (): void => {
    const first = current[0];
    const last = current[current.length - 1];
    if (first && last) {
      segments.push({ startS: first.startS, endS: last.endS, text: current.map((word) => word.text).join(" "), words: current });
    }
    current = [];
  };
  const ms = (seconds: number): number => Math.round((seconds + offsetS) * 1000) / 1000;

  for (const token of tokens) {
    if (token.token === "<s>" || token.token === "</s>") {
      flush();
      continue;
    }
    if (isFiller(token.token)) continue;
    const text = wordText(token.token);
    if (!text) continue;
    const word: TranscriptWord = { text, startS: ms(token.startS), endS: ms(token.endS), confidence: token.confidence };
    const first = current[0];
    const previous = current[current.length - 1];
    if (first && previous && (word.startS - previous.endS >= SEGMENT_PAUSE_S || word.endS - first.startS > SEGMENT_MAX_S)) flush();
    current.push(word);
  }
  flush();
  return segments;
}
