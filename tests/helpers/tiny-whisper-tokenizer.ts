/** A byte-level vocabulary of single bytes, plus Whisper's special tokens after it. */
export function tinyTokenizerJson(): unknown {
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
