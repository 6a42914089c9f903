/**
 * The speech-engine contract, implemented by PocketSphinx and the ONNX Whisper engine.
 * One Engine instance is one engine slot, created once and reused for many jobs. A slot
 * serves one transcription at a time; with `sharedBatching` the slots are handles on one
 * engine whose concurrent calls are batched together.
 */
import type { TranscriptionTask } from "../../shared/transcription-task";

/** A recognised word. Times are seconds from the start of the media file. */
export type TranscriptWord = {
  text: string;
  startS: number;
  endS: number;
  /** 0..1 */
  confidence: number;
};

/** A run of words the engine considers one utterance. Times in seconds. */
export type TranscriptSegment = {
  startS: number;
  endS: number;
  text: string;
  words: TranscriptWord[];
  /** How Whisper decoded the window this segment came from (absent for other engines). */
  decoding?: SegmentDecoding;
};

/** openai-whisper's per-segment figures: every segment of one decoded window shares them. */
export type SegmentDecoding = {
  /** Mean log-probability per token of the attempt kept. */
  avgLogProb: number;
  /** UTF-8 bytes of the window's text over its zlib-compressed bytes. */
  compressionRatio: number;
  /** p(<|nospeech|>) at the window's first position. */
  noSpeechProb: number;
  /** The temperature of the attempt kept (above 0: the fallback sampled it). */
  temperature: number;
};

export type EngineTranscription = {
  /** ISO 639-1 code of the language transcribed. */
  language: string;
  segments: TranscriptSegment[];
  /**
   * Where word times come from: "recognised" (the recogniser times each word, PocketSphinx),
   * "aligned" (Whisper's cross-attention aligned to the audio) or "proportional" (spread over
   * each segment by word length: a model without alignment heads). Absent: not reported.
   */
  wordTimings?: WordTimings;
};

export type WordTimings = "recognised" | "aligned" | "proportional";

export type EngineInput = {
  /** A local media file in any container ffmpeg reads. */
  mediaPath: string;
  /** Transcribe only this window (seconds); output times stay relative to the file start. */
  startS?: number;
  endS?: number;
  /** ISO 639-1 code, or "auto" where the engine can detect it. */
  language: string;
  /** Default "transcribe"; "translate" gives English text (engines that cannot, fail permanently). */
  task?: TranscriptionTask;
  signal: AbortSignal;
  /**
   * Transcribe exactly these windows (seconds, file time) instead of segmenting the audio
   * itself: how one job's chunks are shared out over several slots (see `planChunks`).
   */
  chunks?: readonly AudioWindow[];
  /**
   * For engines with `sharedBatching`: this transcription's share of the decoder batch
   * while others compete for it (its job's parallel_engines). Default 1.
   */
  weight?: number;
  /** Fraction 0..1 of the input's audio transcribed so far, for engines that can tell. */
  onProgress?: (fraction: number) => void;
  /** Seeds any sampling (Whisper's temperature fallback), so a job's text repeats. Default 0. */
  seed?: number;
  /**
   * Text to condition the decoder on, as the text before the audio (Whisper's
   * `<|startofprev|>` prompt: spellings, names, style). Engines without it ignore it.
   */
  prompt?: string;
};

/**
 * A window of the media file, in seconds. `speech`: the VAD's speech regions inside it (file
 * time), when the engine that planned the window knows them; word times are kept on them.
 */
export type AudioWindow = { startS: number; endS: number; speech?: readonly { startS: number; endS: number }[] };

export type EngineInfo = {
  /** "pocketsphinx", "whisper-onnx", ... */
  name: string;
  /** Model identifier or path, for health output. */
  model: string;
  /** Execution provider: "cpu", "cuda", "subprocess". */
  provider: string;
  /** ISO 639-1 codes the engine can transcribe. */
  languages: readonly string[];
};

export type Engine = {
  readonly info: EngineInfo;
  /**
   * True when concurrent transcribe() calls share one model and one batch (the Whisper
   * engine's continuous batching): a job on k slots then gives its whole file to one call
   * with weight k instead of splitting it, and the slots are admission, not copies.
   */
  readonly sharedBatching?: boolean;
  /**
   * Shortest window (s) worth a slot of its own when a job's file is split across slots
   * (transcribeMedia's default when the caller gives none): an engine whose every window
   * costs a warm-up sets it higher. Default 10.
   */
  readonly minWindowS?: number;
  transcribe(input: EngineInput): Promise<EngineTranscription>;
  /**
   * The windows this engine would transcribe the file in (after its own voice activity
   * detection), for engines that segment audio themselves. A job on k slots plans once and
   * gives each slot a share via `EngineInput.chunks`, so the result equals a one-slot run.
   */
  planChunks?(input: { mediaPath: string; signal: AbortSignal }): Promise<AudioWindow[]>;
  /**
   * The language spoken in one window, for engines that detect it. A job on k slots with
   * language "auto" detects once and gives every slot the answer, so all agree.
   */
  detectLanguage?(input: { mediaPath: string; window: AudioWindow; signal: AbortSignal }): Promise<string>;
  /** Releases the slot's resources; safe to call twice. */
  close(): Promise<void>;
};

/** Creates one engine slot. Throws an Error with a clear message when the engine cannot run here. */
export type EngineFactory = () => Promise<Engine>;
