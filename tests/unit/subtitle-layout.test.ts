import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TranscriptSegment, TranscriptWord } from "../../src/server/asr/engine";
import { buildCues, segmentWords, type Cue, type CueRules } from "../../src/server/subtitles/cues";
import { wrapBalanced } from "../../src/server/subtitles/line-wrap";
import { breakKind, isFunctionWord } from "../../src/server/subtitles/break-points";
import { NETFLIX_RULES, subtitleRuleViolations, type ExpectedRules, type RuleStats } from "../helpers/subtitle-rules";
import { mulberry32 } from "../../src/shared/seeded-random";

/**
 * Words spoken back to back from `startS`, `wordS` each with `gapS` between them; a token
 * "[0.8]" is a pause of 0.8 s instead of a word.
 */
function spoken(spec: string, startS = 0, wordS = 0.25, gapS = 0.02): TranscriptWord[] {
  const words: TranscriptWord[] = [];
  let t = startS;
  for (const token of spec.split(/\s+/).filter(Boolean)) {
    const pause = /^\[(\d+(?:\.\d+)?)\]$/.exec(token);
    if (pause) {
      t += Number(pause[1]);
      continue;
    }
    words.push({ text: token, startS: t, endS: t + wordS, confidence: 0.9 });
    t += wordS + gapS;
  }
  return words;
}

/** Words spoken at `charsPerS` (a word and its space take (length + 1) / charsPerS), with "[0.8]" pauses as in spoken(). */
function atRate(spec: string, charsPerS: number): TranscriptWord[] {
  const words: TranscriptWord[] = [];
  let t = 0;
  for (const token of spec.split(/\s+/).filter(Boolean)) {
    const pause = /^\[(\d+(?:\.\d+)?)\]$/.exec(token);
    if (pause) {
      t += Number(pause[1]);
      continue;
    }
    const lengthS = (token.length + 1) / charsPerS;
    words.push({ text: token, startS: t, endS: t + lengthS, confidence: 0.9 });
    t += lengthS;
  }
  return words;
}

function segmentOf(words: TranscriptWord[]): TranscriptSegment {
  return { startS: words[0]!.startS, endS: words[words.length - 1]!.endS, text: words.map((word) => word.text).join(" "), words };
}

const textsOf = (cues: readonly Cue[]): string[] => cues.map((cue) => cue.lines.join(" "));
const ms = (seconds: number): number => Math.round(seconds * 1000);

function assertRules(cues: readonly Cue[], words: readonly TranscriptWord[], rules: ExpectedRules = NETFLIX_RULES): RuleStats {
  const { violations, stats } = subtitleRuleViolations(cues, words, rules);
  assert.deepEqual(violations, [], JSON.stringify(cues.map((cue) => [cue.startS, cue.endS, cue.lines])));
  return stats;
}

