import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { normaliseWords, wordErrorRate } from "../helpers/wer";

describe("wordErrorRate", () => {
  it("normalises case, punctuation and titles", () => {
    assert.deepEqual(normaliseWords("Mr. Dashwood, and MRS Jennings' 2 dogs!"), ["mister", "dashwood", "and", "missus", "jennings", "2", "dogs"]);
    assert.equal(wordErrorRate("And Mr. John Dashwood", "and mister john dashwood"), 0);
  });
  it("counts substitutions, deletions and insertions", () => {
    assert.equal(wordErrorRate("a b c d", "a x c d"), 0.25);
    assert.equal(wordErrorRate("a b c d", "a c d"), 0.25);
    assert.equal(wordErrorRate("a b c d", "a b c d e f"), 0.5);
    assert.equal(wordErrorRate("", ""), 0);
    assert.equal(wordErrorRate("a b", ""), 1);
  });
});
