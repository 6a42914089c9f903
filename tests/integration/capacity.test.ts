import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { librivoxClips } from "../helpers/fixtures";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";

const clip = librivoxClips()[0]!;

describe("engine capacity (2 engines)", () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp("sqlite", { PARALLEL: "2" });
  });
  after(() => t.close());

  const submit = async (engines: number) =>
    fetch(`${t.baseUrl}/v2/jobs`, {
      method: "POST",
      headers: { "X-SM-Processing-Data": JSON.stringify({ parallel_engines: engines }) },
      body: await v2JobForm(clip.path),
    });

  it("reports every engine free and ready when idle", async () => {
    const jobs = (await (await fetch(`${t.baseUrl}/jobs`)).json()) as Record<string, unknown>;
    assert.deepEqual({ active_jobs: jobs.active_jobs, max_engines: jobs.max_engines, unused_engines: jobs.unused_engines }, { active_jobs: [], max_engines: 2, unused_engines: 2 });
    const ready = await fetch(`${t.baseUrl}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, engines_used: 0 });
    const live = await fetch(`${t.baseUrl}/live`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { live: true });
  });

  it("answers 503 with the spec's message when a job asks for more engines than exist", async () => {
    const response = await submit(3);
    assert.equal(response.status, 503);
    const body = (await response.json()) as { detail: string };
    assert.equal(body.detail, "Server busy: 3 engines not available (0 engines in use, 2 parallel allowed)");
  });

  it("reflects a running job's engines in /jobs and /ready, and refuses a job that no longer fits", async () => {
    const response = await submit(2);
    assert.equal(response.status, 201);
    const { job_id: jobId } = (await response.json()) as { job_id: string };

    // Engines are reserved when the job is accepted, so this is deterministic.
    const jobs = (await (await fetch(`${t.baseUrl}/jobs`)).json()) as { active_jobs: unknown[]; unused_engines: number };
    assert.deepEqual(jobs.active_jobs, [{ job_id: jobId, parallel_engines: 2 }]);
    assert.equal(jobs.unused_engines, 0);
    const ready = await fetch(`${t.baseUrl}/ready`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { ready: false, engines_used: 2 });

    const busy = await submit(1);
    assert.equal(busy.status, 503);
    assert.equal(((await busy.json()) as { detail: string }).detail, "Server busy: 1 engines not available (2 engines in use, 2 parallel allowed)");

    const job = await waitForV2Job(t.baseUrl, jobId);
    assert.equal(job.status, "DONE");
    const idle = (await (await fetch(`${t.baseUrl}/jobs`)).json()) as { unused_engines: number };
    assert.equal(idle.unused_engines, 2);
  });

  it("queues instead of refusing on the async API when engines are short", async () => {
    const first = await submit(2);
    assert.equal(first.status, 201);
    const form = new FormData();
    form.append("file", await (await import("node:fs")).openAsBlob(clip.path), "clip.wav");
    const queued = await fetch(`${t.baseUrl}/transcribe-batch-async`, { method: "POST", body: form });
    assert.equal(queued.status, 201);
    const body = (await queued.json()) as { status: string; job_name: string };
    assert.equal(body.status, "QUEUED");
    const deadline = Date.now() + 60_000;
    let status = "";
    while (Date.now() < deadline) {
      status = ((await (await fetch(`${t.baseUrl}/transcribe-job/${body.job_name}`)).json()) as { status: string }).status;
      if (status === "COMPLETED" || status === "FAILED") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, "COMPLETED");
  });
});
