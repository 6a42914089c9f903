import { PermanentJobError } from "../errors";
import { findSplitPoints } from "../media/find-split-points";
import { probeMedia, type MediaInfo } from "../media/probe-media";
import type { TranscriptionTask } from "../../shared/transcription-task";
import type { AudioWindow, Engine, EngineInfo, EngineTranscription, TranscriptSegment } from "./engine";

export type TranscribeMediaInput = {
  mediaPath: string;
  /** ISO 639-1 code (or a variant such as "en-US"), or "auto". */
  language: string;
  /** Default "transcribe". */
  task?: TranscriptionTask;
  /** The slots leased for this job, length k >= 1; with k > 1 the file is split across them. */
  engines: Engine[];
  signal: AbortSignal;
  /** Fraction 0..1 of the audio transcribed so far, reported as windows complete. */
  onProgress?: (fraction: number) => void;
  /** The probe result, when the caller already has it. */
  media?: MediaInfo;
  /** Seeds the engine's sampling (Whisper's temperature fallback): the job's, so its text repeats. */
  seed?: number;
  /** Text the decoder is conditioned on (EngineInput.prompt). */
  prompt?: string;
  /**
   * Shortest window (s) worth giving its own engine: a file is split into at most
   * floor(duration / minWindowS) windows. Default: the engine's own `minWindowS`, else 10, so
   * splitting starts at 20 s.
   */
  minWindowS?: number;
};

export type TranscribeMediaOutput = {
  media: MediaInfo;
  transcription: EngineTranscription;
  /** The engine that did the work (the first slot's, when several ran). */
  engine: EngineInfo;
};

export const NO_SPEECH_MESSAGE = "No speech was detected in the audio (it is silent or contains no recognisable speech)";
const DEFAULT_MIN_WINDOW_S = 10;

/** A window of the file, in seconds. */
type Window = AudioWindow;

/**
 * The transcription pipeline shared by the embedded worker and remote workers:
 * probe → split across the leased slots → transcribe windows concurrently → stitch
 * (engines with sharedBatching: probe → one call whose weight is the number of slots).
 * Throws PermanentJobError for media that can never yield a transcript.
 */
export async function transcribeMedia(input: TranscribeMediaInput): Promise<TranscribeMediaOutput> {
  const { engines, signal } = input;
  const first = engines[0];
  if (!first) throw new Error("transcribeMedia needs at least one engine slot");
  signal.throwIfAborted();

  const media = input.media ?? (await probeMedia(input.mediaPath, signal));
  if (!media.hasAudio) throw new PermanentJobError("The media has no audio stream");
  if (!(media.durationS > 0)) throw new PermanentJobError("The media contains no audio samples (its duration is 0 s)");

  const report = progressReporter(input.onProgress, media.durationS);
  // An engine that batches its slots' calls together (Whisper) gets the whole file once:
  // the job's slots become its weight in the shared batch, and the file is decoded, VAD'd
  // and planned once instead of once per slot.
  const shares = first.sharedBatching ? null : await planShares(input, media.durationS);
  let transcriptions: EngineTranscription[];
  if (first.sharedBatching) {
    const transcription = await first.transcribe({
      mediaPath: input.mediaPath,
      language: input.language,
      task: input.task ?? "transcribe",
      signal,
      weight: engines.length,
      ...(input.seed !== undefined ? { seed: input.seed } : {}),
      ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
      onProgress: (fraction) => report(fraction * media.durationS),
    });
    transcriptions = [transcription];
    report(media.durationS);
  } else if (!shares) {
    transcriptions = [await first.transcribe({ mediaPath: input.mediaPath, language: input.language, task: input.task ?? "transcribe", signal })];
    report(media.durationS);
  } else {
    const language = await sharedLanguage(input, shares);
    transcriptions = await runConcurrently(shares, engines, { ...input, language }, report);
  }

  const segments = stitch(transcriptions.map((transcription) => transcription.segments));
  if (!segments.some((segment) => segment.words.length > 0 || segment.text.trim().length > 0)) {
    throw new PermanentJobError(NO_SPEECH_MESSAGE);
  }
  return {
    media,
    transcription: { language: transcriptions[0]?.language ?? input.language, segments, ...(transcriptions[0]?.wordTimings ? { wordTimings: transcriptions[0].wordTimings } : {}) },
    engine: first.info,
  };
}

/** One slot's part of a job: a time window, or a list of planned chunks, and its audio seconds. */
type Share = { window?: Window; chunks?: Window[]; durationS: number };

/**
 * How a job's audio is shared out over its slots; null when one slot does it all.
 * Engines that plan their own chunks (Whisper: VAD, 30 s windows) plan once and each slot
 * gets a contiguous run of chunks, so k slots produce exactly what one would. Others get
 * windows cut in silences near equal divisions of the file.
 */
