import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadWhisperTokenizer } from "../../src/server/asr/whisper/tokenizer";

/** A byte-level vocabulary of single bytes, plus Whisper's special tokens after it. */
function tinyTokenizerJson(): unknown {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const vocab: Record<string, number> = {};
  let extra = 0;
  for (let b = 0; b < 256; b++) vocab[printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++)] = b;
  vocab["Ġthe"] = 256;
  const specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|fr|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"];
  const added = specials.map((content, i) => ({ id: 257 + i, content, special: true }));
  for (let t = 0; t <= 1500; t++) added.push({ id: 257 + specials.length + t, content: `<|${(t * 0.02).toFixed(2)}|>`, special: true });
  return { model: { type: "BPE", vocab, merges: [] }, added_tokens: added };
}

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
