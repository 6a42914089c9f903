import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { loadWhisperTokenizer } from "../../src/server/asr/whisper/tokenizer";
import { tokensToSegments } from "../../src/server/asr/whisper/tokens-to-segments";
import { clipToSpeech, dynamicTimeWarp, medianFilterRows, splitWordTokens, tidyAlignedWords, type AlignedWord } from "../../src/server/asr/whisper/word-alignment";

/**
 * The pieces of word alignment on small inputs whose answers come from openai-whisper's
 * own functions (tools/whisper-test-model/word_alignment.py run on the same inputs).
 */
const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny");
const tokenizer = loadWhisperTokenizer(JSON.parse(fs.readFileSync(path.join(FIXTURE, "tokenizer.json"), "utf8")));

const word = (text: string, startS: number, endS: number, tokens: number[] = [0]): AlignedWord => ({ text, tokens, startS, endS, probability: 0.5 });

describe("word alignment pieces", () => {
  it("DTW takes the diagonal only when strictly cheapest, then up, else left (openai's tie rule)", () => {
    const matrix = Float32Array.from([1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1]);
    assert.deepEqual(dynamicTimeWarp(matrix, 3, 4), { textIndices: [0, 0, 1, 1, 2, 2], timeIndices: [0, 1, 1, 2, 2, 3] });
    // All ties: the path goes down the first column, then along the last row.
    assert.deepEqual(dynamicTimeWarp(new Float32Array(9), 3, 3), { textIndices: [0, 1, 2, 2, 2], timeIndices: [0, 0, 0, 1, 2] });
  });

  it("the median filter pads by reflection, as openai's", () => {
    const row = Float32Array.from([3, 1, 4, 1, 5, 9, 2, 6]);
    assert.deepEqual([...medianFilterRows(row, 1, 8, 3)], [1, 3, 1, 4, 5, 5, 6, 2]);
    assert.deepEqual([...medianFilterRows(row, 1, 8, 5)], [3, 1, 3, 4, 4, 5, 5, 6]);
  });

  it("words split at spaces and punctuation; scripts without spaces at characters", () => {
    const tokens = [...encode(" Hello"), ...encode(","), ...encode(" world")];
    const split = splitWordTokens(tokens, tokenizer, "en");
    assert.deepEqual(split.words, [" Hello", ",", " world", ""]);
    assert.deepEqual(split.tokens.flat(), [...tokens, tokenizer.special.endOfText]);
    // Multi-byte characters: a token holding half of one waits for the rest.
    const bytes = [...Buffer.from("日本", "utf8")].map((byte) => byteToken(byte));
    assert.deepEqual(splitWordTokens(bytes, tokenizer, "ja").words, ["日", "本", ""]);
  });

  it("closing punctuation joins the word before it and opening punctuation the word after, keeping its times", () => {
    const tidied = tidyAlignedWords([word(" “", 0, 0.1), word("Hi", 0.1, 0.4), word(",", 0.4, 0.5), word(" you", 0.5, 0.8), word(".", 0.8, 0.9)]);
    assert.deepEqual(
      tidied.map((w) => [w.text, w.startS, w.endS]),
      [[" “Hi,", 0.1, 0.4], [" you.", 0.5, 0.8]],
    );
  });

  it("a word stretched across a pause next to a sentence end is cut to twice the median word length", () => {
    const tidied = tidyAlignedWords([word(" One", 0, 0.3), word(" two", 0.3, 0.6), word(".", 0.6, 0.7), word(" Three", 0.7, 3.7), word(" four", 3.7, 4.0)]);
    // Median of 0.3, 0.3, 0.1, 3, 0.3 is 0.3: " Three" follows a full stop, so it starts 0.6 s before its end.
    const three = tidied.find((w) => w.text === " Three")!;
    assert.ok(Math.abs(three.startS - 3.1) < 1e-9, String(three.startS));
    assert.equal(three.endS, 3.7);
  });

  it("segments take their aligned words by token count, in file time, clipped to the chunk", () => {
    const t = (s: number) => tokenizer.special.timestampBegin + Math.round(s / 0.02);
    const first = [...encode(" Hello"), ...encode(" there")];
    const second = encode(" again");
    const tokens = [t(0), ...first, t(1), t(1.2), ...second, t(2)];
    const aligned = [word(" Hello", 0.1, 0.4, encode(" Hello")), word(" there", 0.5, 0.9, encode(" there")), word(" again", 1.3, 2.6, second)];
    const segments = tokensToSegments(tokens, tokenizer, 10, 2.5, 0.9, aligned);
    assert.deepEqual(
      segments.map((segment) => ({ text: segment.text, startS: segment.startS, endS: segment.endS, words: segment.words.map((w) => [w.text, w.startS, w.endS, w.confidence]) })),
      [
        { text: "Hello there", startS: 10.1, endS: 10.9, words: [["Hello", 10.1, 10.4, 0.5], ["there", 10.5, 10.9, 0.5]] },
        { text: "again", startS: 11.3, endS: 12.5, words: [["again", 11.3, 12.5, 0.5]] },
      ],
    );
    // Without an alignment, words are spread over the segment (the old guess).
    const spread = tokensToSegments(tokens, tokenizer, 10, 2.5, 0.9);
    assert.deepEqual(spread[0]!.words.map((w) => w.confidence), [0.9, 0.9]);
    assert.equal(spread[0]!.startS, 10);
  });
});