async function planShares(input: TranscribeMediaInput, durationS: number): Promise<Share[] | null> {
  const { engines, signal } = input;
  const first = engines[0]!;
  if (engines.length < 2) return null;
  if (first.planChunks) {
    const chunks = await first.planChunks({ mediaPath: input.mediaPath, signal });
    if (chunks.length < 2) return null;
    return groupChunks(chunks, engines.length).map((group) => ({ chunks: group, durationS: group.reduce((sum, chunk) => sum + chunk.endS - chunk.startS, 0) }));
  }
  const minWindowS = input.minWindowS ?? first.minWindowS ?? DEFAULT_MIN_WINDOW_S;
  const parts = Math.min(engines.length, Math.max(1, Math.floor(durationS / minWindowS)));
  if (parts < 2) return null;
  const windows = toWindows(await findSplitPoints(input.mediaPath, durationS, parts, signal), durationS);
  return windows.map((window) => ({ window, durationS: window.endS - window.startS }));
}

/**
 * With language "auto" on several slots, each would detect on its own share and they could
 * disagree; an engine that can detect does it once, on the first chunk, for all of them.
 */
async function sharedLanguage(input: TranscribeMediaInput, shares: readonly Share[]): Promise<string> {
  const first = input.engines[0]!;
  const window = shares[0]?.chunks?.[0] ?? shares[0]?.window;
  if (input.language.toLowerCase() !== "auto" || !first.detectLanguage || !window) return input.language;
  return first.detectLanguage({ mediaPath: input.mediaPath, window, signal: input.signal });
}

/** Splits chunks into at most `groups` contiguous runs of roughly equal audio duration. */
export function groupChunks(chunks: readonly Window[], groups: number): Window[][] {
  const total = chunks.reduce((sum, chunk) => sum + chunk.endS - chunk.startS, 0);
  const result: Window[][] = [];
  let current: Window[] = [];
  let done = 0;
  for (const [index, chunk] of chunks.entries()) {
    current.push(chunk);
    done += chunk.endS - chunk.startS;
    const remainingChunks = chunks.length - index - 1;
    const remainingGroups = groups - result.length - 1;
    // Close the group at its share of the total, keeping one chunk for every later group.
    if (remainingGroups > 0 && (done >= (total * (result.length + 1)) / groups || remainingChunks === remainingGroups)) {
      result.push(current);
      current = [];
    }
  }
  if (current.length) result.push(current);
  return result;
}

function toWindows(cuts: readonly number[], durationS: number): Window[] {
  const edges = [0, ...cuts, durationS];
  const windows: Window[] = [];
  for (let i = 0; i + 1 < edges.length; i++) windows.push({ startS: edges[i] ?? 0, endS: edges[i + 1] ?? durationS });
  return windows;
}

/**
 * Runs share i on engine i. If one fails the others are aborted, but the function only
 * returns once every engine has stopped: the caller releases the slots right after, and a
 * slot must never be handed out while it is still working.
 */
async function runConcurrently(
  shares: readonly Share[],
  engines: readonly Engine[],
  input: TranscribeMediaInput,
  report: (doneS: number) => void,
): Promise<EngineTranscription[]> {
  const controller = new AbortController();
  const signal = AbortSignal.any([input.signal, controller.signal]);
  let doneS = 0;
  const settled = await Promise.allSettled(
    shares.map(async (share, i) => {
      const engine = engines[i];
      if (!engine) throw new Error(`No engine slot for share ${i}`);
      try {
        // The last window runs to the real end of the audio, which can outlast the probed duration.
        const isLast = i === shares.length - 1;
        const where = share.chunks
          ? { chunks: share.chunks }
          : { startS: share.window!.startS, ...(isLast ? {} : { endS: share.window!.endS }) };
        const result = await engine.transcribe({
          mediaPath: input.mediaPath,
          language: input.language,
          task: input.task ?? "transcribe",
          signal,
          ...where,
          ...(input.seed !== undefined ? { seed: input.seed } : {}),
          ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
        });
        doneS += share.durationS;
        report(doneS);
        return result;
      } catch (error) {
        controller.abort(error);
        throw error;
      }
    }),
  );
  // The first real failure, not the aborts it caused in the other shares.
  const failure = settled.find((result): result is PromiseRejectedResult => result.status === "rejected" && result.reason === controller.signal.reason);
  if (input.signal.aborted) throw input.signal.reason;
  if (failure) throw failure.reason;
  return settled.map((result) => {
    if (result.status === "rejected") throw result.reason;
    return result.value;
  });
}

/** Merges per-window segments into one time-ordered list. */
function stitch(parts: readonly TranscriptSegment[][]): TranscriptSegment[] {
  return parts.flat().sort((a, b) => a.startS - b.startS || a.endS - b.endS);
}

/** Turns "seconds done" into monotonic fractions; a throwing callback cannot break the job. */
function progressReporter(onProgress: ((fraction: number) => void) | undefined, totalS: number): (doneS: number) => void {
  let last = 0;
  return (doneS) => {
    if (!onProgress) return;
    const fraction = Math.min(1, Math.max(last, doneS / totalS));
    last = fraction;
    try {
      onProgress(fraction);
    } catch {
      // Progress is advisory.
    }
  };
}
