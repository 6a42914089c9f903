/**
 * Layout rules for subtitles, after Netflix's timed-text style guide (English): lines,
 * characters per line, cue duration, reading speed and the gap between cues.
 */
export type CueRules = {
  /** Characters per line (a single longer word still gets a line of its own). Default 42. */
  maxLineChars?: number;
  /** Lines per cue. Default 2. */
  maxLines?: number;
  /** Longest cue in s (a single longer word is kept whole). Default 7. */
  maxCueS?: number;
  /**
   * Shortest display time in s, reached by extending the end into the gap before the next
   * cue. Default 1 (Netflix allows 5/6 s; a full second is kinder to slow readers).
   */
  minCueS?: number;
  /** Reading speed limit in characters (spaces included) per s, met by extending the end where the gap allows. Default 20. */
  maxCharsPerS?: number;
  /** Smallest gap between cues in s. Default 2 frames at 24 fps (83 ms on the ms grid). */
  minGapS?: number;
};

/** Layout rules with every default filled in. */
export type LayoutRules = Required<CueRules>;
