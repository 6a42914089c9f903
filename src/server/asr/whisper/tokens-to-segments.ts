import type { TranscriptSegment, TranscriptWord } from "../engine";
import type { WhisperTokenizer } from "./tokenizer";

/**
 * Turns one chunk's generated tokens into timed segments. Whisper writes
 * `<|t0|> text <|t1|><|t1|> more text <|t2|>`: each text run sits between a pair of
 * timestamps (seconds from the chunk start). `offsetS` maps chunk time to file time;
 * text left open at the end closes at `chunkDurationS`. Word times are spread over the
 * segment in proportion to word length: Whisper emits no word timestamps without an
 * alignment pass, and these are labelled approximate (confidence is the segment's).
 */
export function tokensToSegments(
  tokens: readonly number[],
  tokenizer: WhisperTokenizer,
  offsetS: number,
  chunkDurationS: number,
  confidence = 1,
): TranscriptSegment[] {
  const segments: TranscriptSegment[] = [];
  let startS: number | null = null;
  let text: number[] = [];
  const close = (endS: number) => {
    const content = tokenizer.decode(text).trim();
    if (content && startS !== null) segments.push(makeSegment(content, offsetS + startS, offsetS + Math.max(endS, startS), confidence));
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
