import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createReadStream, existsSync } from "node:fs";
import { TRPCError } from "@trpc/server";
import { OPERATOR } from "../../src/server/access";
import { createCaller } from "../../src/server/api/trpc/root";
import type { Engine, TranscriptSegment, TranscriptWord } from "../../src/server/asr/engine";
import { createPocketSphinxEngineFactory } from "../../src/server/asr/pocketsphinx-engine";
import { transcribeMedia } from "../../src/server/asr/transcribe-media";
import { buildCues, segmentWords, type Cue, type CueRules } from "../../src/server/subtitles/cues";
import { parseSrt, renderSrt } from "../../src/server/subtitles/srt";
import { parseVtt, renderVtt } from "../../src/server/subtitles/vtt";
import { librivoxClips, makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";
import { NETFLIX_RULES, subtitleRuleViolations, type ExpectedRules } from "../helpers/subtitle-rules";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";

const available = existsSync("/usr/bin/pocketsphinx_continuous") && librivoxClips().length >= 5;
const skip = available ? false : "pocketsphinx or pocketsphinx-testdata is not installed";

/**
 * All five LibriVox clips with silences between them that exercise each timing rule: a
 * chained gap (0.3 s), pauses a cue may span or break at (0.6, 1.0 s) and one it may not
 * (2.0 s). About 30 s of real speech, without punctuation (PocketSphinx gives none).
 */
async function readingWithPauses(dir: string): Promise<string> {
  const clips = librivoxClips();
  const pauses = [0.3, 2.0, 0.6, 1.0];
  const parts = clips.slice(0, 5).flatMap((clip, i) => [{ kind: "file" as const, path: clip.path }, ...(i < pauses.length ? [{ kind: "silence" as const, durationS: pauses[i]! }] : [])]);
  return makeAudio(parts, { dir, name: "reading-with-pauses.wav" });
}

function orderedWords(segments: readonly TranscriptSegment[]): TranscriptWord[] {
  return [...segments].sort((a, b) => a.startS - b.startS).flatMap((segment) => segmentWords(segment)).sort((a, b) => a.startS - b.startS);
}

function assertRules(cues: readonly Cue[], words: readonly TranscriptWord[], rules: ExpectedRules, label: string): void {
  const { violations } = subtitleRuleViolations(cues, words, rules);
  assert.deepEqual(violations, [], `${label}: ${JSON.stringify(cues.map((cue) => [cue.startS, cue.endS, cue.lines]))}`);
}

describe("subtitle layout on real speech (PocketSphinx, LibriVox)", { skip }, () => {
  let tmp: TempDir;
  let audio = "";
  let engine: Engine | undefined;
  let words: TranscriptWord[] = [];
  let segments: TranscriptSegment[] = [];

  before(async () => {
    tmp = await makeTempDir("subtitle-layout-real-");
    audio = await readingWithPauses(tmp.dir);
    engine = await createPocketSphinxEngineFactory()();
    const output = await transcribeMedia({ mediaPath: audio, language: "en", engines: [engine], signal: new AbortController().signal });
    segments = output.transcription.segments;
    words = orderedWords(segments);
  });
  after(async () => {
    await engine?.close();
    await tmp.cleanup();
  });

  const layouts: { name: string; cueRules: CueRules; expected: ExpectedRules }[] = [
    { name: "defaults (42 × 2)", cueRules: {}, expected: NETFLIX_RULES },
    { name: "30 × 1", cueRules: { maxLineChars: 30, maxLines: 1 }, expected: { ...NETFLIX_RULES, maxLineChars: 30, maxLines: 1 } },
  ];
  for (const layout of layouts) {
    it(`SRT and VTT cues parsed back keep every rule with ${layout.name}`, (t) => {
      assert.ok(words.length > 40, `only ${words.length} words recognised`);
      const built = buildCues(segments, layout.cueRules);
      const fromSrt = parseSrt(renderSrt(built));
      const fromVtt = parseVtt(renderVtt(built));
      assert.deepEqual(fromSrt, built);
      assert.deepEqual(fromVtt, built);
      assertRules(fromSrt, words, layout.expected, "srt");
      assertRules(fromVtt, words, layout.expected, "vtt");
      // The 2 s silence ends a cue; the 0.3 s one is chained or spanned.
      assert.ok(fromSrt.length >= 4, `${fromSrt.length} cues`);
      t.diagnostic(fromSrt.slice(0, 4).map((cue) => `${cue.startS}–${cue.endS} ${cue.lines.join(" / ")}`).join(" | "));
    });
  }
});

describe("subtitle layout through the APIs (/v2 output_config.srt_overrides, tRPC subtitles)", { skip }, () => {
  let t: TestApp;
  let tmp: TempDir;
  let audio = "";

  before(async () => {
    t = await startTestApp("sqlite");
    tmp = await makeTempDir("subtitle-layout-api-");
    audio = await readingWithPauses(tmp.dir);
  });
  after(async () => {
    await t.close();
    await tmp.cleanup();
  });

  it("lays out the job's srt and vtt with its max_line_length and max_lines", async () => {
    const config = { type: "transcription", transcription_config: { language: "en" }, output_config: { srt_overrides: { max_line_length: 30, max_lines: 1 } } };
    const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(audio, config) });
    assert.equal(response.status, 201, await response.clone().text());
    const { id } = (await response.json()) as { id: string };
    const job = await waitForV2Job(t.baseUrl, id, 120_000);
    assert.equal(job.status, "DONE");
    assert.deepEqual(job.config, config);

    const transcript = (await (await fetch(`${t.baseUrl}/v2/jobs/${id}/transcript?format=json-v2`)).json()) as { results: { start_time: number; end_time: number; alternatives: { content: string }[] }[] };
    const words = transcript.results.map((result) => ({ text: result.alternatives[0]!.content, startS: result.start_time, endS: result.end_time, confidence: 1 }));
    const expected = { ...NETFLIX_RULES, maxLineChars: 30, maxLines: 1 };
    const srt = parseSrt(await (await fetch(`${t.baseUrl}/v2/jobs/${id}/transcript?format=srt`)).text());
    const vtt = parseVtt(await (await fetch(`${t.baseUrl}/v2/jobs/${id}/transcript?format=vtt`)).text());
    assertRules(srt, words, expected, "srt");
    assert.deepEqual(vtt, srt);
    // The option did something: the default layout would put more than 30 characters on some line.
    assert.ok(srt.every((cue) => cue.lines.length === 1));
    const defaults = buildCues([{ startS: 0, endS: 0, text: "", words }]);
    assert.ok(defaults.some((cue) => cue.lines.some((line) => line.length > 30)), "the default layout already fits 30 × 1");
  });

  it("rejects srt_overrides out of range with 400 naming the field", async () => {
    const bad: [unknown, RegExp][] = [
      [{ max_line_length: 0 }, /max_line_length must be an integer from 1 to 200/],
      [{ max_line_length: 12.5 }, /max_line_length must be an integer from 1 to 200/],
      [{ max_lines: 11 }, /max_lines must be an integer from 1 to 10/],
      [{ max_lines: "2" }, /max_lines must be an integer from 1 to 10/],
    ];
    for (const [overrides, message] of bad) {
      const config = { type: "transcription", transcription_config: { language: "en" }, output_config: { srt_overrides: overrides } };
      const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(librivoxClips()[1]!.path, config) });
      assert.equal(response.status, 400, JSON.stringify(overrides));
      assert.match(await response.text(), message);
    }
  });

  it("tRPC: create and createBatch take a subtitles layout, validated", async () => {
    const caller = createCaller({ app: t.app, principal: OPERATOR });
    const media = await t.app.media.ingest(createReadStream(audio), { originalName: "reading.wav", contentType: "audio/wav" });
    await assert.rejects(caller.jobs.create({ mediaFileId: media.id, subtitles: { maxLines: 0 } }), (error: unknown) => error instanceof TRPCError && error.code === "BAD_REQUEST");
    const job = await caller.jobs.create({ mediaFileId: media.id, subtitles: { maxLineChars: 20, maxLines: 1 } });
    for (let status = job.status; status !== "DONE"; status = (await caller.jobs.get({ id: job.id })).job.status) {
      assert.notEqual(status, "FAILED");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cues = parseSrt((await caller.jobs.transcript({ id: job.id, format: "srt" })).body);
    assert.ok(cues.length > 0);
    for (const cue of cues) {
      assert.equal(cue.lines.length, 1);
      assert.ok(cue.lines[0]!.length <= 20 || !cue.lines[0]!.includes(" "), cue.lines[0]);
    }
    const batch = await caller.jobs.createBatch({ mediaFileIds: [media.id], type: "batch_generate_srt", subtitles: { maxLines: 3 } });
    const children = await caller.jobs.list({ parentId: batch.id, limit: 10 });
    assert.deepEqual((children.jobs[0]!.params as { subtitles?: unknown }).subtitles, { maxLines: 3 });
  });
});
