import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { OPERATOR } from "../../src/server/access";
import { closeGate, GATED_ENGINE, openGate, resetStarted, whenStarted } from "../helpers/gated-engine";
import { startTestApp, waitForV2Job, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { toneWav } from "../helpers/wav";

/** POST /v2/jobs with a 2 s tone, as seed 000's clients send it. */
async function submit(baseUrl: string, engines = 1): Promise<Response> {
  const form = new FormData();
  form.append("config", JSON.stringify({ type: "transcription", transcription_config: { language: "en" } }));
  form.append("data_file", new Blob([new Uint8Array(toneWav({ durationS: 2 }))], { type: "audio/wav" }), "tone.wav");
  return fetch(`${baseUrl}/v2/jobs`, { method: "POST", headers: { "X-SM-Processing-Data": JSON.stringify({ parallel_engines: engines }) }, body: form });
}

async function activeJobs(baseUrl: string): Promise<{ job_id: string; parallel_engines: number }[]> {
  return ((await (await fetch(`${baseUrl}/jobs`)).json()) as { active_jobs: { job_id: string; parallel_engines: number }[] }).active_jobs;
}

for (const provider of TEST_PROVIDERS) {
  describe(`V2_WHEN_BUSY on ${provider} (one engine, its job held by the test)`, () => {
    // Whatever an assertion left behind, no transcription stays parked at the gate.
    afterEach(() => openGate());

    describe("reject (the default, seed 000's 503)", () => {
      let t: TestApp;
      before(async () => {
        t = await startTestApp(provider, { PARALLEL: "1", V2_WHEN_BUSY: "reject", ASR_ENGINE_MODULE: GATED_ENGINE });
      });
      after(() => t.close());

      it("answers 503 with the worker's message while the engine is taken, and the first job still finishes", async () => {
        closeGate();
        const first = await submit(t.baseUrl);
        assert.equal(first.status, 201);
        const { id } = (await first.json()) as { id: string };
        // Immediate admission reserves the engine before the 201, so this is not a race.
        assert.deepEqual(await activeJobs(t.baseUrl), [{ job_id: id, parallel_engines: 1 }]);

        const busy = await submit(t.baseUrl);
        assert.equal(busy.status, 503);
        assert.equal(((await busy.json()) as { detail: string }).detail, "Server busy: 1 engines not available (1 engines in use, 1 parallel allowed)");

        openGate();
        assert.equal((await waitForV2Job(t.baseUrl, id)).status, "DONE");
      });
    });

    describe("queue (SaaS-style clients)", () => {
      let t: TestApp;
      before(async () => {
        resetStarted();
        t = await startTestApp(provider, { PARALLEL: "1", V2_WHEN_BUSY: "queue", ASR_ENGINE_MODULE: GATED_ENGINE });
      });
      after(() => t.close());

      it("accepts a job while the engine is taken, shows it as running (the vendor has no queued state), and runs it when the engine frees", async () => {
        resetStarted();
        closeGate();
        const first = await submit(t.baseUrl);
        assert.equal(first.status, 201);
        const { id: firstId } = (await first.json()) as { id: string };
        await whenStarted(1);

        const second = await submit(t.baseUrl);
        assert.equal(second.status, 201);
        const body = (await second.json()) as { id: string; job_id: string };
        assert.equal(body.id, body.job_id);

        // Waiting for the engine, not on it: only the first job holds an engine.
        assert.deepEqual(await activeJobs(t.baseUrl), [{ job_id: firstId, parallel_engines: 1 }]);
        const waiting = (await (await fetch(`${t.baseUrl}/v2/jobs/${body.id}`)).json()) as { job: { status: string } };
        assert.equal(waiting.job.status, "RUNNING");
        const internal = await t.app.jobsFor(OPERATOR).get(body.id);
        assert.equal(internal.status, "QUEUED");

        openGate();
        assert.equal((await waitForV2Job(t.baseUrl, firstId)).status, "DONE");
        assert.equal((await waitForV2Job(t.baseUrl, body.id)).status, "DONE");
      });

      it("still refuses, with 400 and before the upload is used, a job asking for more engines than the server has", async () => {
        const response = await submit(t.baseUrl, 2);
        assert.equal(response.status, 400);
        assert.equal(((await response.json()) as { detail: string }).detail, "parallel_engines 2 exceeds the 1 engines of this server");
      });
    });
  });
}