describe("subtitle layout: where cues break", () => {
  it("breaks at sentence ends before filling cues by character count", () => {
    const words = spoken("We walked down to the harbour. The boats were all tied up along the old stone wall. Nobody was awake yet.");
    const cues = buildCues([segmentOf(words)]);
    assert.ok(cues.length >= 2);
    for (const cue of cues) assert.match(cue.lines.join(" "), /\.$/, `cue ${cue.index} ends mid-sentence: ${JSON.stringify(textsOf(cues))}`);
    assertRules(cues, words);
  });

  it("breaks a long sentence at a clause end", () => {
    const words = spoken("When the storm had finally passed, the children ran outside to play in the deep puddles by the road.");
    assert.deepEqual(textsOf(buildCues([segmentOf(words)])), ["When the storm had finally passed,", "the children ran outside to play in the deep puddles by the road."]);
  });

  it("breaks unpunctuated speech at a pause, even where the cues come out uneven", () => {
    const words = spoken("the old man walked slowly [0.8] along the river bank looking for the place where he had lost his ring");
    assert.deepEqual(textsOf(buildCues([segmentOf(words)])), ["the old man walked slowly", "along the river bank looking for the place where he had lost his ring"]);
  });

  it("splits evenly where no break is better than another", () => {
    const words = spoken("she carried the heavy wooden box all the way down the long winding road towards the little village near the sea");
    const lengths = textsOf(buildCues([segmentOf(words)])).map((text) => text.length);
    assert.equal(lengths.length, 2);
    assert.ok(Math.abs(lengths[0]! - lengths[1]!) <= 12, JSON.stringify(lengths));
  });

  it("does not leave a cue too short to read when another break allows 1 s", () => {
    // "No." alone could stay up 0.39 s before the next sentence, which is too long to join it.
    const cues = buildCues([segmentOf(spoken("No. [0.2] I really do not think that we should ever go back to that terrible old house again"))]);
    assert.equal(cues.length, 2);
    assert.notEqual(textsOf(cues)[0], "No.");
    for (const cue of cues) assert.ok(cue.endS - cue.startS >= 1, JSON.stringify(cues));
  });

  it("for a fast speaker, ends a cue at a pause that leaves time to read it rather than at a comma that does not", () => {
    const words = atRate("I went back to the house on the hill, and then I walked along the road [0.9] until I found the old gate by the river.", 25);
    const cues = buildCues([segmentOf(words)]);
    assert.deepEqual(textsOf(cues), ["I went back to the house on the hill, and then I walked along the road", "until I found the old gate by the river."]);
    for (const cue of cues) assert.ok(cue.lines.join(" ").length / (cue.endS - cue.startS) <= 20, JSON.stringify(cue));
  });

  it("does not end a cue on an article, preposition or conjunction when a better break exists", () => {
    // Even cues would break after "the"; the layout moves the break before it.
    const words = spoken("she put the heavy old books and the papers on the long wooden table in the corner of the quiet room");
    const cues = buildCues([segmentOf(words)]);
    assert.equal(cues.length, 2);
    assert.doesNotMatch(textsOf(cues)[0]!, /\b(the|a|an|and|on|of|in)$/, JSON.stringify(textsOf(cues)));
  });

  it("lets a cue span segments, but never a pause over 1.5 s", () => {
    const segments = [segmentOf(spoken("and then we", 0)), segmentOf(spoken("went to the market", 1.0))];
    assert.deepEqual(textsOf(buildCues(segments)), ["and then we went to the market"]);
    assert.deepEqual(textsOf(buildCues([segmentOf(spoken("we waited [1.4] and waited"))])), ["we waited and waited"]);
    assert.deepEqual(textsOf(buildCues([segmentOf(spoken("we waited [1.6] and waited"))])), ["we waited", "and waited"]);
  });

  it("never splits a word, and keeps an over-long word whole on its own line", () => {
    const long = "x".repeat(60);
    const cues = buildCues([segmentOf(spoken(`${long} end`))]);
    assert.deepEqual(cues.flatMap((cue) => cue.lines), [long, "end"]);
  });
});

describe("subtitle layout: break points", () => {
  it("tells sentence ends from clause ends and abbreviations", () => {
    assert.equal(breakKind("harbour."), "sentence");
    assert.equal(breakKind("really?\u201d"), "sentence");
    assert.equal(breakKind("Mr."), "none");
    assert.equal(breakKind("passed,"), "clause");
    assert.equal(breakKind("well..."), "clause");
    assert.equal(breakKind("harbour"), "none");
  });

  it("knows the words a line should not end with", () => {
    for (const word of ["the", "A", "of", "and", "because"]) assert.equal(isFunctionWord(word), true, word);
    for (const word of ["and,", "house", "up"]) assert.equal(isFunctionWord(word), false, word);
  });
});

describe("subtitle layout: lines", () => {
  it("keeps text that fits on one line", () => {
    assert.deepEqual(wrapBalanced(["short", "text"], 42, 2), ["short text"]);
  });

  it("breaks after punctuation rather than mid-phrase", () => {
    assert.deepEqual(wrapBalanced("I told you already, we are not going there tonight".split(" "), 42, 2), ["I told you already,", "we are not going there tonight"]);
  });

  it("breaks before a preposition, not after it, and puts the longer line at the bottom", () => {
    const lines = wrapBalanced("the quick brown fox jumps over the lazy dog and runs far away".split(" "), 42, 2);
    assert.deepEqual(lines, ["the quick brown fox jumps", "over the lazy dog and runs far away"]);
    // Without a word to avoid, the lines are as even as the words allow, the longer below.
  });

  it("puts the longer line at the bottom when two splits are equally even", () => {
    // 21/24 or 24/21: bottom-heavy.
    assert.deepEqual(wrapBalanced("abcdefghij abcdefghij ab abcdefghij abcdefghij".split(" "), 42, 2), ["abcdefghij abcdefghij", "ab abcdefghij abcdefghij"]);
  });

  it("returns null when the words need more lines than allowed", () => {
    assert.equal(wrapBalanced("one two three four five six seven eight nine ten eleven twelve".split(" "), 10, 2), null);
  });
});

