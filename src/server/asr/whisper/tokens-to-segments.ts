import type { TranscriptSegment, TranscriptWord } from "../engine";
import type { WhisperTokenizer } from "./tokenizer";
import { clipToSpeech, type AlignedWord, type SpeechSpan } from "./word-alignment";

/**
 * Turns one chunk's generated tokens into timed segments. Whisper writes
 * `<|t0|> text <|t1|><|t1|> more text <|t2|>`: each text run sits between a pair of
 * timestamps (seconds from the chunk start). `offsetS` maps chunk time to file time;
 * text left open at the end closes at `chunkDurationS`.
 *
 * Words: with `aligned` (the chunk's text aligned to its audio, word-alignment.ts, in chunk
 * time) each segment takes the aligned words of its tokens, as openai-whisper assigns them,
 * and its start and end become its first word's start and last word's end. Without, word
 * times are spread over the segment in proportion to word length (a guess, and the
 * transcript says so) with the segment's confidence.
 */
export function tokensToSegments(
  tokens: readonly number[],
  tokenizer: WhisperTokenizer,
  offsetS: number,
  chunkDurationS: number,
  confidence = 1,
  aligned?: readonly AlignedWord[],
  /** The VAD's speech inside the chunk, in chunk time: aligned words are kept on it. */
  speech: readonly SpeechSpan[] = [],
): TranscriptSegment[] {
  const segments: TranscriptSegment[] = [];
  let startS: number | null = null;
  let text: number[] = [];
  const words = aligned ? new AlignedWordQueue(aligned, offsetS, chunkDurationS, speech) : null;
  const close = (endS: number) => {
    const content = tokenizer.decode(text).trim();
    const segmentWords = words?.take(text.length);
    if (content && startS !== null) {
      segments.push(segmentWords?.length ? alignedSegment(content, segmentWords) : makeSegment(content, offsetS + startS, offsetS + Math.max(endS, startS), confidence));
    }
    text = [];
  };
  for (const token of tokens) {
    if (tokenizer.isTimestamp(token)) {
      const time = Math.min(tokenizer.timestampSeconds(token), chunkDurationS);
      if (text.length > 0) {
        close(time);
        startS = null;
      } else {
        startS = time;
      }
    } else if (token < tokenizer.special.endOfText) {
      startS ??= 0;
      text.push(token);
    }
  }
  if (text.length > 0) close(chunkDurationS);
  return words ? withoutOverlaps(segments) : segments;
}

/**
 * Aligned words run forward, but a segment whose tokens all went to the word the segment
 * before it ended with keeps its timestamp-token times, which may reach back into that
 * word: such a segment (and its words) starts where the one before it ends.
 */
function withoutOverlaps(segments: TranscriptSegment[]): TranscriptSegment[] {
  for (let i = 1; i < segments.length; i++) {
    const floor = segments[i - 1]!.endS;
    const segment = segments[i]!;
    if (segment.startS >= floor) continue;
    segment.startS = floor;
    segment.endS = Math.max(segment.endS, floor);
    for (const word of segment.words) {
      word.startS = Math.min(Math.max(word.startS, floor), segment.endS);
      word.endS = Math.min(Math.max(word.endS, word.startS), segment.endS);
    }
  }
  return segments;
}

function makeSegment(text: string, startS: number, endS: number, confidence: number): TranscriptSegment {
  const spellings = text.split(/\s+/).filter(Boolean);
  const totalChars = spellings.reduce((sum, word) => sum + word.length, 0) || 1;
  const words: TranscriptWord[] = [];
  let cursor = startS;
  for (const spelling of spellings) {
    const duration = ((endS - startS) * spelling.length) / totalChars;
    words.push({ text: spelling, startS: cursor, endS: cursor + duration, confidence });
    cursor += duration;
  }
  return { startS, endS, text, words };
}

/** Hands out aligned words by token count, in file time, kept on the chunk's speech. */
class AlignedWordQueue {
  private next = 0;
  /** Text tokens handed out minus those of the words handed out (a word may span two segments). */
  private owed = 0;

  constructor(
    private readonly words: readonly AlignedWord[],
    private readonly offsetS: number,
    private readonly chunkDurationS: number,
    private readonly speech: readonly SpeechSpan[],
  ) {}

  /** The words whose first token lies among the next `tokenCount` text tokens. */
  take(tokenCount: number): TranscriptWord[] {
    this.owed += tokenCount;
    const out: TranscriptWord[] = [];
    while (this.next < this.words.length && this.owed > 0) {
      const word = this.words[this.next++]!;
      this.owed -= word.tokens.length;
      const text = word.text.trim();
      if (!text) continue;
      const onSpeech = clipToSpeech(word.startS, Math.max(word.startS, word.endS), this.speech);
      const clip = (s: number) => Math.round((this.offsetS + Math.min(Math.max(s, 0), this.chunkDurationS)) * 1000) / 1000;
      out.push({ text, startS: clip(onSpeech.startS), endS: clip(onSpeech.endS), confidence: word.probability });
    }
    return out;
  }
}

function alignedSegment(text: string, words: TranscriptWord[]): TranscriptSegment {
  return { startS: words[0]!.startS, endS: Math.max(words[0]!.startS, words[words.length - 1]!.endS), text, words };
}
