import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { GATED_ENGINE, REJECT_MARKER } from "../helpers/gated-engine";
import { startTestApp, waitForV2Job, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { toneWav } from "../helpers/wav";

/**
 * The vendor's job details, written from its SDK's types (@speechmatics/batch-client 5.1.0,
 * dist/index.d.ts: JobDetails, JobDetailError, JobConfig, RetrieveJobResponse,
 * RetrieveJobsResponse, DeleteJobResponse). An optional field is absent or of its type:
 * null is not allowed where the SDK does not allow it. Extra fields are allowed (seed 000's
 * request_id, our failure_reason); the SDK ignores them.
 */
const jobDetailErrorSchema = z.object({ timestamp: z.iso.datetime({ offset: true }), message: z.string().min(1) });
const jobConfigSchema = z.looseObject({
  type: z.enum(["alignment", "transcription"]),
  transcription_config: z.looseObject({ language: z.string() }).optional(),
});
const jobDetailsSchema = z.looseObject({
  created_at: z.iso.datetime({ offset: true }),
  data_name: z.string(),
  text_name: z.string().optional(),
  duration: z.number().int().nonnegative().optional(),
  id: z.string().min(1),
  status: z.enum(["running", "done", "rejected", "deleted", "expired"]),
  config: jobConfigSchema.optional(),
  lang: z.string().optional(),
  errors: z.array(jobDetailErrorSchema).optional(),
});
const retrieveJobResponseSchema = z.object({ job: jobDetailsSchema });
const retrieveJobsResponseSchema = z.object({ jobs: z.array(jobDetailsSchema) });

const KEY = "details-key";
const auth = { Authorization: `Bearer ${KEY}` };

async function submit(baseUrl: string, wav: Buffer, name: string, headers: Record<string, string> = auth): Promise<string> {
  const form = new FormData();
  form.append("config", JSON.stringify({ type: "transcription", transcription_config: { language: "en" } }));
  form.append("data_file", new Blob([new Uint8Array(wav)], { type: "audio/wav" }), name);
  const response = await fetch(`${baseUrl}/v2/jobs`, { method: "POST", headers, body: form });
  assert.equal(response.status, 201, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

/** GET /v2/jobs/{id} as a vendor client (bearer token: lowercase statuses) until the job settles. */
async function settled(baseUrl: string, id: string): Promise<z.infer<typeof jobDetailsSchema>> {
  for (;;) {
    const response = await fetch(`${baseUrl}/v2/jobs/${id}`, { headers: auth });
    assert.equal(response.status, 200);
    const { job } = retrieveJobResponseSchema.parse(await response.json());
    if (job.status !== "running") return job;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const provider of TEST_PROVIDERS) {
  describe(`/v2 job details in the vendor's documented shape on ${provider}`, () => {
    let t: TestApp;
    let doneId: string;
    let rejectedId: string;

    before(async () => {
      t = await startTestApp(provider, { API_KEYS: KEY, ASR_ENGINE_MODULE: GATED_ENGINE });
      doneId = await submit(t.baseUrl, toneWav({ durationS: 2.4 }), "tone.wav");
      rejectedId = await submit(t.baseUrl, toneWav({ durationS: 1, comment: REJECT_MARKER }), "refused.wav");
    });
    after(() => t.close());

    it("describes a finished job: whole seconds of duration, its file name, config and language, no errors", async () => {
      const job = await settled(t.baseUrl, doneId);
      assert.equal(job.status, "done");
      assert.equal(job.id, doneId);
      assert.equal(job.data_name, "tone.wav");
      assert.equal(job.duration, 2);
      assert.equal(job.lang, "en");
      assert.deepEqual(job.config, { type: "transcription", transcription_config: { language: "en" } });
      assert.equal(job.errors, undefined);
      assert.ok(!("text_name" in job), "no text file, so no text_name (the SDK types it string, not null)");
    });

    it("describes a rejected job with errors: when and why", async () => {
      const job = await settled(t.baseUrl, rejectedId);
      assert.equal(job.status, "rejected");
      assert.equal(job.errors?.length, 1);
      const [error] = job.errors!;
      assert.match(error!.message, /The test engine rejects this file/);
      assert.ok(Date.parse(error!.timestamp) >= Date.parse(job.created_at));
      assert.equal(job.failure_reason, error!.message);
    });

    it("lists jobs in the same shape", async () => {
      await settled(t.baseUrl, doneId);
      await settled(t.baseUrl, rejectedId);
      const response = await fetch(`${t.baseUrl}/v2/jobs`, { headers: auth });
      assert.equal(response.status, 200);
      const { jobs } = retrieveJobsResponseSchema.parse(await response.json());
      assert.deepEqual(jobs.map((job) => [job.id, job.status]).sort(), [[doneId, "done"], [rejectedId, "rejected"]].sort());
      assert.ok(jobs.find((job) => job.id === rejectedId)?.errors?.length === 1);
    });

    it("answers DELETE with the deleted job in the same shape", async () => {
      await settled(t.baseUrl, rejectedId);
      const response = await fetch(`${t.baseUrl}/v2/jobs/${rejectedId}`, { method: "DELETE", headers: auth });
      assert.equal(response.status, 200);
      const { job } = retrieveJobResponseSchema.parse(await response.json());
      assert.equal(job.status, "deleted");
    });

    it("keeps seed 000's shape for the worker's clients (no bearer token): uppercase status, text_name null, request_id", async () => {
      const { keyless, close } = await keylessApp();
      try {
        const id = await submit(keyless, toneWav({ durationS: 2 }), "worker.wav", {});
        const job = (await waitForV2Job(keyless, id)) as Record<string, unknown>;
        assert.equal(job.status, "DONE");
        assert.equal(job.request_id, id);
        assert.equal(job.duration, 2);
        assert.equal(job.data_name, "worker.wav");
        const { jobs } = (await (await fetch(`${keyless}/v2/jobs`)).json()) as { jobs: Record<string, unknown>[] };
        assert.equal(jobs[0]!.text_name, null);
        assert.equal(jobs[0]!.status, "DONE");
      } finally {
        await close();
      }
    });

    /** Seed 000's clients send no key: an app without API_KEYS, on a database of this provider. */
    async function keylessApp(): Promise<{ keyless: string; close: () => Promise<void> }> {
      const app = await startTestApp(provider, { ASR_ENGINE_MODULE: GATED_ENGINE });
      return { keyless: app.baseUrl, close: () => app.close() };
    }
  });
}
