/**
 * Where subtitle text may break. Netflix's timed-text style guide: break cues at sentence
 * ends first, then after clause punctuation; break lines after punctuation and before
 * conjunctions and prepositions, never leaving an article, preposition or conjunction at the
 * end of a line or cue. The word lists are English; other languages still get the
 * punctuation and pause rules.
 */

/** What a break after a word ends: a sentence, a clause, or neither. */
export type BreakKind = "sentence" | "clause" | "none";

/** Closing quotes and brackets may follow the punctuation that ends a sentence or clause. */
const CLOSERS = `["'\u201d\u2019)\\]\u00bb]*`;
const ELLIPSIS = new RegExp(`(\\.\\.\\.|\u2026)${CLOSERS}$`);
const SENTENCE_END = new RegExp(`[.!?]${CLOSERS}$`);
const CLAUSE_END = new RegExp(`([,;:\u2014\u2013]|--)${CLOSERS}$`);

/** Abbreviations whose full stop does not end a sentence ("Mr. Darcy"). */
const ABBREVIATIONS: ReadonlySet<string> = new Set(["mr.", "mrs.", "ms.", "dr.", "st.", "prof.", "jr.", "sr.", "vs.", "e.g.", "i.e."]);

/**
 * Articles, determiners, prepositions and conjunctions: a line or cue that ends with one
 * leaves the reader hanging ("the" / "cat"). Particles that often end a phrase ("up", "out",
 * "off") are left out on purpose.
 */
const FUNCTION_WORDS: ReadonlySet<string> = new Set([
  // articles and determiners
  "a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our", "their", "some", "any", "each", "every", "no",
  // prepositions
  "of", "to", "in", "on", "at", "by", "for", "with", "from", "into", "onto", "about", "above", "across", "after", "against", "along", "among",
  "around", "before", "behind", "below", "beneath", "beside", "between", "beyond", "during", "except", "inside", "near", "over", "past",
  "through", "throughout", "toward", "towards", "under", "upon", "via", "within", "without",
  // conjunctions
  "and", "or", "but", "nor", "so", "yet", "because", "if", "although", "though", "while", "whereas", "unless", "until", "since", "than",
  "whether", "when", "where", "once",
]);

/** What a break right after `word` would end. */
export function breakKind(word: string): BreakKind {
  if (ELLIPSIS.test(word)) return "clause"; // a trailing-off, not a full stop
  if (SENTENCE_END.test(word) && !ABBREVIATIONS.has(word.toLowerCase())) return "sentence";
  if (CLAUSE_END.test(word)) return "clause";
  return "none";
}

/** True when a line or cue should not end with `word` (it belongs with what follows). */
export function isFunctionWord(word: string): boolean {
  // "and," ends a clause: the punctuation makes the break natural.
  return FUNCTION_WORDS.has(word.toLowerCase().replace(/^["'\u201c\u2018(\[\u00ab]+/, ""));
}