describe("subtitle layout: timing", () => {
  it("extends a short cue to 1 s into the following gap", () => {
    const cues = buildCues([segmentOf(spoken("Hello.")), segmentOf(spoken("Again.", 4))]);
    assert.deepEqual(cues.map((cue) => [cue.startS, cue.endS]), [[0, 1], [4, 5]]);
  });

  it("stops the extension 2 frames before the next cue", () => {
    const words = spoken("Hello. [0.6] There.", 0, 0.2);
    const cues = buildCues([segmentOf(words)], { maxLineChars: 6, maxLines: 1 });
    assert.equal(cues.length, 2);
    assert.equal(ms(cues[1]!.startS) - ms(cues[0]!.endS), 83);
  });

  it("keeps a cue up long enough to read at 20 characters per second when the gap allows", () => {
    // 47 characters spoken in 1.6 s, then silence: shown for 47 / 20 = 2.35 s.
    const words = spoken("Absolutely everything happened at once, really. [3] Then.", 0, 0.25, 0.02);
    const cues = buildCues([segmentOf(words)]);
    assert.equal(cues[0]!.endS, 2.35);
    assertRules(cues, words);
  });

  it("splits on the 7 s limit even when the text would fit", () => {
    const words = spoken("a b c d e f g h i j", 0, 0.9, 0.1);
    const cues = buildCues([segmentOf(words)]);
    assert.ok(cues.length >= 2);
    assertRules(cues, words);
  });

  it("chains cues less than 0.5 s apart to a 2-frame gap, and pulls back ends that touch the next cue", () => {
    const rules: CueRules = { maxLineChars: 20, maxLines: 1 };
    const apart = buildCues([segmentOf(spoken("First part is here. [0.3] Second part here.", 0, 0.3))], rules);
    assert.equal(apart.length, 2);
    assert.equal(ms(apart[1]!.startS) - ms(apart[0]!.endS), 83);
    const touching = buildCues([segmentOf(spoken("First part is here. Second part here.", 0, 0.3, 0))], rules);
    assert.equal(touching.length, 2);
    assert.equal(ms(touching[1]!.startS) - ms(touching[0]!.endS), 83);
    // A wide gap is left alone once the cue is long enough.
    const wide = buildCues([segmentOf(spoken("First part is here. [2] Second part here.", 0, 0.3))], rules);
    assert.ok(ms(wide[1]!.startS) - ms(wide[0]!.endS) >= 500);
  });

  it("never overlaps cues, even when the engine's words overlap", () => {
    const words: TranscriptWord[] = [
      { text: "one", startS: 0, endS: 0.5, confidence: 1 },
      { text: "two.", startS: 0.4, endS: 0.6, confidence: 1 },
      { text: "three", startS: 0.45, endS: 2, confidence: 1 },
    ];
    const cues = buildCues([segmentOf(words)], { maxLineChars: 5, maxLines: 1 });
    assert.equal(cues.length, 3);
    for (const cue of cues) assert.ok(cue.endS > cue.startS, JSON.stringify(cues));
    for (let k = 1; k < cues.length; k++) assert.ok(ms(cues[k]!.startS) - ms(cues[k - 1]!.endS) >= 83, JSON.stringify(cues));
  });
});


const VOCABULARY = (
  "the a an and or but of to in on at with from for by over the the and " +
  "I you we they she he it this that there here what when where why how " +
  "house river morning evening letter brother sister family fortune neighbourhood " +
  "walked thought remembered acknowledged unquestionably extraordinary particularly " +
  "quickly slowly never always perhaps certainly very quite rather still " +
  "small old young good great long little beautiful comfortable disagreeable " +
  "was were had has is are be been would could should might will"
).split(" ");

