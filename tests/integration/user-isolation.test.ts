import assert from "node:assert/strict";
import { openAsBlob } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";
import superjson from "superjson";
import type { AppRouter } from "../../src/server/api/trpc/root";
import type { JobChangeBatch } from "../../src/server/services/job-change-stream";
import { makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startTestApp, v2JobForm, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const INSTANT_ENGINE = path.join(ROOT, "bench/instant-engine.ts");
const KEYS = { operator: "ops-key", alice: "alice-key", bob: "bob-key" } as const;
type Who = keyof typeof KEYS;

function trpcClient(baseUrl: string, who: Who) {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({ url: `${baseUrl}/api/trpc`, transformer: superjson, EventSource, connectionParams: { token: KEYS[who] } }),
        false: httpBatchLink({ url: `${baseUrl}/api/trpc`, transformer: superjson, headers: { authorization: `Bearer ${KEYS[who]}` } }),
      }),
    ],
  });
}

/** The tRPC error code of a failed call (NOT_FOUND for another user's things). */
async function trpcCode(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof TRPCClientError, `expected a tRPC error, got ${String(error)}`);
    return String((error.data as { code?: string } | undefined)?.code);
  }
  return "OK";
}

for (const provider of TEST_PROVIDERS) {
  describe(`per-user keys and isolation on ${provider}`, () => {
    let t: TestApp;
    let files: TempDir;
    let audio: string;
    const jobOf: Partial<Record<Who, string>> = {};
    let aliceMediaId: string;
    let aliceAsyncName: string;

    const as = (who: Who, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${KEYS[who]}` } });
    const get = (who: Who, url: string) => fetch(`${t.baseUrl}${url}`, as(who));

    async function createV2Job(who: Who, headers: Record<string, string> = {}): Promise<string> {
      const response = await fetch(`${t.baseUrl}/v2/jobs`, as(who, { method: "POST", headers, body: await v2JobForm(audio) }));
      assert.equal(response.status, 201, await response.clone().text());
      const { id } = (await response.json()) as { id: string };
      await waitFor(`job ${id} done`, 30_000, async () => ((await t.app.jobs.get(id)).status === "DONE" ? true : undefined));
      return id;
    }

    before(async () => {
      t = await startTestApp(provider, { API_KEYS: `${KEYS.operator}, ${KEYS.alice}:alice, ${KEYS.bob}:bob`, ASR_ENGINE_MODULE: INSTANT_ENGINE });
      files = await makeTempDir();
      audio = await makeAudio([{ kind: "sine", durationS: 2 }], { dir: files.dir, name: "clip.wav" });
      jobOf.alice = await createV2Job("alice");
      jobOf.bob = await createV2Job("bob");
      // An operator may file a job for a user (seed 000's user_id)...
      jobOf.operator = await createV2Job("operator", { "X-SM-Processing-Data": JSON.stringify({ user_id: "carol" }) });
    });
    after(async () => {
      await t?.close();
      await files?.cleanup();
    });

    it("owns each job by its key's user; a user's user_id is ignored, an operator's honoured", async () => {
      assert.equal((await t.app.jobs.get(jobOf.alice!)).userId, "alice");
      assert.equal((await t.app.jobs.get(jobOf.bob!)).userId, "bob");
      assert.equal((await t.app.jobs.get(jobOf.operator!)).userId, "carol");
      const spoofed = await createV2Job("bob", { "X-SM-Processing-Data": JSON.stringify({ user_id: "alice" }) });
      assert.equal((await t.app.jobs.get(spoofed)).userId, "bob");
    });

    it("v2: another user's job is a 404 on every route; lists hold only one's own; the operator sees all", async () => {
      const id = jobOf.alice!;
      for (const route of [`/v2/jobs/${id}`, `/v2/jobs/${id}/transcript?format=txt`, `/v2/jobs/${id}/log`]) {
        assert.equal((await get("bob", route)).status, 404, route);
        assert.equal((await get("alice", route)).status, 200, route);
        assert.equal((await get("operator", route)).status, 200, route);
      }
      const bobDelete = await fetch(`${t.baseUrl}/v2/jobs/${id}`, as("bob", { method: "DELETE" }));
      assert.equal(bobDelete.status, 404);
      // Not a 403: the answer an unknown id gets, so ids cannot be probed.
      assert.deepEqual(await bobDelete.json(), await (await fetch(`${t.baseUrl}/v2/jobs/nonexistent00000000000`, as("bob", { method: "DELETE" }))).json().then((body: { detail: string }) => ({ ...body, detail: body.detail.replace("nonexistent00000000000", id) })));

      const ids = async (who: Who) => ((await (await get(who, "/v2/jobs")).json()) as { jobs: { id: string }[] }).jobs.map((job) => job.id);
      assert.ok((await ids("alice")).includes(id));
      assert.ok(!(await ids("bob")).includes(id));
      assert.ok(!(await ids("alice")).includes(jobOf.bob!));
      const all = await ids("operator");
      for (const job of Object.values(jobOf)) assert.ok(all.includes(job!), `operator sees ${job}`);
    });

    it("the async API: submit, status and list are per user", async () => {
      const form = new FormData();
      form.append("file", await openAsBlob(audio), "clip.wav");
      const submitted = await fetch(`${t.baseUrl}/transcribe-batch-async`, as("alice", { method: "POST", body: form }));
      assert.equal(submitted.status, 201);
      aliceAsyncName = ((await submitted.json()) as { job_name: string }).job_name;
      assert.equal((await get("bob", `/transcribe-job/${aliceAsyncName}`)).status, 404);
      assert.equal((await get("alice", `/transcribe-job/${aliceAsyncName}`)).status, 200);
      const names = async (who: Who) => ((await (await get(who, "/transcribe-jobs")).json()) as { jobs: { job_name: string }[] }).jobs.map((job) => job.job_name);
      assert.ok((await names("alice")).includes(aliceAsyncName));
      assert.ok(!(await names("bob")).includes(aliceAsyncName));
      assert.ok((await names("operator")).includes(aliceAsyncName));
    });

    it("uploads and media content belong to the uploader", async () => {
      const form = new FormData();
      form.append("file", await openAsBlob(audio), "mine.wav");
      const uploaded = await fetch(`${t.baseUrl}/api/uploads`, as("alice", { method: "POST", body: form }));
      assert.equal(uploaded.status, 201);
      aliceMediaId = ((await uploaded.json()) as { media: { id: string } }).media.id;
      assert.equal((await get("bob", `/api/media/${aliceMediaId}/content`)).status, 404);
      assert.equal((await fetch(`${t.baseUrl}/api/media/${aliceMediaId}/content?access_token=${KEYS.bob}`)).status, 404);
      assert.equal((await get("alice", `/api/media/${aliceMediaId}/content`)).status, 200);
      assert.equal((await fetch(`${t.baseUrl}/api/media/${aliceMediaId}/content?access_token=${KEYS.operator}`)).status, 200);
    });

    it("tRPC: jobs, batches and files of another user are NOT_FOUND, and bob cannot use alice's upload", async () => {
      const alice = trpcClient(t.baseUrl, "alice");
      const bob = trpcClient(t.baseUrl, "bob");
      const operator = trpcClient(t.baseUrl, "operator");
      const id = jobOf.alice!;
      assert.equal(await trpcCode(bob.jobs.get.query({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.transcript.query({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.log.query({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.cancel.mutate({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.retry.mutate({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.delete.mutate({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.saveSubtitles.mutate({ id, srt: "1\n00:00:00,000 --> 00:00:01,000\nhi\n" })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.discardSubtitleEdits.mutate({ id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.createFixSrt.mutate({ sourceJobId: id })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.system.media.query({ id: aliceMediaId })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.create.mutate({ mediaFileId: aliceMediaId })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.createBatch.mutate({ mediaFileIds: [aliceMediaId] })), "NOT_FOUND");
      assert.equal(await trpcCode(bob.jobs.createConvert.mutate({ mediaFileId: aliceMediaId })), "NOT_FOUND");
      assert.equal((await alice.jobs.get.query({ id })).job.id, id);
      assert.equal((await operator.jobs.get.query({ id })).job.id, id);

      // A batch of alice's file is alice's, children included.
      const batch = await alice.jobs.createBatch.mutate({ mediaFileIds: [aliceMediaId] });
      assert.equal(batch.userId, "alice");
      assert.equal(await trpcCode(bob.jobs.get.query({ id: batch.id })), "NOT_FOUND");
      const children = await alice.jobs.list.query({ parentId: batch.id });
      assert.equal(children.jobs.length, 1);
      assert.equal(children.jobs[0]!.userId, "alice");
      assert.deepEqual((await bob.jobs.list.query({ parentId: batch.id })).jobs, []);

      const listed = (await bob.jobs.list.query({ limit: 100 })).jobs.map((job) => job.id);
      assert.ok(listed.includes(jobOf.bob!));
      assert.ok(!listed.includes(id) && !listed.includes(batch.id));
      assert.ok((await operator.jobs.list.query({ limit: 100 })).jobs.some((job) => job.id === batch.id));
    });

    it("tRPC: usage is one's own for a user and everyone's for the operator", async () => {
      const bobUsage = await trpcClient(t.baseUrl, "bob").system.whoami.query();
      assert.deepEqual(bobUsage.principal, { kind: "user", userId: "bob" });
      assert.deepEqual(
        bobUsage.usage.map((row) => row.userId),
        ["bob"],
      );
      assert.ok(bobUsage.usage[0]!.jobs >= 2 && bobUsage.usage[0]!.audioSeconds >= 4 - 1e-6, JSON.stringify(bobUsage.usage));
      const all = await trpcClient(t.baseUrl, "operator").system.whoami.query();
      assert.deepEqual(all.principal, { kind: "operator" });
      const users = all.usage.map((row) => row.userId);
      for (const user of ["alice", "bob", "carol"]) assert.ok(users.includes(user), `${user} in ${JSON.stringify(users)}`);
    });

    it("tRPC live changes: a user hears only their own jobs", async () => {
      const bobSeen: JobChangeBatch[] = [];
      let started!: () => void;
      const ready = new Promise<void>((resolve) => (started = resolve));
      const subscription = trpcClient(t.baseUrl, "bob").jobs.changes.subscribe({}, { onStarted: () => started(), onData: (batch) => bobSeen.push(batch) });
      try {
        await ready;
        const aliceJob = await createV2Job("alice");
        const bobJob = await createV2Job("bob");
        await waitFor("bob hears his job finish", 30_000, () => (bobSeen.some((batch) => batch.changes.some((change) => change.jobId === bobJob && change.status === "DONE")) ? true : undefined));
        assert.ok(!bobSeen.some((batch) => batch.changes.some((change) => change.jobId === aliceJob)), "bob heard of alice's job");
      } finally {
        subscription.unsubscribe();
      }
    });

    it("/jobs shows a user only their own running jobs; a bad key is 401 everywhere", async () => {
      assert.equal((await get("bob", "/jobs")).status, 200);
      for (const route of ["/v2/jobs", "/transcribe-jobs", "/jobs", `/api/media/${aliceMediaId}/content`]) {
        const response = await fetch(`${t.baseUrl}${route}`, { headers: { authorization: "Bearer not-a-key" } });
        assert.equal(response.status, 401, route);
      }
    });
  });
}
