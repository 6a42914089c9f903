import type { SegmentDecoding, TranscriptSegment, WordTimings } from "../asr/engine";
import { buildCues, roundMs, segmentWords, type Cue, type CueRules } from "../subtitles/cues";
import { renderSrt } from "../subtitles/srt";
import { renderVtt } from "../subtitles/vtt";

/** Every download format; the APIs validate against this one list. */
export const TRANSCRIPT_FORMATS = ["txt", "srt", "vtt", "json", "json-v2"] as const;

export type TranscriptFormat = (typeof TRANSCRIPT_FORMATS)[number];

/** File name extension of each format when clients save it (the CLI, dashboard downloads). */
export const TRANSCRIPT_FILE_EXTENSION: Record<TranscriptFormat, string> = { txt: "txt", srt: "srt", vtt: "vtt", json: "json", "json-v2": "v2.json" };

/** A finished transcript and the job facts its renderings mention. */
export type TranscriptDocument = {
  jobId: string;
  /** ISO 639-1 code of the transcribed language. */
  language: string;
  /** Engine name ("pocketsphinx", ...). */
  engine: string;
  /** Media duration in seconds. */
  durationS: number;
  /** Where the words' times come from (engine.ts WordTimings); absent for older transcripts. */
  wordTimings?: WordTimings;
  /** When the job was created. */
  createdAt: Date;
  segments: TranscriptSegment[];
  /**
   * The user's edited subtitles (JobService.saveSubtitles), if any. They replace the cues
   * built from `segments` in the srt, vtt and txt renderings; json and json-v2 stay the
   * recogniser's word-timed output, since an edit carries no word timings or confidences.
   */
  editedCues?: Cue[];
  /** The job's subtitle layout (its `subtitles` param) for the srt and vtt renderings. */
  cueRules?: CueRules;
};

/** Extra facts for the json-v2 (Speechmatics) rendering and the subtitle layout. */
export type RenderMeta = {
  /** The uploaded file's name (json-v2 `job.data_name`). */
  dataName?: string;
  /** The language the job asked for (json-v2 `transcription_config.language`); default the document's. */
  language?: string;
  /** Further transcription_config fields the job was submitted with (json-v2 `metadata.transcription_config`). */
  transcriptionConfig?: Record<string, unknown>;
  /** When the transcript was produced (json-v2 `metadata.created_at`); default `createdAt`. */
  transcriptCreatedAt?: Date;
  /** Subtitle layout for srt/vtt; overrides the document's, field by field. */
  cueRules?: CueRules;
};

export type RenderedTranscript = { body: string; contentType: string };

/** Renders a transcript in one of the download formats. */
export function renderTranscript(doc: TranscriptDocument, format: TranscriptFormat, meta: RenderMeta = {}): RenderedTranscript {
  switch (format) {
    case "txt":
      return { body: renderLines(transcriptLines(doc)), contentType: "text/plain; charset=utf-8" };
    case "srt":
      return { body: renderSrt(doc.editedCues ?? buildCues(doc.segments, { ...doc.cueRules, ...meta.cueRules })), contentType: "application/x-subrip; charset=utf-8" };
    case "vtt":
      return { body: renderVtt(doc.editedCues ?? buildCues(doc.segments, { ...doc.cueRules, ...meta.cueRules })), contentType: "text/vtt; charset=utf-8" };
    case "json":
      return { body: JSON.stringify(toJson(doc), null, 2), contentType: "application/json; charset=utf-8" };
    case "json-v2":
      return { body: JSON.stringify(toJsonV2(doc, meta), null, 2), contentType: "application/json; charset=utf-8" };
    default: {
      const unknown: never = format;
      throw new Error(`Unknown transcript format ${String(unknown)}`);
    }
  }
}

/**
 * The transcript's text, one entry per segment, or per edited cue (its wrapped lines joined
 * again: the wrapping is subtitle layout, not a break in the text). Empty entries are dropped.
 */