/**
 * A realistic word stream as an engine would give it: words at 10–18 characters per second
 * (some streams faster than 20), pauses mostly short, some clause-length, a few over 1.5 s;
 * sentence and clause punctuation; split into engine segments that are not sentences, a
 * few of them without word timings.
 */
function generatedTranscript(seed: number): TranscriptSegment[] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const charsPerS = seed % 5 === 0 ? 22 + random() * 4 : 10 + random() * 8;
  const words: TranscriptWord[] = [];
  let t = random() * 2;
  const count = 60 + Math.floor(random() * 200);
  for (let i = 0; i < count; i++) {
    const roll = random();
    const text = pick(VOCABULARY) + (roll < 0.08 ? "." : roll < 0.1 ? "?" : roll < 0.2 ? "," : "");
    const lengthS = (text.length + 1) / charsPerS;
    words.push({ text, startS: t, endS: t + lengthS * 0.85, confidence: 0.9 });
    const pause = random();
    t += lengthS + (pause < 0.7 ? random() * 0.1 : pause < 0.9 ? 0.2 + random() * 0.4 : pause < 0.97 ? 0.6 + random() * 0.8 : 1.6 + random() * 2.4);
  }
  const segments: TranscriptSegment[] = [];
  for (let i = 0; i < words.length; ) {
    const size = 4 + Math.floor(random() * 20);
    const own = words.slice(i, i + size);
    const segment = segmentOf(own);
    segments.push(random() < 0.15 ? { ...segment, words: [] } : segment);
    i += size;
  }
  return segments;
}

describe("subtitle layout: every rule over generated speech", () => {
  const layouts: { name: string; cueRules: CueRules; expected: ExpectedRules }[] = [
    { name: "defaults (42 × 2)", cueRules: {}, expected: NETFLIX_RULES },
    { name: "32 × 1", cueRules: { maxLineChars: 32, maxLines: 1 }, expected: { ...NETFLIX_RULES, maxLineChars: 32, maxLines: 1 } },
    { name: "37 × 3", cueRules: { maxLineChars: 37, maxLines: 3 }, expected: { ...NETFLIX_RULES, maxLineChars: 37, maxLines: 3 } },
  ];
  for (const layout of layouts) {
    it(`holds for 40 streams with ${layout.name}`, () => {
      const totals: RuleStats = { cues: 0, extended: 0, chained: 0, excused: 0 };
      const longest: number[] = [];
      for (let seed = 1; seed <= 40; seed++) {
        const segments = generatedTranscript(seed);
        const words = segments.flatMap((segment) => segmentWords(segment));
        const cues = buildCues(segments, layout.cueRules);
        const { violations, stats } = subtitleRuleViolations(cues, words, layout.expected);
        assert.deepEqual(violations.slice(0, 5), [], `seed ${seed}`);
        for (const key of Object.keys(totals) as (keyof RuleStats)[]) totals[key] += stats[key];
        longest.push(Math.max(...cues.flatMap((cue) => cue.lines.map((line) => line.length))));
      }
      // The timing rules were exercised, not vacuously true.
      assert.ok(totals.extended > totals.cues / 10, JSON.stringify(totals));
      assert.ok(totals.chained > totals.cues / 10, JSON.stringify(totals));
      // The line limit was reached, so it is what kept lines short.
      assert.ok(Math.max(...longest) >= layout.expected.maxLineChars - 3, `longest line ${Math.max(...longest)}`);
      // Fast speech (over 20 cps) is the only excuse for breaking a timing rule; most cues keep them all.
      assert.ok(totals.excused < totals.cues / 10, JSON.stringify(totals));
    });
  }

  it("prefers sentence ends: most cues in punctuated speech end a sentence or clause", () => {
    let cues = 0;
    let atPunctuation = 0;
    for (let seed = 1; seed <= 20; seed++) {
      for (const cue of buildCues(generatedTranscript(seed))) {
        cues++;
        if (/[.?,]$/.test(cue.lines.join(" "))) atPunctuation++;
      }
    }
    // About 20% of the generated words carry punctuation; chance alone would end ~20% of cues there.
    assert.ok(atPunctuation / cues > 0.5, `${atPunctuation} of ${cues}`);
  });
});
