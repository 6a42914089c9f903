import assert from "node:assert/strict";
import type { EngineTranscription } from "../../src/server/asr/engine";
import { PermanentJobError } from "../../src/server/errors";

/** For `assert.rejects`: the error is a PermanentJobError with this message (or matching it). */
export function assertPermanent(message: string | RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PermanentJobError, `expected PermanentJobError, got ${String(error)}`);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

/**
 * Same language, text and times; probabilities and decoding figures equal to float rounding
 * (a row's fp32 logits move in the last bits with its batch-mates). Word times within one
 * 20 ms frame (an fp16 batched prefill may round the K/V differently).
 */
export function assertSameTranscription(actual: EngineTranscription, expected: EngineTranscription, label: string): void {
  assert.equal(actual.language, expected.language, label);
  assert.deepEqual(
    actual.segments.map(({ startS, endS, text }) => ({ startS, endS, text })),
    expected.segments.map(({ startS, endS, text }) => ({ startS, endS, text })),
    label,
  );
  actual.segments.forEach((segment, i) => {
    const other = expected.segments[i]!;
    assert.equal(segment.decoding?.temperature, other.decoding?.temperature, `${label}: temperature`);
    assert.ok(Math.abs((segment.decoding?.avgLogProb ?? 0) - (other.decoding?.avgLogProb ?? 0)) < 1e-3, `${label}: avg_logprob ${segment.decoding?.avgLogProb} vs ${other.decoding?.avgLogProb}`);
    assert.equal(segment.words.length, other.words.length, label);
    segment.words.forEach((word, j) => {
      const otherWord = other.words[j]!;
      assert.equal(word.text, otherWord.text, label);
      assert.ok(Math.abs(word.confidence - otherWord.confidence) < 1e-3, `${label}: confidence ${word.confidence} vs ${otherWord.confidence}`);
      assert.ok(Math.abs(word.startS - otherWord.startS) <= 0.02 + 1e-9 && Math.abs(word.endS - otherWord.endS) <= 0.02 + 1e-9, `${label}: "${word.text}" at ${word.startS}–${word.endS} vs ${otherWord.startS}–${otherWord.endS}`);
    });
  });
}
