import assert from "node:assert/strict";
import { openAsBlob } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { after, describe, it } from "node:test";
import { openDatabase } from "../../src/server/db/client";
import { librivoxClips, makeTempDir } from "../helpers/fixtures";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";

const clips = librivoxClips();

async function submit(t: TestApp, clipIndex: number, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clips[clipIndex]!.path), headers });
  assert.equal(response.status, 201);
  return ((await response.json()) as { job_id: string }).job_id;
}

describe("operations", () => {
  const apps: TestApp[] = [];
  after(async () => {
    await Promise.all(apps.map((t) => t.close()));
  });

  it("keeps only SM_BATCH_WORKER_MAX_JOB_HISTORY finished jobs, deleting older ones with their media", async () => {
    const t = await startTestApp("sqlite", { PARALLEL: "1", SM_BATCH_WORKER_MAX_JOB_HISTORY: "2" });
    apps.push(t);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await submit(t, i + 1);
      ids.push(id);
      await waitForV2Job(t.baseUrl, id);
    }
    // Pruning runs right after each settle; give it a moment to finish.
    const deadline = Date.now() + 10_000;
    let remaining: string[] = [];
    while (Date.now() < deadline) {
      remaining = ((await (await fetch(`${t.baseUrl}/v2/jobs`)).json()) as { jobs: { id: string }[] }).jobs.map((job) => job.id);
      if (remaining.length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(remaining.sort(), ids.slice(2).sort());
    assert.equal((await fetch(`${t.baseUrl}/v2/jobs/${ids[0]}`)).status, 404);
    const mediaRows = await t.app.database.prisma.mediaFile.count();
    assert.equal(mediaRows, 2, "media of pruned jobs is deleted");
  });

  it("writes every format and the log under --all-formats DIR", async () => {
    const out = await makeTempDir("all-formats-");
    const t = await startTestApp("sqlite", { ALL_FORMATS_DIR: out.dir });
    apps.push(t);
    const id = await submit(t, 0);
    assert.equal((await waitForV2Job(t.baseUrl, id)).status, "DONE");
    const dir = path.join(out.dir, id);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !(await fs.stat(path.join(dir, "job.log")).catch(() => null))) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual((await fs.readdir(dir)).sort(), ["job.log", "transcript.json", "transcript.json-v2.json", "transcript.srt", "transcript.txt", "transcript.vtt"]);
    assert.match(await fs.readFile(path.join(dir, "transcript.srt"), "utf8"), /^1\n00:00:\d\d,\d{3} --> /);
    await out.cleanup();
  });

  it("requires a configured API key as a bearer token on every API, but not on the liveness and readiness probes", async () => {
    const t = await startTestApp("sqlite", { API_KEYS: "secret-1,secret-2" });
    apps.push(t);
    const anonymous = await fetch(`${t.baseUrl}/v2/jobs`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { detail: string }).detail, "Missing Authorization: Bearer <API key> header");
    const wrong = await fetch(`${t.baseUrl}/v2/jobs`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const right = await fetch(`${t.baseUrl}/v2/jobs`, { headers: { authorization: "Bearer secret-2" } });
    assert.equal(right.status, 200);
    assert.equal((await fetch(`${t.baseUrl}/transcribe-jobs`)).status, 401);
    // tRPC answers in its own error shape, so typed clients (the dashboard) can tell a missing key from a failure.
    const trpcAnonymous = await fetch(`${t.baseUrl}/api/trpc/system.capacity`);
    assert.equal(trpcAnonymous.status, 401);
    const trpcError = (await trpcAnonymous.json()) as { error: { json: { message: string; data: { code: string; httpStatus: number } } } };
    assert.equal(trpcError.error.json.message, "Missing Authorization: Bearer <API key> header");
    assert.equal(trpcError.error.json.data.code, "UNAUTHORIZED");
    assert.equal((await fetch(`${t.baseUrl}/api/trpc/system.capacity`, { headers: { authorization: "Bearer secret-1" } })).status, 200);
    assert.equal((await fetch(`${t.baseUrl}/live`)).status, 200);
    // /jobs lists job ids, so it is an API like the others.
    assert.equal((await fetch(`${t.baseUrl}/jobs`)).status, 401);
    assert.equal((await fetch(`${t.baseUrl}/jobs`, { headers: { authorization: "Bearer secret-1" } })).status, 200);
  });

  it("answers the synchronous POST /transcribe-batch with the finished transcript", async () => {
    const t = await startTestApp("sqlite");
    apps.push(t);
    const form = new FormData();
    form.append("file", await openAsBlob(clips[1]!.path), "clip.wav");
    form.append("language_code", "en-GB");
    const response = await fetch(`${t.baseUrl}/transcribe-batch`, { method: "POST", body: form });
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.status, "COMPLETED");
    assert.equal(body.language_code, "en-GB");
    assert.equal(body.media_format, "wav");
    assert.equal(body.media_sample_rate_hz, 16000);
    assert.match(String(body.transcript), /young man/);
    assert.match(String(body.job_name), /^transcribe-[0-9a-f]{20}$/);
  });

  it("uploads through POST /api/uploads for tRPC clients and creates a job over HTTP tRPC", async () => {
    const t = await startTestApp("sqlite");
    apps.push(t);
    const form = new FormData();
    form.append("file", await openAsBlob(clips[2]!.path), "clip.wav");
    const uploaded = await fetch(`${t.baseUrl}/api/uploads`, { method: "POST", body: form });
    assert.equal(uploaded.status, 201);
    const { media } = (await uploaded.json()) as { media: { id: string; durationS: number; sizeBytes: number } };
    assert.ok(media.durationS > 1 && media.sizeBytes > 1000);
    const { createTRPCClient, httpBatchLink } = await import("@trpc/client");
    const superjson = (await import("superjson")).default;
    const client = createTRPCClient<import("../../src/server/api/trpc/root").AppRouter>({ links: [httpBatchLink({ url: `${t.baseUrl}/api/trpc`, transformer: superjson })] });
    const job = await client.jobs.create.mutate({ mediaFileId: media.id });
    assert.equal(job.media?.id, media.id);
    const capacity = await client.system.capacity.query();
    assert.equal(capacity.maxEngines, 2);
  });

  it("puts a running job back in the queue when shutdown is forced", async () => {
    const t = await startTestApp("sqlite", { PARALLEL: "1" });
    apps.push(t);
    const id = await submit(t, 0);
    await t.app.close({ force: true });
    const db = await openDatabase(t.databaseUrl);
    try {
      const job = await db.prisma.job.findUniqueOrThrow({ where: { id }, include: { logs: true } });
      assert.equal(job.status, "QUEUED");
      assert.equal(job.lastError, "The server shut down during this attempt");
      assert.ok(job.logs.some((line) => /will retry: The server shut down/.test(line.message)));
    } finally {
      await db.close();
    }
  });
});
