import type { TranscriptSegment } from "../../asr/engine";
import type { TranscriptionTask } from "../../jobs/job-types";
import { roundMs, segmentWords } from "../../subtitles/cues";
import { compressionRatio } from "../../asr/whisper/fallback";
import { roundTo4, transcriptLines, type TranscriptDocument } from "../../transcripts/render-transcript";

/** OpenAI's `response_format` values for whisper-1 (json is its default). */
export const OPENAI_RESPONSE_FORMATS = ["json", "text", "srt", "verbose_json", "vtt"] as const;
export type OpenAiResponseFormat = (typeof OPENAI_RESPONSE_FORMATS)[number];

export type TimestampGranularity = "word" | "segment";

/** The verbose_json body, field for field as the `openai` SDK types it (TranscriptionVerbose, TranslationVerbose). */
export type OpenAiVerboseJson = {
  task: TranscriptionTask;
  language: string;
  duration: number;
  text: string;
  segments?: OpenAiSegment[];
  /** `probability` (0..1) is ours: OpenAI's words have only word, start and end. */
  words?: { word: string; start: number; end: number; probability: number }[];
};

export type OpenAiSegment = {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
};

/**
 * Whisper's own language names (openai/whisper tokenizer.py LANGUAGES), which OpenAI's
 * verbose_json reports instead of codes: "english", not "en". The keys are exactly the codes
 * of KNOWN_LANGUAGES.
 */
const WHISPER_LANGUAGE_NAMES: Record<string, string> = {
  en: "english", zh: "chinese", de: "german", es: "spanish", ru: "russian", ko: "korean", fr: "french", ja: "japanese",
  pt: "portuguese", tr: "turkish", pl: "polish", ca: "catalan", nl: "dutch", ar: "arabic", sv: "swedish", it: "italian",
  id: "indonesian", hi: "hindi", fi: "finnish", vi: "vietnamese", he: "hebrew", uk: "ukrainian", el: "greek", ms: "malay",
  cs: "czech", ro: "romanian", da: "danish", hu: "hungarian", ta: "tamil", no: "norwegian", th: "thai", ur: "urdu",
  hr: "croatian", bg: "bulgarian", lt: "lithuanian", la: "latin", mi: "maori", ml: "malayalam", cy: "welsh", sk: "slovak",
  te: "telugu", fa: "persian", lv: "latvian", bn: "bengali", sr: "serbian", az: "azerbaijani", sl: "slovenian", kn: "kannada",
  et: "estonian", mk: "macedonian", br: "breton", eu: "basque", is: "icelandic", hy: "armenian", ne: "nepali", mn: "mongolian",
  bs: "bosnian", kk: "kazakh", sq: "albanian", sw: "swahili", gl: "galician", mr: "marathi", pa: "punjabi", si: "sinhala",
  km: "khmer", sn: "shona", yo: "yoruba", so: "somali", af: "afrikaans", oc: "occitan", ka: "georgian", be: "belarusian",
  tg: "tajik", sd: "sindhi", gu: "gujarati", am: "amharic", yi: "yiddish", lo: "lao", uz: "uzbek", fo: "faroese",
  ht: "haitian creole", ps: "pashto", tk: "turkmen", nn: "nynorsk", mt: "maltese", sa: "sanskrit", lb: "luxembourgish",
  my: "myanmar", bo: "tibetan", tl: "tagalog", mg: "malagasy", as: "assamese", tt: "tatar", haw: "hawaiian", ln: "lingala",
  ha: "hausa", ba: "bashkir", jw: "javanese", su: "sundanese", yue: "cantonese",
};

/** The English name OpenAI reports for an ISO 639-1 code ("en" → "english"); the code itself when unknown. */
export function openAiLanguageName(code: string): string {
  return Object.hasOwn(WHISPER_LANGUAGE_NAMES, code) ? WHISPER_LANGUAGE_NAMES[code]! : code;
}

/** The whole transcript as one string, as OpenAI's `text` (a user's subtitle edit included). */
export function openAiText(doc: TranscriptDocument): string {
  return transcriptLines(doc).join(" ");
}

/**
 * verbose_json. Whisper segments carry the figures of the decoding they came from
 * (`avg_logprob`, `compression_ratio`, `no_speech_prob`, `temperature`: openai-whisper's, per
 * 30 s window). Other engines' segments get honest stand-ins of the declared types:
 * `avg_logprob` is the mean log of the words' confidences, `compression_ratio` is computed
 * from the text as Whisper computes it, `no_speech_prob` is 0 (silence was cut by voice
 * activity detection) and `temperature` 0. `tokens` is empty (token ids are not kept), and
 * `seek` is the segment's start in 10 ms mel frames. Words carry their `probability` too.
 */
export function toVerboseJson(doc: TranscriptDocument, task: TranscriptionTask, granularities: ReadonlySet<TimestampGranularity>): OpenAiVerboseJson {
  const ordered = [...doc.segments].sort((a, b) => a.startS - b.startS);
  // OpenAI: segments when asked for, or when no granularity was named at all.
  const withSegments = granularities.size === 0 || granularities.has("segment");
  return {
    task,
    // A translation is English whatever was spoken (OpenAI always says "english").
    language: openAiLanguageName(task === "translate" ? "en" : doc.language),
    duration: roundMs(doc.durationS),
    text: openAiText(doc),
    ...(granularities.has("word") ? { words: ordered.flatMap(segmentWords).map((word) => ({ word: word.text, start: roundMs(word.startS), end: roundMs(word.endS), probability: roundTo4(word.confidence) })) } : {}),
    ...(withSegments ? { segments: ordered.filter((segment) => segment.text.trim().length > 0).map(toSegment) } : {}),
  };
}

function toSegment(segment: TranscriptSegment, index: number): OpenAiSegment {
  const text = segment.text.trim();
  return {
    id: index,
    seek: Math.round(segment.startS * 100),
    start: roundMs(segment.startS),
    end: roundMs(segment.endS),
    // OpenAI's segment texts start with the space that separates them from the previous one.
    text: ` ${text}`,
    tokens: [],
    temperature: segment.decoding?.temperature ?? 0,
    avg_logprob: segment.decoding ? roundTo4(segment.decoding.avgLogProb) : averageLogProbability(segment),
    compression_ratio: roundTo4(segment.decoding?.compressionRatio ?? compressionRatio(text)),
    no_speech_prob: roundTo4(segment.decoding?.noSpeechProb ?? 0),
  };
}

/** Mean natural log of the words' confidences (Whisper's avg_logprob is per token); 0 without words. */
function averageLogProbability(segment: TranscriptSegment): number {
  if (segment.words.length === 0) return 0;
  // A confidence of 0 would be -Infinity, which JSON cannot carry.
  const sum = segment.words.reduce((total, word) => total + Math.log(Math.min(1, Math.max(1e-6, word.confidence))), 0);
  return roundTo4(sum / segment.words.length);
}

