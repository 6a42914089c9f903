import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { logSumExp } from "../../src/server/asr/whisper/greedy-decode";
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

  it("returns the log-sum-exp of the logits as it leaves them (the token's log-probability needs no second pass)", () => {
    const withMin = createWhisperLogitRules({ special: tokenizer.special, suppressTokens: [33], beginSuppressTokens: [32, 257], timestamps: true, maxInitialTimestampS: 1, minNewTokens: 4 });
    const random = (seed: number) => Float32Array.from({ length: tokenizer.vocabSize }, (_, i) => Math.sin(i * 12.9898 + seed) * 6);
    const cases: { name: string; logits: Float32Array; generated: number[]; filter: typeof rules }[] = [
      { name: "text allowed", logits: random(1), generated: [TS(0), ...text("ab")], filter: rules },
      { name: "timestamps forced", logits: (() => { const l = random(2); l.fill(8, tokenizer.special.timestampBegin); return l; })(), generated: [TS(0), ...text("a")], filter: rules },
      { name: "first token", logits: random(3), generated: [], filter: rules },
      { name: "end of text held back", logits: random(4), generated: [TS(0), ...text("a")], filter: withMin },
    ];
    for (const { name, logits, generated, filter } of cases) {
      const returned = filter(logits, generated);
      assert.equal(typeof returned, "number", name);
      assert.ok(Math.abs((returned as number) - logSumExp(logits)) < 1e-9, `${name}: ${returned} against ${logSumExp(logits)}`);
    }
  });

  it("holds end-of-text back until minNewTokens, counting it as text in the timestamp test", () => {
    const eot = tokenizer.special.endOfText;
    const withMin = createWhisperLogitRules({ special: tokenizer.special, suppressTokens: [], beginSuppressTokens: [], timestamps: true, maxInitialTimestampS: 1, minNewTokens: 3 });
    // End-of-text far likelier than the timestamps together: no timestamp is forced, and the
    // end is then held back. The rest underflows against it, so no sum is returned.
    const dominant = new Float32Array(tokenizer.vocabSize).fill(0);
    dominant[eot] = 900;
    assert.equal(withMin(dominant, [TS(0), 65]), undefined);
    assert.equal(dominant[eot], -Infinity);
    assert.equal(dominant[65], 0, "text stays allowed");
    const enough = new Float32Array(tokenizer.vocabSize).fill(0);
    enough[eot] = 900;
    withMin(enough, [TS(0), 65, 66]);
    assert.equal(enough[eot], 900, "allowed from the third token on");
    const plain = createWhisperLogitRules({ special: tokenizer.special, suppressTokens: [], beginSuppressTokens: [], timestamps: false, maxInitialTimestampS: 1, minNewTokens: 3 });
    const early = new Float32Array(tokenizer.vocabSize).fill(0);
    assert.equal(plain(early, [65]), undefined, "without the timestamp test nothing was summed");
    assert.equal(early[eot], -Infinity);
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