export function transcriptLines(doc: TranscriptDocument): string[] {
  const lines = doc.editedCues
    ? doc.editedCues.map((cue) => cue.lines.map((line) => line.trim()).filter(Boolean).join(" "))
    : doc.segments.map((segment) => segment.text.trim());
  return lines.filter((text) => text.length > 0);
}

function renderLines(lines: readonly string[]): string {
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** Confidence to 3 decimals: more digits are noise and bloat the body. */
function roundConfidence(value: number): number {
  return Math.round(Math.min(1, Math.max(0, value)) * 1000) / 1000;
}

/** The platform's own JSON: seconds throughout. */
export type TranscriptJson = {
  job_id: string;
  language: string;
  engine: string;
  /** s */
  duration: number;
  /** recognised | aligned (Whisper's cross-attention) | proportional (spread by length); absent: not recorded. */
  word_timings?: WordTimings;
  segments: ({ start: number; end: number; text: string; words: { word: string; start: number; end: number; confidence: number }[] } & Partial<JsonDecoding>)[];
};

/** Whisper's per-window decoding figures, as openai-whisper names them. */
type JsonDecoding = { avg_logprob: number; compression_ratio: number; no_speech_prob: number; temperature: number };

function jsonDecoding(decoding: SegmentDecoding): JsonDecoding {
  return { avg_logprob: roundTo4(decoding.avgLogProb), compression_ratio: roundTo4(decoding.compressionRatio), no_speech_prob: roundTo4(decoding.noSpeechProb), temperature: decoding.temperature };
}

/** Log-probabilities and ratios to 4 decimals (json, and OpenAI's verbose_json). */
export function roundTo4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

function toJson(doc: TranscriptDocument): TranscriptJson {
  return {
    job_id: doc.jobId,
    language: doc.language,
    engine: doc.engine,
    duration: roundMs(doc.durationS),
    ...(doc.wordTimings ? { word_timings: doc.wordTimings } : {}),
    segments: doc.segments.map((segment) => ({
      start: roundMs(segment.startS),
      end: roundMs(segment.endS),
      text: segment.text,
      words: segment.words.map((word) => ({ word: word.text, start: roundMs(word.startS), end: roundMs(word.endS), confidence: roundConfidence(word.confidence) })),
      ...(segment.decoding ? jsonDecoding(segment.decoding) : {}),
    })),
  };
}

/** The Speechmatics batch (v2) transcript, format 2.9. PocketSphinx emits no punctuation entries. */
export type TranscriptJsonV2 = {
  format: "2.9";
  job: { id: string; created_at: string; data_name: string; /** whole s */ duration: number };
  metadata: { created_at: string; type: "transcription"; transcription_config: Record<string, unknown> };
  results: {
    type: "word";
    /** s */
    start_time: number;
    /** s */
    end_time: number;
    alternatives: { content: string; confidence: number; language: string }[];
  }[];
};

function toJsonV2(doc: TranscriptDocument, meta: RenderMeta): TranscriptJsonV2 {
  const results = [...doc.segments]
    .sort((a, b) => a.startS - b.startS)
    .flatMap((segment) => segmentWords(segment))
    .map((word) => ({
      type: "word" as const,
      start_time: roundMs(word.startS),
      end_time: roundMs(word.endS),
      alternatives: [{ content: word.text, confidence: roundConfidence(word.confidence), language: doc.language }],
    }));
  return {
    format: "2.9",
    job: {
      id: doc.jobId,
      created_at: doc.createdAt.toISOString(),
      data_name: meta.dataName ?? "",
      // Speechmatics states the job's duration in whole seconds.
      duration: Math.round(doc.durationS),
    },
    metadata: {
      created_at: (meta.transcriptCreatedAt ?? doc.createdAt).toISOString(),
      type: "transcription",
      transcription_config: { language: meta.language ?? doc.language, ...meta.transcriptionConfig },
    },
    results,
  };
}
