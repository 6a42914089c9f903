import { OPERATOR } from "../../src/server/access";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Readable } from "node:stream";
import { createCaller } from "../../src/server/api/trpc/root";
import { startFakeOpenAiServer, requestedCues, type ChatRequest, type FakeOpenAiServer, type ScriptedReply } from "../helpers/fake-openai-server";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";

const SRT = "1\n00:00:01,000 --> 00:00:03,000\nteh first cue\n\n2\n00:00:04,000 --> 00:00:06,000\nteh second cue\n";
const RETRY_BASE_MS = 200;

const corrected = (request: ChatRequest): ScriptedReply => ({ kind: "content", content: JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: cue.text.replace("teh", "The") })) }) });

/**
 * A job whose attempt fails for a passing reason runs again after a backoff, in the same
 * process, without a restart; one whose every attempt fails ends FAILED with the last reason.
 * Each attempt makes one LLM request (LLM_MAX_RETRIES=0), so the stand-in's script decides
 * each attempt's fate.
 */
for (const provider of TEST_PROVIDERS) {
  describe(`retries with backoff on ${provider}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    const setup = async (script: (request: ChatRequest, n: number) => ScriptedReply) => {
      const llm: FakeOpenAiServer = await startFakeOpenAiServer(script);
      const t: TestApp = await startTestApp(provider, {
        OPENAI_BASE_URL: llm.baseURL,
        OPENAI_API_KEY: "test",
        LLM_MAX_RETRIES: "0",
        JOB_MAX_ATTEMPTS: "3",
        JOB_RETRY_BASE_MS: String(RETRY_BASE_MS),
      });
      cleanups.push(() => llm.close(), () => t.close());
      const media = await t.app.media.ingest(Readable.from([Buffer.from(SRT)]), { originalName: "subs.srt", contentType: "application/x-subrip" });
      const job = await createCaller({ app: t.app, principal: OPERATOR }).jobs.createFixSrt({ mediaFileId: media.id });
      return { llm, t, job };
    };

    it("runs a fix_srt job again after its LLM endpoint failed twice, and it ends DONE; the log shows each attempt and its backoff", async () => {
      const { llm, t, job } = await setup((request, n) => (n <= 2 ? { kind: "error", status: 500 } : corrected(request)));
      const settled = await t.app.jobs.waitForSettled(job.id, 60_000);
      assert.equal(settled.status, "DONE", settled.failureReason ?? "");
      assert.equal(llm.requests.length, 3);
      assert.equal(settled.attempts, 3);

      const log = await t.app.jobs.log(job.id);
      const lines = log.map((line) => line.message);
      const started = log.filter((line) => /^Attempt \d started/.test(line.message));
      const failed = log.filter((line) => /^Attempt \d of 3 failed, will retry in \d+\.\d s: The LLM endpoint .* failed: 500/.test(line.message));
      assert.deepEqual(started.map((line) => line.message.slice(0, 9)), ["Attempt 1", "Attempt 2", "Attempt 3"], lines.join("\n"));
      assert.equal(failed.length, 2, lines.join("\n"));
      assert.equal(lines.at(-1), "Done");
      // Each retry waited out its backoff: at least half the exponential delay (the jitter's floor).
      for (const [index, failure] of failed.entries()) {
        const next = started[index + 1]!;
        const floorMs = (RETRY_BASE_MS * 2 ** index) / 2;
        assert.ok(next.at.getTime() - failure.at.getTime() >= floorMs - 5, `attempt ${index + 2} started ${next.at.getTime() - failure.at.getTime()} ms after the failure, before its backoff of at least ${floorMs} ms`);
      }
    });

    it("fails the job with the last reason once every attempt has failed", async () => {
      const { llm, t, job } = await setup((_request, n) => ({ kind: "error", status: n === 3 ? 503 : 500 }));
      const settled = await t.app.jobs.waitForSettled(job.id, 60_000);
      assert.equal(settled.status, "FAILED");
      assert.equal(llm.requests.length, 3, "JOB_MAX_ATTEMPTS attempts, no more");
      assert.match(settled.failureReason ?? "", /^The LLM endpoint .* failed: 503 .*\(after 3 attempts\)$/);
      const lines = (await t.app.jobs.log(job.id)).map((line) => line.message);
      assert.equal(lines.filter((line) => /will retry in/.test(line)).length, 2);
      assert.match(lines.at(-1) ?? "", /^Failed: The LLM endpoint .* failed: 503/);
    });

    it("does not retry a refusal that no retry can change (a 401)", async () => {
      const { llm, t, job } = await setup(() => ({ kind: "error", status: 401 }));
      const settled = await t.app.jobs.waitForSettled(job.id, 60_000);
      assert.equal(settled.status, "FAILED");
      assert.equal(llm.requests.length, 1);
      assert.doesNotMatch(settled.failureReason ?? "", /after \d attempts/);
    });
  });
}
