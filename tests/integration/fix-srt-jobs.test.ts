import { OPERATOR } from "../../src/server/access";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createCaller } from "../../src/server/api/trpc/root";
import { toneWav } from "../helpers/wav";
import { startFakeOpenAiServer, requestedCues, type ChatRequest, type FakeOpenAiServer, type ScriptedReply } from "../helpers/fake-openai-server";
import { startTestApp, type TestApp } from "../helpers/test-app";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** An SRT with ASR-style mistakes; `seed` makes every file's bytes (and so its blob) distinct. */
function srtFile(count: number, seed: number): string {
  return Array.from({ length: count }, (_, i) => {
    const s = 1 + i * 3;
    const stamp = (t: number) => `00:00:${String(t % 60).padStart(2, "0")},${String((seed * 7 + i) % 1000).padStart(3, "0")}`;
    return `${i + 1}\n${stamp(s)} --> ${stamp(s + 2)}\nteh cue ${i + 1} of file ${seed}\n`;
  }).join("\n");
}

const timingLines = (srt: string) => srt.split("\n").filter((line) => line.includes("-->"));
const good = (request: ChatRequest) => JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: cue.text.replace("teh", "The") })) });

describe("fix_srt and batch_fix_srt jobs", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const setup = async (limit: number, script: (request: ChatRequest, n: number) => ScriptedReply, env: Record<string, string> = {}) => {
    const llm: FakeOpenAiServer = await startFakeOpenAiServer(script);
    const t: TestApp = await startTestApp("sqlite", { OPENAI_BASE_URL: llm.baseURL, OPENAI_API_KEY: "test", MAX_LLM_CONCURRENCY: String(limit), LLM_MODEL: "stand-in-model", ...env });
    cleanups.push(() => llm.close(), () => t.close());
    const upload = async (name: string, text: string) => {
      const form = new FormData();
      form.append("file", new Blob([text]), name);
      const response = await fetch(`${t.baseUrl}/api/uploads`, { method: "POST", body: form });
      return { status: response.status, body: (await response.json()) as { media?: { id: string; format: string }; detail?: string; error?: string } };
    };
    return { llm, t, caller: createCaller({ app: t.app, principal: OPERATOR }), upload };
  };

  for (const limit of [1, 4]) {
    it(`runs a batch of 40 SRT files with at most ${limit} LLM requests in flight; timings unchanged, broken replies kept out`, async () => {
      const seen = new Set<string>();
      const { llm, t, caller, upload } = await setup(limit, (request) => {
        const key = requestedCues(request)[0]!.text;
        if (!seen.has(key)) {
          seen.add(key);
          // First reply per window: broken structure (a cue dropped) — must be rejected.
          return { kind: "content", content: JSON.stringify({ cues: requestedCues(request).slice(1) }), delayMs: 10 };
        }
        return { kind: "content", content: good(request), delayMs: 10 };
      });
      const files = Array.from({ length: 40 }, (_, i) => srtFile(8, i));
      const ids: string[] = [];
      for (const [i, text] of files.entries()) {
        const { status, body } = await upload(`file-${i}.srt`, text);
        assert.equal(status, 201, JSON.stringify(body));
        assert.equal(body.media!.format, "srt");
        ids.push(body.media!.id);
      }
      const batch = await caller.jobs.createBatch({ mediaFileIds: ids, type: "batch_fix_srt", systemMessage: "Keep British spelling." });
      const settled = await t.app.jobs.waitForSettled(batch.id, 120_000);
      assert.equal(settled.status, "DONE");
      assert.ok(llm.peakInFlight() <= limit, `peak ${llm.peakInFlight()} > ${limit}`);
      assert.ok(llm.requests.every((request) => request.model === "stand-in-model" && request.messages[0]!.content.includes("Keep British spelling.")));
      assert.ok(llm.requests.every((request) => request.response_format?.type === "json_schema"));
      const { batch: summary } = await caller.jobs.get({ id: batch.id });
      assert.equal(summary!.done, 40);
      for (const [i, childId] of summary!.childIds.entries()) {
        const child = await t.app.jobs.get(childId);
        const result = child.result as { outputMediaFileId: string; changed: number; changes: { before: string; after: string }[]; warnings: string[] };
        assert.equal(result.changed, 8);
        assert.deepEqual(result.warnings, []);
        assert.equal(result.changes[0]!.before, `teh cue 1 of file ${i}`);
        const output = (await t.app.media.read(await t.app.media.get(result.outputMediaFileId))).toString("utf8");
        assert.deepEqual(timingLines(output), timingLines(files[i]!), "timings byte for byte");
        assert.doesNotMatch(output, /teh/);
      }
    });
  }

  it("refuses an SRT that does not parse and an empty one at upload, and fix_srt on a media file", async () => {
    const { caller, upload } = await setup(2, (request) => ({ kind: "content", content: good(request) }));
    const broken = await upload("broken.srt", "1\nnot a timing line\nhello\n");
    assert.equal(broken.status, 400);
    assert.match(broken.body.detail ?? broken.body.error ?? "", /timing line/);
    const empty = await upload("empty.srt", "\n\n");
    assert.equal(empty.status, 400);
    assert.match(empty.body.detail ?? empty.body.error ?? "", /no cues|empty/);
    const text = await upload("notes.txt", "hello");
    assert.equal(text.status, 400, "a file that is neither media nor SRT is refused");
    await assert.rejects(caller.jobs.createFixSrt({ mediaFileId: "missing" }), /not found/i);
  });

  it("corrects the SRT a finished transcription produced", async () => {
    const { t, caller, llm } = await setup(2, (request) => ({ kind: "content", content: JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: cue.text.replace(/^word/, "Word") })) }) }), {
      ASR_ENGINE_MODULE: path.join(ROOT, "bench/instant-engine.ts"),
    });
    const media = await t.app.media.ingest(Readable.from([toneWav({ durationS: 3 })]), { originalName: "speech.wav", contentType: "audio/wav" });
    const transcription = await caller.jobs.create({ mediaFileId: media.id, language: "en" });
    assert.equal((await t.app.jobs.waitForSettled(transcription.id, 30_000)).status, "DONE");
    const job = await caller.jobs.createFixSrt({ sourceJobId: transcription.id });
    const settled = await t.app.jobs.waitForSettled(job.id, 30_000);
    assert.equal(settled.status, "DONE", settled.failureReason ?? "");
    const result = settled.result as { outputMediaFileId: string; changed: number };
    assert.ok(result.changed > 0);
    const original = (await caller.jobs.transcript({ id: transcription.id, format: "srt" })).body;
    const output = (await t.app.media.read(await t.app.media.get(result.outputMediaFileId))).toString("utf8");
    assert.deepEqual(timingLines(output), timingLines(original));
    assert.match(output, /^Word/m);
    assert.equal(llm.requests.length, 1);
    await assert.rejects(caller.jobs.createFixSrt({ sourceJobId: transcription.id, mediaFileId: media.id }), /either mediaFileId/);
    await assert.rejects(caller.jobs.createFixSrt({ mediaFileId: media.id }), /fix_srt needs an SRT file/);
  });

  it("fails the job with the reason when the LLM endpoint is down, and leaves the server serving", async () => {
    const { t, caller, upload } = await setup(2, (request) => ({ kind: "content", content: good(request) }), { OPENAI_BASE_URL: "http://127.0.0.1:9/v1", LLM_MAX_RETRIES: "1", JOB_MAX_ATTEMPTS: "1" });
    const { body } = await upload("down.srt", srtFile(3, 99));
    const job = await caller.jobs.createFixSrt({ mediaFileId: body.media!.id });
    const settled = await t.app.jobs.waitForSettled(job.id, 60_000);
    assert.equal(settled.status, "FAILED");
    assert.match(settled.failureReason ?? "", /The LLM endpoint http:\/\/127\.0\.0\.1:9\/v1 failed: Connection error/);
    assert.equal((await fetch(`${t.baseUrl}/live`)).status, 200);
    // Job listings of the other APIs still answer with a fix_srt job among the jobs.
    assert.equal((await fetch(`${t.baseUrl}/v2/jobs`)).status, 200);
    assert.equal((await fetch(`${t.baseUrl}/transcribe-jobs`)).status, 200);
    assert.equal((await fetch(`${t.baseUrl}/v2/jobs/${job.id}`)).status, 200);
  });
});
