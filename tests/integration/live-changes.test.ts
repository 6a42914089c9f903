import assert from "node:assert/strict";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import { EventSource } from "eventsource";
import superjson from "superjson";
import type { AppRouter } from "../../src/server/api/trpc/root";
import { createInProcessJobEventBus } from "../../src/server/jobs/job-events";
import { streamJobChanges, type JobChangeBatch } from "../../src/server/services/job-change-stream";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { createTestDatabase } from "../helpers/test-database";
import { toneWav } from "../helpers/wav";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const INSTANT_ENGINE = path.join(ROOT, "bench/instant-engine.ts");
const KEY = "live-key";

/** The typed tRPC client a dashboard or program uses: batched HTTP for calls, server-sent events for subscriptions. */
function client(baseUrl: string, token: string | null) {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({ url: `${baseUrl}/api/trpc`, transformer: superjson, EventSource, connectionParams: token ? { token } : null }),
        false: httpBatchLink({ url: `${baseUrl}/api/trpc`, transformer: superjson, headers: token ? { authorization: `Bearer ${token}` } : {} }),
      }),
    ],
  });
}

/** Subscribes to jobs.changes and resolves with every batch received until `done` says stop. */
function collect(trpc: ReturnType<typeof client>, input: Parameters<ReturnType<typeof client>["jobs"]["changes"]["subscribe"]>[0], done: (seen: JobChangeBatch[]) => boolean) {
  const seen: JobChangeBatch[] = [];
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  const finished = new Promise<JobChangeBatch[]>((resolve, reject) => {
    const subscription = trpc.jobs.changes.subscribe(input, {
      onStarted: () => started(),
      onData: (batch) => {
        seen.push(batch);
        if (done(seen)) {
          subscription.unsubscribe();
          resolve(seen);
        }
      },
      onError: (error) => {
        subscription.unsubscribe();
        reject(error);
      },
    });
  });
  return { ready, finished };
}

const statuses = (seen: JobChangeBatch[], jobId: string) => seen.flatMap((batch) => batch.changes.filter((change) => change.jobId === jobId).map((change) => change.status));

describe("live job changes (tRPC subscription over server-sent events)", () => {
  const apps: TestApp[] = [];
  after(async () => {
    for (const app of apps.reverse()) await app.close();
  });

  it("streams a job's changes to a typed client that sends its key as a connection parameter, and refuses one without", async () => {
    const t = await startTestApp("sqlite", { API_KEYS: KEY, ASR_ENGINE_MODULE: INSTANT_ENGINE });
    apps.push(t);
    const media = await t.app.media.ingest(Readable.from([toneWav({ durationS: 2 })]), { originalName: "tone.wav", contentType: "audio/wav" });
    const trpc = client(t.baseUrl, KEY);

    const anonymous = collect(client(t.baseUrl, null), {}, () => true);
    await assert.rejects(anonymous.finished, (error: unknown) => error instanceof TRPCClientError && error.data?.code === "UNAUTHORIZED");

    // Top-level jobs only: the job's own changes arrive, in order, ending DONE.
    let jobId = "";
    const stream = collect(trpc, { topLevel: true }, (seen) => jobId !== "" && statuses(seen, jobId).includes("DONE"));
    await stream.ready;
    jobId = (await trpc.jobs.create.mutate({ mediaFileId: media.id, language: "en" })).id;
    const seen = await stream.finished;
    const order = statuses(seen, jobId);
    assert.equal(order.at(-1), "DONE");
    assert.ok(order.indexOf("QUEUED") <= order.indexOf("DONE"));
    assert.ok(seen.every((batch) => !batch.resync));
  });

  it("gives a batch's view the batch and its children only, the latest state of each job per message, and a resync when it falls behind", async () => {
    const bus = createInProcessJobEventBus();
    const controller = new AbortController();
    const stream = streamJobChanges(bus, { batchId: "b" }, { signal: controller.signal, windowMs: 20, maxPending: 3 });
    const next = () => stream.next().then((result) => result.value as JobChangeBatch);
    const pending = next();
    bus.publish([
      { type: "changed", jobId: "c1", parentId: "b", status: "RUNNING", progress: 0 },
      { type: "changed", jobId: "other", parentId: null, status: "DONE" },
      { type: "changed", jobId: "c1", parentId: "b", status: "RUNNING", progress: 0.5 },
      { type: "changed", jobId: "b", parentId: null, status: "RUNNING", progress: 0.25 },
      { type: "runnable", lane: "asr", at: 3 },
    ]);
    assert.deepEqual(await pending, {
      resync: false,
      changes: [
        { jobId: "c1", parentId: "b", status: "RUNNING", progress: 0.5 },
        { jobId: "b", parentId: null, status: "RUNNING", progress: 0.25 },
      ],
    });
    const behind = next();
    bus.publish(["c1", "c2", "c3", "c4"].map((jobId) => ({ type: "changed" as const, jobId, parentId: "b", status: "DONE" as const })));
    assert.deepEqual(await behind, { resync: true, changes: [] });
    const afterReconnect = next();
    bus.publish([{ type: "resync" }]);
    assert.deepEqual(await afterReconnect, { resync: true, changes: [] });
    controller.abort();
    assert.equal((await stream.next()).done, true);
  });

  it("reaches a view on one replica when another replica runs the job (PostgreSQL)", async () => {
    const database = await createTestDatabase("postgresql");
    const a = await startTestApp("postgresql", { DATABASE_URL: database.url, ASR_ENGINE_MODULE: INSTANT_ENGINE });
    const b = await startTestApp("postgresql", { DATABASE_URL: database.url, ASR_ENGINE_MODULE: INSTANT_ENGINE, PARALLEL: "1" });
    apps.push({ ...b, close: () => database.drop() }, a, b);
    // A view on B; the job is created through A.
    let jobId = "";
    const stream = collect(client(b.baseUrl, null), {}, (seen) => jobId !== "" && statuses(seen, jobId).includes("DONE"));
    await stream.ready;
    const media = await a.app.media.ingest(Readable.from([toneWav({ durationS: 1 })]), { originalName: "tone.wav", contentType: "audio/wav" });
    jobId = (await client(a.baseUrl, null).jobs.create.mutate({ mediaFileId: media.id, language: "en" })).id;
    const seen = await stream.finished;
    assert.equal(statuses(seen, jobId).at(-1), "DONE");
  });
});
