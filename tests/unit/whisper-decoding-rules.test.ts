import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createWhisperLogitRules } from "../../src/server/asr/whisper/timestamp-rules";
import { loadWhisperTokenizer } from "../../src/server/asr/whisper/tokenizer";
import { tokensToSegments } from "../../src/server/asr/whisper/tokens-to-segments";
import { tinyTokenizerJson } from "../helpers/tiny-whisper-tokenizer";

// Ids in the tiny vocabulary: bytes 0–255, "Ġthe" 256, <|endoftext|> 257, …, <|0.00|> 267.
const tokenizer = loadWhisperTokenizer(tinyTokenizerJson());
const TS = (seconds: number) => tokenizer.special.timestampBegin + Math.round(seconds / 0.02);
const text = (value: string) => [...new TextEncoder().encode(value)];

describe("Whisper timestamp rules", () => {
  const rules = createWhisperLogitRules({ special: tokenizer.special, suppressTokens: [33], beginSuppressTokens: [32, 257], timestamps: true, maxInitialTimestampS: 1 });
  const flat = () => new Float32Array(tokenizer.vocabSize).fill(0);
  const allowed = (logits: Float32Array) => [...logits.keys()].filter((i) => logits[i] !== -Infinity);

  it("starts with a timestamp no later than 1 s", () => {
    const logits = flat();
    rules(logits, []);
    assert.deepEqual(allowed(logits), Array.from({ length: 51 }, (_, i) => TS(0) + i));
  });

  it("after text then a timestamp, allows only a timestamp at or after it (the closing pair)", () => {
    const logits = flat();
    rules(logits, [TS(0.5), ...text("hi"), TS(1)]);
    const ok = allowed(logits);
    assert.ok(ok.every((id) => id >= TS(1) || id === tokenizer.special.endOfText || id > 257), "no text after a closing timestamp");
    assert.ok(!ok.includes(TS(0.98)), "time never goes back");
    assert.ok(ok.includes(TS(1)));
  });

  it("after two timestamps in a row, forbids a third", () => {
    const logits = flat();
    logits[65] = 50;
    rules(logits, [TS(0), ...text("a"), TS(1), TS(1)]);
    assert.ok(allowed(logits).every((id) => id < tokenizer.special.timestampBegin));
  });

  it("forces a timestamp when timestamps are jointly more likely than any text token", () => {
    const logits = flat();
    logits.fill(1, tokenizer.special.timestampBegin);
    rules(logits, [TS(0), ...text("a")]);
    assert.ok(allowed(logits).every((id) => id >= tokenizer.special.timestampBegin));
  });

  it("suppresses configured tokens, and blank/end-of-text at the start", () => {
    const plain = createWhisperLogitRules({ special: tokenizer.special, suppressTokens: [33], beginSuppressTokens: [32, 257], timestamps: false, maxInitialTimestampS: 1 });
    const first = flat();
    plain(first, []);
    assert.equal(first[33], -Infinity);
    assert.equal(first[32], -Infinity);
    assert.equal(first[257], -Infinity);
    const later = flat();
    plain(later, [65]);
    assert.equal(later[32], 0);
  });
});

describe("tokensToSegments", () => {
  it("builds one segment per timestamp pair, offset to file time, with words spread over it", () => {
    const tokens = [TS(0), ...text("hello world"), TS(2), TS(2), ...text(" again"), TS(3.5)];
    const segments = tokensToSegments(tokens, tokenizer, 10, 30);
    assert.deepEqual(segments.map((s) => [s.text, s.startS, s.endS]), [["hello world", 10, 12], ["again", 12, 13.5]]);
    const words = segments[0]!.words;
    assert.deepEqual(words.map((w) => w.text), ["hello", "world"]);
    assert.equal(words[0]!.startS, 10);
    assert.ok(Math.abs(words[1]!.endS - 12) < 1e-9);
  });

  it("closes text left open at the chunk end and ignores specials", () => {
    const segments = tokensToSegments([TS(1), ...text("tail"), 257], tokenizer, 0, 4.5);
    assert.deepEqual(segments.map((s) => [s.text, s.startS, s.endS]), [["tail", 1, 4.5]]);
  });
});
