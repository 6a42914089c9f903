import { OPERATOR } from "../../src/server/access";
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Readable } from "node:stream";
import { TRPCError } from "@trpc/server";
import { createCaller } from "../../src/server/api/trpc/root";
import type { MediaFile } from "../../src/server/db/models";
import { exportJobOutputs } from "../../src/server/services/export-outputs";
import { readThroughput } from "../../src/server/services/throughput";
import { parseSrt, renderSrt } from "../../src/server/subtitles/srt";
import { librivoxClips, makeTempDir } from "../helpers/fixtures";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { toneWav } from "../helpers/wav";

const clips = librivoxClips();

/** Resolves when `promise` rejects with a TRPCError of `code` whose message matches `message`. */
function rejectsWith(promise: Promise<unknown>, code: TRPCError["code"], message?: RegExp): Promise<void> {
  return assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TRPCError, String(error));
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

let rowCounter = 0;

for (const provider of TEST_PROVIDERS) {
  describe(`edited subtitles on ${provider}`, () => {
    let t: TestApp;
    let caller: ReturnType<typeof createCaller>;
    let jobId: string;
    /** The recogniser's renderings, before any edit. */
    const original: Record<"srt" | "vtt" | "txt" | "json" | "json-v2", string> = { srt: "", vtt: "", txt: "", json: "", "json-v2": "" };

    before(async () => {
      // fix_srt jobs queued below must fail fast instead of calling a real LLM.
      t = await startTestApp(provider, { OPENAI_BASE_URL: "http://127.0.0.1:9/v1", OPENAI_API_KEY: "test", LLM_MAX_RETRIES: "0", JOB_MAX_ATTEMPTS: "1" });
      caller = createCaller({ app: t.app, principal: OPERATOR });
      const media = await t.app.media.ingest(createReadStream(clips[0]!.path), { originalName: "clip.wav", contentType: "audio/wav" });
      const job = await caller.jobs.create({ mediaFileId: media.id, type: "generate_srt", language: "en" });
      const settled = await t.app.jobs.waitForSettled(job.id, 90_000);
      assert.equal(settled.status, "DONE", settled.failureReason ?? "");
      jobId = job.id;
      for (const format of Object.keys(original) as (keyof typeof original)[]) {
        const transcript = await caller.jobs.transcript({ id: jobId, format });
        assert.equal(transcript.editedAt, null);
        original[format] = transcript.body;
      }
      assert.ok(parseSrt(original.srt).length >= 2, "the clip (113 characters of speech) gives at least two cues to edit");
    });
    after(() => t.close());

    /** The original cues with the first one's text and end changed, written the way a hand-edited file may be (CRLF, gaps in numbering). */
    const editedFile = () => {
      const cues = parseSrt(original.srt);
      cues[0] = { ...cues[0]!, lines: ["Edited first cue,", "  second line  "], endS: cues[0]!.endS + 0.25 };
      const text = cues.map((cue, i) => `${(i + 1) * 10}\r\n${srtTime(cue.startS)} --> ${srtTime(cue.endS)}\r\n${cue.lines.join("\r\n")}\r\n`).join("\r\n");
      const normalised = renderSrt(cues.map((cue, i) => ({ index: i + 1, startS: cue.startS, endS: cue.endS, lines: cue.lines.map((line) => line.trim()) })));
      return { text, normalised, count: cues.length };
    };

    it("serves the saved edit as srt, vtt and txt over tRPC, REST, the async API, exports and fix_srt; json keeps the recogniser's words", async () => {
      const { text, normalised, count } = editedFile();
      const before = Date.now();
      const saved = await caller.jobs.saveSubtitles({ id: jobId, srt: text });
      assert.equal(saved.cues, count);
      assert.ok(saved.editedAt instanceof Date && saved.editedAt.getTime() >= before);

      const srt = await caller.jobs.transcript({ id: jobId, format: "srt" });
      assert.equal(srt.body, normalised, "stored in renderSrt's normal form, renumbered from 1");
      assert.match(srt.body, /^1\n\d\d:\d\d:\d\d,\d{3} --> .*\nEdited first cue,\nsecond line\n\n2\n/);
      assert.deepEqual(srt.editedAt, saved.editedAt);
      const vtt = await caller.jobs.transcript({ id: jobId, format: "vtt" });
      assert.match(vtt.body, /^WEBVTT\n\n1\n.* --> .*\nEdited first cue,\nsecond line\n/);
      const txt = await caller.jobs.transcript({ id: jobId, format: "txt" });
      assert.equal(txt.body.split("\n")[0], "Edited first cue, second line");
      assert.equal(txt.body.split("\n").length, count + 1, "one line per cue and a final newline");
      for (const format of ["json", "json-v2"] as const) {
        assert.equal((await caller.jobs.transcript({ id: jobId, format })).body, original[format], `${format} keeps the recogniser's output`);
      }

      const rest = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=srt`);
      assert.equal(rest.status, 200);
      assert.equal(await rest.text(), normalised);
      assert.match(await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=txt`)).text(), /^Edited first cue, second line\n/);
      const asyncJob = (await (await fetch(`${t.baseUrl}/transcribe-job/transcribe-${jobId}`)).json()) as { transcript: string };
      assert.match(asyncJob.transcript, /^Edited first cue, second line /);

      const out = await makeTempDir();
      try {
        await exportJobOutputs(t.app.jobs, out.dir, jobId);
        assert.equal(await fs.readFile(path.join(out.dir, jobId, "transcript.srt"), "utf8"), normalised);
        assert.equal(await fs.readFile(path.join(out.dir, jobId, "transcript.json"), "utf8"), original.json);
      } finally {
        await out.cleanup();
      }

      const fix = await caller.jobs.createFixSrt({ sourceJobId: jobId });
      const fixMedia = await t.app.media.get(fix.media!.id);
      assert.equal((await t.app.media.read(fixMedia)).toString("utf8"), normalised, "fix_srt corrects the edited subtitles");
      // The LLM endpoint is down: let the job fail before the app closes.
      assert.equal((await t.app.jobs.waitForSettled(fix.id, 60_000)).status, "FAILED");

      const log = await caller.jobs.log({ id: jobId });
      assert.ok(log.some((line) => line.message === `Subtitles edited: ${count} cues saved`));
    });

    it("refuses subtitles that do not parse or cannot be shown, naming the line or cue, and keeps the saved edit", async () => {
      const { editedAt } = await caller.jobs.transcript({ id: jobId, format: "srt" });
      const cue = (n: number, timing: string, text: string) => `${n}\n${timing}\n${text}\n`;
      await rejectsWith(caller.jobs.saveSubtitles({ id: jobId, srt: "1\nnot a timing line\nhello\n" }), "BAD_REQUEST", /Invalid SRT at line 2: expected a timing line/);
      await rejectsWith(caller.jobs.saveSubtitles({ id: jobId, srt: `${cue(1, "00:00:01,000 --> 00:00:02,000", "ok")}\n${cue(2, "00:00:05,000 --> 00:00:04,000", "backwards")}` }), "BAD_REQUEST", /line 6/);
      await rejectsWith(caller.jobs.saveSubtitles({ id: jobId, srt: "\n\n" }), "BAD_REQUEST", /no cues/);
      await rejectsWith(
        caller.jobs.saveSubtitles({ id: jobId, srt: `${cue(1, "00:00:01,000 --> 00:00:02,000", "ok")}\n${cue(2, "00:00:03,000 --> 00:00:03,000", "zero length")}` }),
        "BAD_REQUEST",
        /^Cue 2 ends at or before its start/,
      );
      await rejectsWith(
        caller.jobs.saveSubtitles({ id: jobId, srt: `${cue(1, "00:00:01,000 --> 00:00:02,000", "ok")}\n7\n00:00:03,000 --> 00:00:04,000\n\n` }),
        "BAD_REQUEST",
        /^Cue 2 \(numbered 7 in the file\) has no text/,
      );
      assert.deepEqual((await caller.jobs.transcript({ id: jobId, format: "srt" })).editedAt, editedAt, "a refused save changes nothing");
    });

    it("refuses edits of unknown, unfinished and non-transcription jobs", async () => {
      const srt = "1\n00:00:01,000 --> 00:00:02,000\nhello\n";
      await rejectsWith(caller.jobs.saveSubtitles({ id: "missing", srt }), "NOT_FOUND");
      // Rows written directly: never handed to the dispatcher, they stay as written.
      const queued = await insertJob(t, { type: "transcribe", status: "QUEUED", finishedAt: null });
      await rejectsWith(caller.jobs.saveSubtitles({ id: queued, srt }), "CONFLICT", /is QUEUED; its subtitles can be edited once it is DONE/);
      await rejectsWith(caller.jobs.discardSubtitleEdits({ id: queued }), "CONFLICT");
      const convert = await insertJob(t, { type: "convert", status: "DONE", finishedAt: new Date() });
      await rejectsWith(caller.jobs.saveSubtitles({ id: convert, srt }), "BAD_REQUEST", /is a convert job; only transcribe and generate_srt jobs/);
      const batch = await insertJob(t, { type: "batch_transcribe", status: "DONE", finishedAt: new Date() });
      await rejectsWith(caller.jobs.saveSubtitles({ id: batch, srt }), "BAD_REQUEST");
    });

    it("discards the edit: every format is the recogniser's again", async () => {
      assert.deepEqual(await caller.jobs.discardSubtitleEdits({ id: jobId }), { ok: true });
      for (const format of Object.keys(original) as (keyof typeof original)[]) {
        const transcript = await caller.jobs.transcript({ id: jobId, format });
        assert.equal(transcript.body, original[format], format);
        assert.equal(transcript.editedAt, null);
      }
      assert.equal(await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=srt`)).text(), original.srt);
      const log = await caller.jobs.log({ id: jobId });
      assert.equal(log.filter((line) => line.message === "Subtitle edits discarded").length, 1);
      await caller.jobs.discardSubtitleEdits({ id: jobId });
      assert.equal((await caller.jobs.log({ id: jobId })).filter((line) => line.message === "Subtitle edits discarded").length, 1, "nothing to discard, nothing logged");
    });
  });

  describe(`throughput history on ${provider}`, () => {
    let t: TestApp;
    let caller: ReturnType<typeof createCaller>;

    before(async () => {
      t = await startTestApp(provider);
      caller = createCaller({ app: t.app, principal: OPERATOR });
    });
    after(() => t.close());

    it("buckets finished single jobs by finishedAt, with seconds of media done", async () => {
      // Two days ahead of the clock, so none of these rows falls in a window ending now.
      const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * 86_400_000);
      const at = (secondsBefore: number) => new Date(now.getTime() - secondsBefore * 1000);
      const media = async (durationS: number) => (await storeMedia(t, durationS)).id;
      const rows: [string, string, Date | null, number | null][] = [
        ["transcribe", "DONE", at(3590), 12.5], // bucket 0
        ["generate_srt", "DONE", at(3000), 2.25], // bucket 1: a bucket's start is inclusive
        ["transcribe", "FAILED", at(1000), 100], // bucket 4: failed, no audio counted
        ["convert", "DONE", at(10), null], // bucket 5: no media
        ["transcribe", "DONE", now, 1.5], // bucket 5: the window's end is inclusive
        ["batch_transcribe", "DONE", at(100), null], // a batch parent: its children count instead
        ["transcribe", "DONE", at(3601), 7], // before the window
        ["transcribe", "DONE", at(-1), 7], // after now
        ["transcribe", "CANCELLED", at(50), 7], // neither done nor failed
        ["transcribe", "QUEUED", null, 7],
      ];
      for (const [type, status, finishedAt, durationS] of rows) {
        await insertJob(t, { type, status, finishedAt, mediaFileId: durationS === null ? null : await media(durationS) });
      }
      const result = await readThroughput(t.app.database.prisma, { windowMinutes: 60, buckets: 6 }, now);
      assert.equal(result.windowMinutes, 60);
      assert.equal(result.bucketMs, 600_000);
      assert.deepEqual(
        result.buckets.map((bucket) => [bucket.start.getTime() - now.getTime(), bucket.done, bucket.failed, bucket.audioS]),
        [
          [-3_600_000, 1, 0, 12.5],
          [-3_000_000, 1, 0, 2.25],
          [-2_400_000, 0, 0, 0],
          [-1_800_000, 0, 0, 0],
          [-1_200_000, 0, 1, 0],
          [-600_000, 2, 0, 1.5],
        ],
      );
    });

    it("answers system.throughput over the window ending now, validating its input", async () => {
      const ago = (seconds: number) => new Date(Date.now() - seconds * 1000);
      await insertJob(t, { type: "transcribe", status: "DONE", finishedAt: ago(150), mediaFileId: (await storeMedia(t, 3)).id });
      await insertJob(t, { type: "transcribe", status: "FAILED", finishedAt: ago(270) });
      await insertJob(t, { type: "transcribe", status: "DONE", finishedAt: ago(400) });
      const result = await caller.system.throughput({ windowMinutes: 5, buckets: 5 });
      assert.equal(result.bucketMs, 60_000);
      assert.equal(result.buckets.length, 5);
      assert.ok(result.buckets.every((bucket) => bucket.start instanceof Date));
      // 150 s and 270 s ago, in a window that started 300 s (and the test's few ms) ago.
      assert.deepEqual(
        result.buckets.map((bucket) => [bucket.done, bucket.failed, bucket.audioS]),
        [
          [0, 1, 0],
          [0, 0, 0],
          [1, 0, 3],
          [0, 0, 0],
          [0, 0, 0],
        ],
      );
      const defaults = await caller.system.throughput();
      assert.equal(defaults.windowMinutes, 60);
      assert.equal(defaults.buckets.length, 30);
      assert.equal(defaults.buckets.reduce((sum, bucket) => sum + bucket.done, 0), 2);
      await rejectsWith(caller.system.throughput({ windowMinutes: 4 }), "BAD_REQUEST");
      await rejectsWith(caller.system.throughput({ windowMinutes: 1441 }), "BAD_REQUEST");
      await rejectsWith(caller.system.throughput({ buckets: 121 }), "BAD_REQUEST");
    });
  });
}

describe("media playback endpoint", () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps) await app.close();
  });

  const bytes = toneWav({ durationS: 1.5, frequencyHz: 330 });
  const setup = async (env: Record<string, string> = {}, originalName = "tone.wav") => {
    const t = await startTestApp("sqlite", env);
    apps.push(t);
    const media = await t.app.media.ingest(Readable.from([bytes]), { originalName, contentType: "audio/wav" });
    return { t, url: `${t.baseUrl}/api/media/${media.id}/content` };
  };
  const size = bytes.length;

  it("answers byte ranges with 206 and the exact bytes, and unsatisfiable ones with 416", async () => {
    const { url } = await setup();
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("accept-ranges"), "bytes");
    assert.equal(whole.headers.get("content-length"), String(size));
    assert.equal(whole.headers.get("content-type"), "audio/wav");
    assert.equal(whole.headers.get("content-disposition"), 'attachment; filename="tone.wav"');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);

    const cases: [string, number, number][] = [
      ["bytes=0-99", 0, 99],
      ["bytes=100-", 100, size - 1],
      ["bytes=-50", size - 50, size - 1],
      ["bytes=1000-1000", 1000, 1000],
      ["bytes=10-99999999", 10, size - 1],
      [`bytes=-${size + 10}`, 0, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const response = await fetch(url, { headers: { range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get("content-range"), `bytes ${start}-${end}/${size}`, range);
      assert.equal(response.headers.get("content-length"), String(end - start + 1), range);
      assert.equal(response.headers.get("accept-ranges"), "bytes", range);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes.subarray(start, end + 1), range);
    }

    for (const range of [`bytes=${size}-`, `bytes=${size + 5}-${size + 10}`, "bytes=-0"]) {
      const response = await fetch(url, { headers: { range } });
      assert.equal(response.status, 416, range);
      assert.equal(response.headers.get("content-range"), `bytes */${size}`, range);
      assert.equal((await response.arrayBuffer()).byteLength, 0);
    }

    // Several ranges, a reversed one, another unit: the whole file.
    for (const range of ["bytes=0-1,5-6", "bytes=9-3", "items=0-5"]) {
      const response = await fetch(url, { headers: { range } });
      assert.equal(response.status, 200, range);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes, range);
    }
  });

  it("answers HEAD with the headers only, and plays inline on request", async () => {
    const { url } = await setup({}, "tōne \"take\" 1.wav");
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(size));
    assert.equal(head.headers.get("accept-ranges"), "bytes");
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const headRange = await fetch(url, { method: "HEAD", headers: { range: "bytes=0-9" } });
    assert.equal(headRange.status, 206);
    assert.equal(headRange.headers.get("content-length"), "10");

    const inline = await fetch(`${url}?disposition=inline`);
    assert.equal(inline.status, 200);
    assert.equal(inline.headers.get("content-disposition"), `inline; filename="t_ne _take_ 1.wav"; filename*=UTF-8''t%C5%8Dne%20%22take%22%201.wav`);
    await inline.arrayBuffer();
    const attachment = await fetch(url);
    assert.match(attachment.headers.get("content-disposition") ?? "", /^attachment; /);
    await attachment.arrayBuffer();
    const bad = await fetch(`${url}?disposition=download`);
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
  });

  it("with API_KEYS, takes the key as a bearer token or as ?access_token= on this route only", async () => {
    const { t, url } = await setup({ API_KEYS: "key-one,key-two" });
    const status = async (target: string, headers: Record<string, string> = {}) => {
      const response = await fetch(target, { headers });
      await response.arrayBuffer();
      return response.status;
    };
    assert.equal(await status(url), 401);
    assert.equal(await status(url, { authorization: "Bearer key-two" }), 200);
    assert.equal(await status(`${url}?access_token=key-one`), 200);
    assert.equal(await status(`${url}?access_token=key-one&disposition=inline`, { range: "bytes=0-3" }), 206);
    assert.equal(await status(`${url}?access_token=key-on`), 401);
    assert.equal(await status(`${url}?access_token=`), 401);
    assert.equal(await status(url, { authorization: "Bearer wrong" }), 401);
    assert.equal(await status(`${url}?access_token=key-one`, { authorization: "Bearer wrong" }), 401, "a wrong header is not rescued by the query");
    assert.equal(await status(`${t.baseUrl}/v2/jobs?access_token=key-one`), 401, "other routes want the header");
    assert.equal(await status(`${t.baseUrl}/api/trpc/system.capacity?access_token=key-one`), 401);
  });
});

/** SRT timestamp, for writing files by hand. */
function srtTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const pad = (value: number, width = 2) => String(value).padStart(width, "0");
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)},${pad(ms % 1000, 3)}`;
}

/** A media row of the given duration (its bytes are a short tone; only the row's duration matters here). */
function storeMedia(t: TestApp, durationS: number): Promise<MediaFile> {
  return t.app.media.storeOutput(toneWav({ durationS: 0.01, frequencyHz: 200 + ++rowCounter }), { originalName: `media-${rowCounter}.wav`, contentType: "audio/wav" }, {
    format: "wav",
    durationS,
    sampleRateHz: 16_000,
    channels: 1,
    audioCodec: "pcm_s16le",
    hasAudio: true,
  });
}

/** Writes a job row as it would look in that state, bypassing the dispatcher. Returns its id. */
async function insertJob(t: TestApp, row: { type: string; status: string; finishedAt: Date | null; mediaFileId?: string | null }): Promise<string> {
  const id = `test-${process.pid}-${++rowCounter}`;
  await t.app.database.prisma.job.create({
    data: { id, type: row.type, status: row.status, params: "{}", mediaFileId: row.mediaFileId ?? null, finishedAt: row.finishedAt, startedAt: row.finishedAt },
  });
  return id;
}
