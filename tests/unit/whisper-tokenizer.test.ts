import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadWhisperTokenizer } from "../../src/server/asr/whisper/tokenizer";
import { tinyTokenizerJson } from "../helpers/tiny-whisper-tokenizer";

describe("Whisper tokenizer (tokenizer.json)", () => {
  const tokenizer = loadWhisperTokenizer(tinyTokenizerJson());

  it("reads special ids from the file", () => {
    assert.equal(tokenizer.special.endOfText, 257);
    assert.equal(tokenizer.special.startOfTranscript, 258);
    assert.deepEqual([...tokenizer.special.languages.entries()], [["en", 259], ["fr", 260]]);
    assert.equal(tokenizer.special.transcribe, 262);
    assert.equal(tokenizer.special.noTimestamps, 266);
    assert.equal(tokenizer.special.timestampBegin, 267);
    assert.equal(tokenizer.vocabSize, 267 + 1501);
  });

  it("decodes byte-level tokens to UTF-8 text, skipping specials and timestamps", () => {
    const bytes = [...new TextEncoder().encode("héllo wörld")];
    const ids = [258, 259, 262, 267, ...bytes.map((b) => b), 256, 300, 257];
    assert.equal(tokenizer.decode(ids), "héllo wörld the");
  });

  it("turns timestamp tokens into seconds", () => {
    assert.ok(tokenizer.isTimestamp(267 + 150));
    assert.equal(tokenizer.timestampSeconds(267 + 150), 3);
    assert.equal(tokenizer.isTimestamp(256), false);
  });

  it("refuses a tokenizer that is not Whisper's, naming the missing token", () => {
    assert.throws(() => loadWhisperTokenizer({ model: { type: "BPE", vocab: { a: 0 } }, added_tokens: [] }), /no <\|0.00\|> token/);
    assert.throws(() => loadWhisperTokenizer({ model: { type: "WordPiece", vocab: {} } }), /only byte-level BPE/);
  });
});
