/**
 * Word error rate for speech tests: (substitutions + deletions + insertions) / reference
 * words, by Levenshtein distance over normalised words.
 */

const EXPANSIONS: Record<string, string> = { mr: "mister", mrs: "missus" };

/** Lowercases, drops punctuation (keeping in-word apostrophes), expands "mr"/"mrs"; digits stay as they are. */
export function normaliseWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[^\p{L}\p{N}'\s]+/gu, " ")
    .split(/\s+/)
    .map((word) => word.replace(/^'+|'+$/g, ""))
    .filter((word) => word.length > 0)
    .map((word) => EXPANSIONS[word] ?? word);
}

/** Word-level edit distance between two normalised word lists. */
export function wordEditDistance(reference: readonly string[], hypothesis: readonly string[]): number {
  let previous = Array.from({ length: hypothesis.length + 1 }, (_, j) => j);
  for (let i = 1; i <= reference.length; i++) {
    const current = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, (previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1));
    }
    previous = current;
  }
  return previous[hypothesis.length] ?? 0;
}

/** WER of `hypothesis` against `reference`; 0 for two empty texts, 1 per word when the reference is empty. */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = normaliseWords(reference);
  const hyp = normaliseWords(hypothesis);
  if (ref.length === 0) return hyp.length === 0 ? 0 : hyp.length;
  return wordEditDistance(ref, hyp) / ref.length;
}
