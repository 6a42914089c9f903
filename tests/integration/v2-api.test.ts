import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseSrt } from "../../src/server/subtitles/srt";
import { librivoxClips } from "../helpers/fixtures";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { wordErrorRate } from "../helpers/wer";

const clip = librivoxClips()[0]!;

for (const provider of TEST_PROVIDERS) {
  describe(`batch worker API /v2 on ${provider}`, () => {
    let t: TestApp;
    let jobId: string;

    before(async () => {
      t = await startTestApp(provider);
    });
    after(() => t.close());

    it("accepts real speech with 201 and a job id, and the job reaches DONE", async () => {
      const response = await fetch(`${t.baseUrl}/v2/jobs`, {
        method: "POST",
        headers: { "X-SM-Processing-Data": JSON.stringify({ parallel_engines: 1, user_id: "user-1" }) },
        body: await v2JobForm(clip.path, { type: "transcription", transcription_config: { language: "en", operating_point: "enhanced" } }),
      });
      assert.equal(response.status, 201);
      const body = (await response.json()) as { job_id: string; id: string };
      assert.match(body.job_id, /^[0-9a-f]{20}$/);
      // The vendor's SDK reads `id`; seed 000 names it `job_id`: both are there.
      assert.equal(body.id, body.job_id);
      jobId = body.job_id;
      const job = await waitForV2Job(t.baseUrl, jobId);
      assert.equal(job.status, "DONE");
      assert.equal(job.data_name, `${clip.id}.wav`);
      assert.equal(job.duration, 7);
      assert.deepEqual(job.config, { type: "transcription", transcription_config: { language: "en", operating_point: "enhanced" } });
    });

    it("returns a txt transcript whose word error rate is below 0.5", async () => {
      const response = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=txt`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
      const wer = wordErrorRate(clip.reference, await response.text());
      assert.ok(wer < 0.5, `WER ${wer.toFixed(3)} should be below 0.5`);
    });

    it("returns an SRT that parses with monotonic timings", async () => {
      const response = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=srt`);
      assert.equal(response.status, 200);
      const cues = parseSrt(await response.text());
      assert.ok(cues.length > 0);
      let previousEnd = 0;
      cues.forEach((cue, index) => {
        assert.equal(cue.index, index + 1);
        assert.ok(cue.startS >= previousEnd - 1e-9, `cue ${cue.index} starts before the previous one ends`);
        assert.ok(cue.endS > cue.startS);
        assert.ok(cue.lines.every((line) => line.length <= 42), "lines stay within 42 characters");
        previousEnd = cue.endS;
      });
    });

    it("returns json-v2 (and json as its alias) with word timings", async () => {
      for (const format of ["json-v2", "json"]) {
        const response = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=${format}`);
        assert.equal(response.status, 200);
        const doc = (await response.json()) as { job: { id: string }; results: { type: string; start_time: number; end_time: number; alternatives: { content: string }[] }[] };
        assert.equal(doc.job.id, jobId);
        assert.ok(doc.results.length > 5);
        for (const result of doc.results) {
          assert.equal(result.type, "word");
          assert.ok(result.end_time >= result.start_time);
          assert.ok(result.alternatives[0]!.content.length > 0);
        }
      }
    });

    it("returns vtt", async () => {
      const response = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=vtt`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^WEBVTT/);
    });

    it("lists jobs with limit and created_before", async () => {
      const listed = (await (await fetch(`${t.baseUrl}/v2/jobs?limit=1`)).json()) as { jobs: { id: string; status: string }[] };
      assert.equal(listed.jobs.length, 1);
      assert.equal(listed.jobs[0]!.id, jobId);
      const before = (await (await fetch(`${t.baseUrl}/v2/jobs?created_before=2000-01-01T00:00:00Z`)).json()) as { jobs: unknown[] };
      assert.equal(before.jobs.length, 0);
      for (const bad of ["limit=0", "limit=101", "limit=abc", "created_before=yesterday"]) {
        const response = await fetch(`${t.baseUrl}/v2/jobs?${bad}`);
        assert.equal(response.status, 400, bad);
      }
    });

    it("returns the job with request_id, the processing log, and the vendor's lowercase statuses to Bearer clients", async () => {
      const details = (await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}`)).json()) as { job: { request_id: string; status: string } };
      assert.equal(details.job.request_id, jobId);
      assert.equal(details.job.status, "DONE");
      const vendor = (await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}`, { headers: { authorization: "Bearer any-key" } })).json()) as { job: { status: string } };
      assert.equal(vendor.job.status, "done");
      const log = await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}/log`)).text();
      assert.match(log, /Job accepted/);
      assert.match(log, /Attempt 1 started on 1 engine/);
      assert.match(log, /Done/);
    });

    it("deletes a job, after which it is 404", async () => {
      const response = await fetch(`${t.baseUrl}/v2/jobs/${jobId}`, { method: "DELETE" });
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { job: { status: string } }).job.status, "DELETED");
      const gone = await fetch(`${t.baseUrl}/v2/jobs/${jobId}`);
      assert.equal(gone.status, 404);
      assert.deepEqual(Object.keys((await gone.json()) as object).sort(), ["code", "detail", "error"]);
    });
  });
}