function byteToken(byte: number): number {
  // GPT-2's byte → printable character table (the first 256 ids are the bytes in that order).
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  let extra = 0;
  const table = new Map<number, string>();
  for (const b of printable) table.set(b, String.fromCharCode(b));
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) table.set(b, String.fromCharCode(256 + extra++));
  return tokenizer.tokenId(table.get(byte)!)!;
}

function encode(text: string): number[] {
  return [...Buffer.from(text, "utf8")].map(byteToken);
}

describe("segments from aligned words", () => {
  it("a segment left without words of its own starts where the one before it ends", () => {
    const t = (s: number) => tokenizer.special.timestampBegin + Math.round(s / 0.02);
    const first = encode(" Hello");
    const second = encode("lo");
    // " Hello" spans both segments' tokens: the second segment gets no word, keeps its
    // timestamp times (0.5 s) and would start inside "Hello" (which ends at 0.9 s).
    const tokens = [t(0), ...first.slice(0, -1), t(0.5), t(0.5), first[first.length - 1]!, ...second, t(1)];
    const aligned = [{ text: " Hellolo", tokens: [...first, ...second], startS: 0.1, endS: 0.9, probability: 0.5 }];
    const segments = tokensToSegments(tokens, tokenizer, 0, 2, 1, aligned);
    assert.equal(segments.length, 2);
    assert.equal(segments[1]!.startS, segments[0]!.endS);
    assert.ok(segments[1]!.words.every((word) => word.startS >= segments[0]!.endS));
  });
});

describe("words kept on speech", () => {
  const speech = [
    { startS: 1, endS: 3 },
    { startS: 6, endS: 8 },
  ];
  it("cuts a word stretched over a silence to the region it overlaps most", () => {
    assert.deepEqual(clipToSpeech(2.5, 5, speech), { startS: 2.5, endS: 3 });
    assert.deepEqual(clipToSpeech(4, 6.5, speech), { startS: 6, endS: 6.5 });
    assert.deepEqual(clipToSpeech(0.5, 7, speech), { startS: 1, endS: 3 }, "over both regions: the one it overlaps most");
    assert.deepEqual(clipToSpeech(1.5, 2, speech), { startS: 1.5, endS: 2 }, "inside speech: unchanged");
    assert.deepEqual(clipToSpeech(2, 2, speech), { startS: 2, endS: 2 }, "a zero-length word inside speech: unchanged");
  });
  it("puts a word wholly inside a silence at the edge of the nearer region", () => {
    assert.deepEqual(clipToSpeech(3.5, 4, speech), { startS: 3, endS: 3 });
    assert.deepEqual(clipToSpeech(5, 5.5, speech), { startS: 6, endS: 6 });
    assert.deepEqual(clipToSpeech(9, 9.5, speech), { startS: 8, endS: 8 });
    assert.deepEqual(clipToSpeech(9, 9.5, []), { startS: 9, endS: 9.5 }, "no regions known: as it is");
  });
});
